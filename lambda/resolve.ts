import { resolveTarget } from '../lib/steps/resolve';
import { stepHandler } from '../lib/steps/step-handler';

/** Step Functions task "Resolve": see lib/steps/resolve.ts. */
export const handler = stepHandler('resolve', resolveTarget);
