import { pollSession } from '../lib/steps/poll';
import { stepHandler } from '../lib/steps/step-handler';

/** Step Functions task "Poll": see lib/steps/poll.ts. */
export const handler = stepHandler('poll', pollSession);
