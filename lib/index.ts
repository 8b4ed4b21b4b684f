/**
 * `import { DebugTask } from 'debug-task'`: the construct, for a stack of your own CDK app, and the
 * stack this repository deploys (`npx cdk deploy`). The API's typed client is `debug-task/client`,
 * which loads no CDK code.
 */
export { DebugTask } from './infra/debug-task';
export { DebugTaskStack, STACK_DEFAULTS } from './infra/debug-task-stack';
export type { DebugTaskProps, DebugTaskStackProps, ToolboxPlatform } from './infra/stack-props';
