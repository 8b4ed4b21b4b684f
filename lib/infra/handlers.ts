/**
 * The handlers of `lambda/`: each name is the function's construct id, its entry `lambda/<name>.ts`,
 * and the `debug-task:handler` metadata the local sandbox binds it by. No CDK import here: the
 * sandbox reads this list at run time without loading aws-cdk-lib.
 */
export const HANDLER_NAMES = [
  'api',
  'plan',
  'launch',
  'poll',
  'collect',
  'cleanup',
  'sweeper',
  'doctor',
] as const;

export type HandlerName = (typeof HANDLER_NAMES)[number];

/**
 * CloudFormation metadata key on each `AWS::Lambda::Function`: the local sandbox binds the state
 * machine's task ARNs and the API to local handlers by it, not by logical id.
 */
export const HANDLER_METADATA_KEY = 'debug-task:handler';
