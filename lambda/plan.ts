import { withAudit } from '../lib/audit/audit';
import { handleChecksRequest } from '../lib/api/checks';
import { isHttpEvent, type HttpEvent } from '../lib/api/http';
import type { ExecutionInput } from '../lib/domain/session';
import { planSession } from '../lib/steps/plan';
import { stepHandler } from '../lib/steps/step-handler';

const planStep = stepHandler('plan', withAudit(planSession));

/**
 * Step Functions task "Plan" (lib/steps/plan.ts), and the HTTP API route that runs Plan's resolver
 * without starting anything: POST /clusters/{cluster}/tools/{tool}/preview (lib/api/checks.ts). The
 * doctors have a function of their own (lambda/doctor.ts).
 */
export const handler = (event: ExecutionInput | HttpEvent) =>
  isHttpEvent(event) ? handleChecksRequest(event) : planStep(event);
