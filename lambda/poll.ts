import { pollBatch } from '../lib/steps/poll';
import { stepHandler } from '../lib/steps/step-handler';

/** Step Functions task "Poll" (once per batch of hosts, looped): see lib/steps/poll.ts. */
export const handler = stepHandler('poll', pollBatch);
