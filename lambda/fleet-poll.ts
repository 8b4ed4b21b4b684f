import { pollBatch } from '../lib/steps/fleet-poll';
import { stepHandler } from '../lib/steps/step-handler';

/** Step Functions task "PollBatch" (a service-wide session): see lib/steps/fleet-poll.ts. */
export const handler = stepHandler('fleet-poll', pollBatch);
