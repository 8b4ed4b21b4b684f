#!/usr/bin/env node
/**
 * The CDK app: one `DebugTask` stack, configured by context (see lib/infra/app-context.ts), checked
 * on every synth by cdk-nag's AwsSolutions pack and AWS Guard rules (lib/checks/guard.ts): an
 * unacknowledged finding of either fails it.
 *
 * With `-c testbed=true` it also has the `DebugTaskTestbed` stack (lib/testbed/testbed-stack.ts), a
 * small ECS cluster to try debug-task on: `npx cdk deploy DebugTaskTestbed -c testbed=true`. Without
 * it the testbed is not even synthesized, so `npx cdk deploy` deploys DebugTask alone, as before.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { acknowledgeDebugTaskGuardFindings, guardValidator } from '../lib/checks/guard';
import { stackPropsFromContext } from '../lib/infra/app-context';
import { DebugTaskStack } from '../lib/infra/debug-task-stack';
import { TESTBED_STACK_NAME, TestbedStack, testbedRequested } from '../lib/testbed/testbed-stack';

/** The stack name is a contract: the CLI finds the deployment's outputs by it. */
const STACK_NAME = 'DebugTask';

try {
  const app = new App();
  // cdk-nag 3 and the Guard validator are validation plugins (not Aspects): they run after
  // synthesis, on every template of the app.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), guardValidator());
  const stack = new DebugTaskStack(app, STACK_NAME, {
    description: 'debug-task: time-boxed tcpdump/ngrep/strace next to an ECS task, via SSM Run Command',
    ...stackPropsFromContext(app.node),
  });
  acknowledgeDebugTaskGuardFindings(stack);
  if (testbedRequested(app.node)) {
    new TestbedStack(app, TESTBED_STACK_NAME, {
      description:
        'debug-task testbed: a VPC, an ECS cluster with one instance, a demo service, a Fargate task',
    });
  }
  app.synth();
} catch (error) {
  // A configuration error names the setting and the fix; the stack trace only with `cdk --debug`.
  console.error(process.env.CDK_DEBUG ? error : `debug-task: ${(error as Error).message}`);
  process.exitCode = 1;
}
