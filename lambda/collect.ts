import { withAudit } from '../lib/audit/audit';
import { collectSession } from '../lib/steps/collect';
import { stepHandler } from '../lib/steps/step-handler';

/** Step Functions task "Collect": see lib/steps/collect.ts. */
export const handler = stepHandler('collect', withAudit(collectSession));
