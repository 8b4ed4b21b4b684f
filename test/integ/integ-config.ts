import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../lib/infra/paths';

/**
 * Names of the integration test's stacks and cluster: fixed, and not those of a user's own
 * deployment (DebugTask, DebugTaskTestbed, debug-task-testbed), so the test can run in an account
 * that already has them. scripts/test-aws.ts prints them before it asks to go on.
 */
export const INTEG_NAMES = {
  debugTaskStack: 'DebugTaskInteg',
  testbedStack: 'DebugTaskIntegTestbed',
  probeStack: 'DebugTaskIntegProbe',
  cluster: 'debug-task-integ',
} as const;

/** The context of cdk.json (its feature flags), which `cdk deploy` of bin/app.ts synthesizes with. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context?: object };
  return { ...cdkJson.context };
}
