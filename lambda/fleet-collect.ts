import { collectFleet } from '../lib/steps/fleet-collect';
import { stepHandler } from '../lib/steps/step-handler';

/** Step Functions task "CollectFleet" (a service-wide session): see lib/steps/fleet-collect.ts. */
export const handler = stepHandler('fleet-collect', collectFleet);
