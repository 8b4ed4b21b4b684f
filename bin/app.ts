#!/usr/bin/env node
/**
 * The CDK app: one `DebugTask` stack, configured by context (see lib/infra/app-context.ts), checked
 * by cdk-nag's AwsSolutions pack on every synth (an unacknowledged finding fails it).
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { stackPropsFromContext } from '../lib/infra/app-context';
import { DebugTaskStack } from '../lib/infra/debug-task-stack';

/** The stack name is a contract: the CLI finds the deployment's outputs by it. */
const STACK_NAME = 'DebugTask';

try {
  const app = new App();
  // cdk-nag 3 is a validation plugin (not an Aspect): it runs after synthesis, on the whole app.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  new DebugTaskStack(app, STACK_NAME, {
    description: 'debug-task: time-boxed tcpdump/ngrep/strace next to an ECS task, via SSM Run Command',
    ...stackPropsFromContext(app.node),
  });
  app.synth();
} catch (error) {
  // A configuration error names the setting and the fix; the stack trace only with `cdk --debug`.
  console.error(process.env.CDK_DEBUG ? error : `debug-task: ${(error as Error).message}`);
  process.exitCode = 1;
}
