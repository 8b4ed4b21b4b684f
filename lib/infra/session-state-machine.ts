import { Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { CfnFunction, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  DefinitionBody,
  Errors,
  JsonPath,
  LogLevel,
  Map as MapState,
  Pass,
  StateMachine,
  StateMachineType,
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { LOG_RETENTION } from './debug-function';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { acknowledge } from './nag';

/** The functions behind the state machine's tasks. */
export interface SessionStepFunctions {
  readonly plan: IFunction;
  readonly launch: IFunction;
  readonly poll: IFunction;
  readonly collect: IFunction;
  readonly cleanup: IFunction;
}

export interface SessionStateMachineProps {
  readonly steps: SessionStepFunctions;
  /** Hard limit of one execution: past it Step Functions stops the session, whatever its state. */
  readonly timeout: Duration;
  /** Most SendCommand batches (of 50 hosts) launched and followed at once. */
  readonly hostConcurrency: number;
  /** The stack's log key (lib/infra/stack-keys.ts): the execution log group is encrypted with it. */
  readonly logKey: IKey;
}

/**
 * The path of every session, one task or a whole service (docs/ARCHITECTURE.md, "The state machine"):
 *
 *   Plan -> Hosts (Map over batches of <= 50 hosts, at most hostConcurrency at once):
 *             Launch -> Poll -> Done? --yes--> BatchEnded
 *                        ^        | no
 *                        +- Wait <+
 *             Launch --catch--> BatchNotSent (that batch's hosts fail; the others go on)
 *        -> Collect
 *   Hosts, Collect --catch--> Cleanup (re-raises)
 *
 * A single task is a plan of one target: one batch of one host. Plan has no catch: nothing has
 * started yet. Poll raises CANCELLED (the cancel marker): it has no catch inside the Map, so the
 * Map fails and Cleanup cleans every host. A re-upload takes the same path (Plan copies its
 * request to `$.plan.reupload`: a Map's ItemSelector cannot pass a path the input may lack).
 *
 * Standard, not Express: a capture outlives Express's 5 minutes and the CLI follows the session
 * with DescribeExecution, which Express does not support.
 *
 * Every task invokes its function directly (`payloadResponseOnly`), so each state's `Resource` is
 * the function's ARN: the sandbox runs this very definition with aws-local-stepfunctions and binds
 * those ARNs to the local handlers. State names are part of that contract.
 */
export class SessionStateMachine extends Construct {
  public readonly stateMachine: StateMachine;

  constructor(scope: Construct, id: string, props: SessionStateMachineProps) {
    super(scope, id);
    const { steps } = props;

    // Retries cover Lambda's own service errors only (LambdaInvoke's default); our handlers raise
    // DebugTaskErrors that must reach Cleanup at once, never be retried blindly.
    const task = (name: string, fn: IFunction, resultPath: string) =>
      new LambdaInvoke(this, name, { lambdaFunction: fn, payloadResponseOnly: true, resultPath });

    const plan = task('Plan', steps.plan, '$.plan');
    const launch = task('Launch', steps.launch, '$.command');
    const poll = task('Poll', steps.poll, '$.poll');
    // Collect's return value is the whole execution output (SessionResult).
    const collect = task('Collect', steps.collect, JsonPath.entirePayload);
    // Cleanup re-raises the error it was given, so the execution ends FAILED with that error; its
    // result is discarded so that, should it ever return, the output still carries $.error.
    const cleanup = task('Cleanup', steps.cleanup, JsonPath.DISCARD);

    // A batch that could not be sent is reported per host by Collect; the other batches go on.
    const notSent = new Pass(this, 'BatchNotSent', {
      parameters: { 'batch.$': '$.batch.batch', 'error.$': '$.error' },
    });
    launch.addCatch(notSent, { errors: [Errors.ALL], resultPath: '$.error' });
    const ended = new Pass(this, 'BatchEnded', { parameters: { 'batch.$': '$.batch.batch' } });
    const wait = new Wait(this, 'Wait', { time: WaitTime.secondsPath('$.poll.waitSeconds') });
    const batch = launch
      .next(poll)
      .next(
        new Choice(this, 'Done?')
          .when(Condition.booleanEquals('$.poll.done', true), ended)
          .otherwise(wait.next(poll)),
      );

    const hosts = new MapState(this, 'Hosts', {
      itemsPath: '$.plan.batches',
      maxConcurrency: props.hostConcurrency,
      // Each iteration gets the request and the plan summary, and its own batch.
      itemSelector: {
        'sessionId.$': '$.sessionId',
        'spec.$': '$.spec',
        'caller.$': '$.caller',
        'requestedAt.$': '$.requestedAt',
        'plan.$': '$.plan',
        'batch.$': '$$.Map.Item.Value',
      },
      resultPath: '$.batchResults',
    }).itemProcessor(batch);
    hosts.addCatch(cleanup, { errors: [Errors.ALL], resultPath: '$.error' });
    collect.addCatch(cleanup, { errors: [Errors.ALL], resultPath: '$.error' });
    const definition = plan.next(hosts).next(collect);

    // The /aws/vendedlogs/ prefix keeps Step Functions from growing the account-wide CloudWatch Logs
    // resource policy (5,120 characters) with one entry per log group. The stack's UUID in the name
    // lets a deleted stack's retained group coexist with the group of the stack that replaces it.
    const stack = Stack.of(this);
    const stackUuid = Fn.select(2, Fn.split('/', stack.stackId));
    const logGroup = new LogGroup(this, 'Logs', {
      logGroupName: `/aws/vendedlogs/states/${stack.stackName}-sessions-${stackUuid}`,
      retention: LOG_RETENTION,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.stateMachine = new StateMachine(this, 'Resource', {
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromChainable(definition),
      timeout: props.timeout,
      // ALL, with data: a session is a few dozen events, so full logs cost next to nothing, Logs
      // Insights can search them across sessions (history is per execution), and ERROR alone would
      // drop the inputs that explain a failure. The state holds no secret: the presigned upload URL
      // goes straight from launch into SendCommand and is never returned.
      logs: { destination: logGroup, level: LogLevel.ALL, includeExecutionData: true },
      // X-Ray shows where a slow session spent its time (image pull vs capture vs upload).
      tracingEnabled: true,
    });

    this.acknowledgeRolePolicy(steps);
  }

  private acknowledgeRolePolicy(steps: SessionStepFunctions): void {
    const stack = Stack.of(this);
    // LambdaInvoke grants `<function ARN>` and `<function ARN>:*` (its versions and aliases).
    const versionGrants = Object.values(steps).map((fn: IFunction) => {
      const logicalId = stack.resolve((fn.node.defaultChild as CfnFunction).logicalId) as string;
      return `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>:*]`;
    });
    acknowledge(
      this.stateMachine,
      "Added by LambdaInvoke: '<function ARN>:*' covers the function's versions and aliases, and each " +
        'resource names one of our own functions.',
      ...versionGrants,
    );
    acknowledge(
      this.stateMachine,
      'Log delivery (logs:CreateLogDelivery, logs:DescribeResourcePolicies, ...) and X-Ray ' +
        '(xray:PutTraceSegments, ...) have no resource-level permissions: AWS requires Resource "*".',
      'AwsSolutions-IAM5[Resource::*]',
    );
  }
}
