import { withAudit } from '../lib/audit/audit';
import { launchBatch } from '../lib/steps/launch';
import { stepHandler } from '../lib/steps/step-handler';

/** Step Functions task "Launch" (once per batch of hosts): see lib/steps/launch.ts. */
export const handler = stepHandler('launch', withAudit(launchBatch));
