import { stepHandler } from '../lib/steps/step-handler';
import { sweepHosts, type SweepEvent } from '../lib/steps/sweep';

/** EventBridge schedule: sends the host runner's sweep to every host; see lib/steps/sweep.ts. */
export const handler = stepHandler('sweeper', (event: SweepEvent) => sweepHosts(event));
