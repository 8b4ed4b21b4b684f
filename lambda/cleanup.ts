import { withAudit } from '../lib/audit/audit';
import { cleanupSession } from '../lib/steps/cleanup';
import { stepHandler } from '../lib/steps/step-handler';

/** Step Functions task "Cleanup": see lib/steps/cleanup.ts. */
export const handler = stepHandler('cleanup', withAudit(cleanupSession));
