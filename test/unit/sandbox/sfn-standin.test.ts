import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  InvalidArn,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
  StopExecutionCommand,
  type DescribeExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import { DebugTaskError, fromStepFunctionsFailure, toStepFunctionsError } from '../../../lib/domain/errors';
import { startStepFunctionsStandIn, type StepFunctionsStandIn } from '../../../lib/sandbox/sfn';
import { sandboxFunctionArn } from '../../../lib/sandbox/template';

const REGION = 'xx-test-1';
const arn = (handler: string) => sandboxFunctionArn(handler, REGION);
const lambdaRetry = {
  ErrorEquals: [
    'Lambda.ClientExecutionTimeoutException',
    'Lambda.ServiceException',
    'Lambda.SdkClientException',
  ],
  IntervalSeconds: 2,
  MaxAttempts: 6,
  BackoffRate: 2,
};
const catchAll = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Cleanup' }];

/** The shape CDK synthesizes for our machine (lib/infra/session-state-machine.ts), ARNs resolved. */
const definition = {
  StartAt: 'Resolve',
  States: {
    Resolve: {
      Next: 'Launch',
      Retry: [lambdaRetry],
      Type: 'Task',
      ResultPath: '$.target',
      Resource: arn('resolve'),
    },
    Launch: {
      Next: 'Poll',
      Retry: [lambdaRetry],
      Catch: catchAll,
      Type: 'Task',
      ResultPath: '$.launch',
      Resource: arn('launch'),
    },
    Poll: {
      Next: 'Done?',
      Retry: [lambdaRetry],
      Catch: catchAll,
      Type: 'Task',
      ResultPath: '$.poll',
      Resource: arn('poll'),
    },
    'Done?': {
      Type: 'Choice',
      Choices: [{ Variable: '$.poll.done', BooleanEquals: true, Next: 'Collect' }],
      Default: 'Wait',
    },
    Wait: { Type: 'Wait', SecondsPath: '$.poll.waitSeconds', Next: 'Poll' },
    Collect: {
      End: true,
      Retry: [lambdaRetry],
      Catch: catchAll,
      Type: 'Task',
      ResultPath: '$',
      Resource: arn('collect'),
    },
    Cleanup: { End: true, Retry: [lambdaRetry], Type: 'Task', ResultPath: null, Resource: arn('cleanup') },
  },
  TimeoutSeconds: 600,
};

interface Input {
  sessionId: string;
  scenario?: 'busy' | 'crash' | 'no-task';
  waitSeconds?: number;
  polls?: number;
}

/** Plain handlers steered by the execution input; they record what they were given. */
function handlers() {
  const seen: Record<string, unknown[]> = { resolve: [], launch: [], poll: [], collect: [], cleanup: [] };
  const polls = new Map<string, number>();
  return {
    seen,
    bound: {
      [arn('resolve')]: async (input: Input) => {
        seen.resolve.push(input);
        if (input.scenario === 'no-task') {
          throw toStepFunctionsError(
            new DebugTaskError('TASK_NOT_FOUND', 'There is no task abc in cluster default.'),
          );
        }
        if (input.scenario === 'crash')
          throw new TypeError("Cannot read properties of undefined (reading 'x')");
        return { instanceId: 'i-0abc' };
      },
      [arn('launch')]: async (input: Input) => {
        seen.launch.push(input);
        if (input.scenario === 'busy') {
          throw toStepFunctionsError(
            new DebugTaskError('HOST_BUSY', 'i-0abc already runs 2 debug sessions.'),
          );
        }
        return { commandId: 'cmd-1' };
      },
      [arn('poll')]: async (input: Input) => {
        seen.poll.push(input);
        const count = (polls.get(input.sessionId) ?? 0) + 1;
        polls.set(input.sessionId, count);
        return { done: count >= (input.polls ?? 2), waitSeconds: input.waitSeconds ?? 0 };
      },
      [arn('collect')]: async (input: Input & { target: unknown }) => {
        seen.collect.push(input);
        return { sessionId: input.sessionId, target: input.target, artifact: { bytes: 42 } };
      },
      // As Cleanup does: re-raise the caught error with its original name and body.
      [arn('cleanup')]: async (input: { error: { Error: string; Cause: string } }) => {
        seen.cleanup.push(input);
        throw toStepFunctionsError(fromStepFunctionsFailure(input.error.Error, input.error.Cause));
      },
    },
  };
}

let standIn: StepFunctionsStandIn;
let client: SFNClient;
let seen: ReturnType<typeof handlers>['seen'];

beforeEach(async () => {
  const h = handlers();
  seen = h.seen;
  standIn = await startStepFunctionsStandIn({ definition, handlers: h.bound, region: REGION });
  client = clientFor(standIn);
});

function clientFor(s: StepFunctionsStandIn): SFNClient {
  return new SFNClient({
    endpoint: s.endpoint,
    region: REGION,
    credentials: { accessKeyId: 'AKIATESTFAKE0000000', secretAccessKey: 'fake' },
    maxAttempts: 1,
  });
}

afterEach(async () => {
  client.destroy();
  await standIn.stop();
});

async function start(name: string, input: Input | string) {
  const body = typeof input === 'string' ? input : JSON.stringify(input);
  return client.send(
    new StartExecutionCommand({ stateMachineArn: standIn.stateMachineArn, name, input: body }),
  );
}

async function finished(executionArn: string): Promise<DescribeExecutionCommandOutput> {
  await standIn.settled(executionArn);
  return client.send(new DescribeExecutionCommand({ executionArn }));
}

async function enteredStates(executionArn: string): Promise<string[]> {
  const { events = [] } = await client.send(new GetExecutionHistoryCommand({ executionArn }));
  return events.flatMap((e) => (e.stateEnteredEventDetails?.name ? [e.stateEnteredEventDetails.name] : []));
}

/** Resolves once the execution has entered `state` (Wait states run in real time). */
async function until(executionArn: string, state: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await enteredStates(executionArn)).includes(state)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${executionArn} never entered ${state}`);
}

describe('Step Functions stand-in', () => {
  it('runs the machine to success: output, dates, history of the states entered', async () => {
    const { executionArn, startDate } = await start('dt-ok', { sessionId: 'dt-ok' });
    expect(executionArn).toBe(`arn:aws:states:${REGION}:000000000000:execution:debug-task:dt-ok`);
    expect(startDate).toBeInstanceOf(Date);

    const execution = await finished(executionArn!);
    expect(execution).toMatchObject({
      status: 'SUCCEEDED',
      name: 'dt-ok',
      stateMachineArn: standIn.stateMachineArn,
    });
    // Collect's ResultPath "$" replaces the whole state (the library alone would nest it under "$").
    expect(JSON.parse(execution.output!)).toEqual({
      sessionId: 'dt-ok',
      target: { instanceId: 'i-0abc' },
      artifact: { bytes: 42 },
    });
    expect(JSON.parse(execution.input!)).toEqual({ sessionId: 'dt-ok' });
    expect(execution.stopDate!.getTime()).toBeGreaterThanOrEqual(execution.startDate!.getTime());
    expect(execution.error).toBeUndefined();

    expect(await enteredStates(executionArn!)).toEqual([
      'Resolve',
      'Launch',
      'Poll',
      'Done?',
      'Wait',
      'Poll',
      'Done?',
      'Collect',
    ]);
    // Each task saw the state with the earlier results at their ResultPath.
    expect(seen.poll[1]).toMatchObject({ target: { instanceId: 'i-0abc' }, launch: { commandId: 'cmd-1' } });

    const { events = [] } = await client.send(new GetExecutionHistoryCommand({ executionArn }));
    expect(events.map((e) => e.type).slice(0, 6)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'LambdaFunctionScheduled',
      'LambdaFunctionSucceeded',
      'TaskStateExited',
      'TaskStateEntered',
    ]);
    expect(events.at(-1)).toMatchObject({ type: 'ExecutionSucceeded' });
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    expect(events[1].timestamp).toBeInstanceOf(Date);
  });

  it('carries a thrown error by name through Catch to Cleanup, which re-raises it: FAILED with that error', async () => {
    const { executionArn } = await start('dt-busy', { sessionId: 'dt-busy', scenario: 'busy' });
    const execution = await finished(executionArn!);

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('HOST_BUSY');
    // As real Lambda + Step Functions: the cause is the runtime's error document.
    expect(JSON.parse(execution.cause!)).toMatchObject({
      errorType: 'HOST_BUSY',
      errorMessage: expect.any(String),
    });
    const decoded = fromStepFunctionsFailure(execution.error, execution.cause);
    expect(decoded).toBeInstanceOf(DebugTaskError);
    expect(decoded.code).toBe('HOST_BUSY');
    expect(decoded.message).toBe('i-0abc already runs 2 debug sessions.');

    // Cleanup got the original state plus $.error as Step Functions builds it.
    expect(seen.cleanup).toHaveLength(1);
    const cleanupInput = seen.cleanup[0] as { target: unknown; error: { Error: string; Cause: string } };
    expect(cleanupInput.target).toEqual({ instanceId: 'i-0abc' });
    expect(cleanupInput.error.Error).toBe('HOST_BUSY');
    expect(JSON.parse(cleanupInput.error.Cause).errorType).toBe('HOST_BUSY');
    expect(seen.poll).toHaveLength(0);

    const { events = [] } = await client.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true }),
    );
    expect(events[0]).toMatchObject({
      type: 'ExecutionFailed',
      executionFailedEventDetails: { error: 'HOST_BUSY' },
    });
    expect(
      events.find((e) => e.type === 'LambdaFunctionFailed')?.lambdaFunctionFailedEventDetails?.error,
    ).toBe('HOST_BUSY');
  });

  it('fails the execution with the error of a state without Catch, and keeps foreign error names', async () => {
    const noTask = await finished(
      (await start('dt-no-task', { sessionId: 'dt-no-task', scenario: 'no-task' })).executionArn!,
    );
    expect(noTask.status).toBe('FAILED');
    expect(fromStepFunctionsFailure(noTask.error, noTask.cause).code).toBe('TASK_NOT_FOUND');
    expect(seen.cleanup).toHaveLength(0);

    const crash = await finished(
      (await start('dt-crash', { sessionId: 'dt-crash', scenario: 'crash' })).executionArn!,
    );
    expect(crash.error).toBe('TypeError');
    expect(JSON.parse(crash.cause!)).toMatchObject({
      errorType: 'TypeError',
      errorMessage: "Cannot read properties of undefined (reading 'x')",
    });
  });

  it('matches Catch ErrorEquals on the thrown error name, as AWS does', async () => {
    await standIn.stop();
    const throwing = async () => {
      throw toStepFunctionsError(new DebugTaskError('HOST_BUSY', 'busy'));
    };
    standIn = await startStepFunctionsStandIn({
      region: REGION,
      definition: {
        StartAt: 'Launch',
        States: {
          Launch: {
            Type: 'Task',
            Resource: arn('launch'),
            Catch: [
              { ErrorEquals: ['CANCELLED'], Next: 'WrongCatcher' },
              { ErrorEquals: ['HOST_BUSY'], Next: 'Busy', ResultPath: '$.error' },
              { ErrorEquals: ['States.ALL'], Next: 'WrongCatcher' },
            ],
            End: true,
          },
          Busy: { Type: 'Pass', End: true },
          WrongCatcher: { Type: 'Fail', Error: 'WRONG' },
        },
      },
      handlers: { [arn('launch')]: throwing },
    });
    client.destroy();
    client = clientFor(standIn);
    const execution = await finished((await start('dt-catch', { sessionId: 'dt-catch' })).executionArn!);
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output!).error.Error).toBe('HOST_BUSY');
  });

  it('also binds the lambda:invoke integration (Payload in, Invoke response out)', async () => {
    await standIn.stop();
    standIn = await startStepFunctionsStandIn({
      region: REGION,
      definition: {
        StartAt: 'Launch',
        States: {
          Launch: {
            Type: 'Task',
            Resource: 'arn:aws:states:::lambda:invoke',
            Parameters: { FunctionName: `${arn('launch')}:$LATEST`, 'Payload.$': '$' },
            ResultSelector: { 'result.$': '$.Payload', 'status.$': '$.StatusCode' },
            End: true,
          },
        },
      },
      handlers: { [arn('launch')]: async (input: { n: number }) => ({ doubled: input.n * 2 }) },
    });
    client.destroy();
    client = clientFor(standIn);
    const execution = await finished((await start('dt-invoke', '{"n":21}')).executionArn!);
    expect(JSON.parse(execution.output!)).toEqual({ result: { doubled: 42 }, status: 200 });
  });

  it('runs Wait states in real time', async () => {
    const started = Date.now();
    await finished((await start('dt-wait', { sessionId: 'dt-wait', waitSeconds: 1 })).executionArn!);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('shows the current state in a reversed history page while running', async () => {
    const { executionArn } = await start('dt-phase', { sessionId: 'dt-phase', waitSeconds: 30 });
    await until(executionArn!, 'Wait');

    // What the API does to show the phase.
    const { events = [] } = await client.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 20 }),
    );
    expect(events.find((e) => e.stateEnteredEventDetails?.name)?.stateEnteredEventDetails?.name).toBe('Wait');
    expect((await client.send(new DescribeExecutionCommand({ executionArn }))).status).toBe('RUNNING');

    // Pages: maxResults + nextToken walk the whole history once.
    const ids: number[] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new GetExecutionHistoryCommand({ executionArn, maxResults: 3, nextToken }),
      );
      expect(page.events!.length).toBeLessThanOrEqual(3);
      ids.push(...page.events!.map((e) => e.id!));
      nextToken = page.nextToken;
    } while (nextToken);
    expect(ids).toEqual(ids.map((_, i) => i + 1));
  });

  it('StopExecution aborts a running execution: ABORTED, and no state runs after', async () => {
    const { executionArn } = await start('dt-stop', { sessionId: 'dt-stop', waitSeconds: 30 });
    await until(executionArn!, 'Wait');

    const stopped = await client.send(
      new StopExecutionCommand({ executionArn, error: 'USER', cause: 'cancelled by test' }),
    );
    expect(stopped.stopDate).toBeInstanceOf(Date);
    const execution = await finished(executionArn!);
    expect(execution).toMatchObject({ status: 'ABORTED', error: 'USER', cause: 'cancelled by test' });
    expect(seen.poll).toHaveLength(1);
    expect(seen.cleanup).toHaveLength(0); // as in AWS: StopExecution skips Catch (hence the API's cancel marker)

    const { events = [] } = await client.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true }),
    );
    expect(events[0]).toMatchObject({
      type: 'ExecutionAborted',
      executionAbortedEventDetails: { error: 'USER' },
    });
  });

  it('StartExecution is idempotent for the same name and input while running, ExecutionAlreadyExists otherwise', async () => {
    const input = { sessionId: 'dt-dup', waitSeconds: 30 };
    const first = await start('dt-dup', input);
    const again = await start('dt-dup', input);
    expect(again.executionArn).toBe(first.executionArn);
    expect(again.startDate).toEqual(first.startDate);

    await expect(start('dt-dup', { ...input, waitSeconds: 1 })).rejects.toBeInstanceOf(
      ExecutionAlreadyExists,
    );

    await client.send(new StopExecutionCommand({ executionArn: first.executionArn }));
    await standIn.settled(first.executionArn!);
    // Closed: even the same input is refused (names are unique for 90 days).
    await expect(start('dt-dup', input)).rejects.toBeInstanceOf(ExecutionAlreadyExists);
  });

  it('answers ExecutionDoesNotExist, InvalidArn and StateMachineDoesNotExist as modeled exceptions', async () => {
    const missing = standIn.stateMachineArn.replace(':stateMachine:', ':execution:') + ':dt-nope';
    await expect(client.send(new DescribeExecutionCommand({ executionArn: missing }))).rejects.toBeInstanceOf(
      ExecutionDoesNotExist,
    );
    await expect(client.send(new StopExecutionCommand({ executionArn: missing }))).rejects.toBeInstanceOf(
      ExecutionDoesNotExist,
    );
    await expect(
      client.send(new GetExecutionHistoryCommand({ executionArn: missing })),
    ).rejects.toMatchObject({
      name: 'ExecutionDoesNotExist',
      message: expect.stringContaining('dt-nope'),
    });
    await expect(
      client.send(new DescribeExecutionCommand({ executionArn: 'not-an-arn' })),
    ).rejects.toBeInstanceOf(InvalidArn);
    await expect(
      client.send(
        new StartExecutionCommand({ stateMachineArn: `${standIn.stateMachineArn}-other`, input: '{}' }),
      ),
    ).rejects.toBeInstanceOf(StateMachineDoesNotExist);
  });

  it('ListExecutions lists newest first, filters by status and pages', async () => {
    const names = ['dt-l1', 'dt-l2', 'dt-l3'];
    for (const name of names) await finished((await start(name, { sessionId: name })).executionArn!);
    const running = await start('dt-l4', { sessionId: 'dt-l4', waitSeconds: 30 });

    const all = await client.send(new ListExecutionsCommand({ stateMachineArn: standIn.stateMachineArn }));
    expect(all.executions!.map((e) => e.name)).toEqual(['dt-l4', 'dt-l3', 'dt-l2', 'dt-l1']);
    expect(all.executions![0]).toMatchObject({ status: 'RUNNING', executionArn: running.executionArn });
    expect(all.executions![1].stopDate).toBeInstanceOf(Date);
    expect(all.nextToken).toBeUndefined();

    const active = await client.send(
      new ListExecutionsCommand({ stateMachineArn: standIn.stateMachineArn, statusFilter: 'RUNNING' }),
    );
    expect(active.executions!.map((e) => e.name)).toEqual(['dt-l4']);

    const first = await client.send(
      new ListExecutionsCommand({ stateMachineArn: standIn.stateMachineArn, maxResults: 3 }),
    );
    expect(first.executions!.map((e) => e.name)).toEqual(['dt-l4', 'dt-l3', 'dt-l2']);
    const second = await client.send(
      new ListExecutionsCommand({
        stateMachineArn: standIn.stateMachineArn,
        maxResults: 3,
        nextToken: first.nextToken,
      }),
    );
    expect(second.executions!.map((e) => e.name)).toEqual(['dt-l1']);
    expect(second.nextToken).toBeUndefined();
  });

  it('records every call it answered', async () => {
    await finished((await start('dt-calls', { sessionId: 'dt-calls' })).executionArn!);
    expect(standIn.calls.map((c) => c.action)).toEqual(['StartExecution', 'DescribeExecution']);
    expect(standIn.calls[0].input).toMatchObject({ name: 'dt-calls' });
  });

  it('refuses to start when a Task state has no handler (it would call real Lambda)', async () => {
    const { [arn('poll')]: _poll, ...withoutPoll } = handlers().bound;
    await expect(
      startStepFunctionsStandIn({ definition, handlers: withoutPoll, region: REGION }),
    ).rejects.toThrow(
      /Task state "Poll" invokes arn:aws:lambda:xx-test-1:000000000000:function:debug-task-poll, which has no handler/,
    );
  });

  it('refuses a definition aws-local-stepfunctions finds invalid', async () => {
    await expect(
      startStepFunctionsStandIn({
        definition: { StartAt: 'Nowhere', States: {} },
        handlers: {},
        region: REGION,
      }),
    ).rejects.toThrow(/definition is invalid/);
  });
});
