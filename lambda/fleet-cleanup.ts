import { cleanupFleet } from '../lib/steps/fleet-cleanup';
import { stepHandler } from '../lib/steps/step-handler';

/** Step Functions task "CleanupFleet" (a service-wide session): see lib/steps/fleet-cleanup.ts. */
export const handler = stepHandler('fleet-cleanup', cleanupFleet);
