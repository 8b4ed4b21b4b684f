import { launchSession } from '../lib/steps/launch';
import { stepHandler } from '../lib/steps/step-handler';

/** Step Functions task "Launch": see lib/steps/launch.ts. */
export const handler = stepHandler('launch', launchSession);
