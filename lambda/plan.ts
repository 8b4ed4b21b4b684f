import { withAudit } from '../lib/audit/audit';
import { handleChecksRequest } from '../lib/api/checks';
import { isHttpEvent, type HttpEvent } from '../lib/api/http';
import type { ExecutionInput } from '../lib/domain/session';
import { planSession } from '../lib/steps/plan';
import { stepHandler } from '../lib/steps/step-handler';

const planStep = stepHandler('plan', withAudit(planSession));

/**
 * Step Functions task "Plan" (lib/steps/plan.ts), and the HTTP API routes that run Plan's checks
 * without starting anything: POST /sessions/preview, POST /doctor (lib/api/checks.ts).
 */
export const handler = (event: ExecutionInput | HttpEvent) =>
  isHttpEvent(event) ? handleChecksRequest(event) : planStep(event);
