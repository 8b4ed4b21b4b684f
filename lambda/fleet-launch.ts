import { launchBatch } from '../lib/steps/fleet-launch';
import { stepHandler } from '../lib/steps/step-handler';

/** Step Functions task "LaunchBatch" (a service-wide session): see lib/steps/fleet-launch.ts. */
export const handler = stepHandler('fleet-launch', launchBatch);
