import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { StateMachine } from 'aws-local-stepfunctions';
import { DebugTaskError, fromStepFunctionsFailure, toStepFunctionsError } from '../../lib/domain/errors';
import { startStepFunctionsStandIn, type TaskHandler } from '../../lib/sandbox/sfn';
import {
  commandDocument,
  HANDLER_NAMES,
  sandboxFunctionArn,
  stateMachineDefinition,
  synthesizeTemplate,
  type CfnTemplate,
} from '../../lib/sandbox/template';

const REGION = 'xx-test-1';

let template: CfnTemplate;

beforeAll(() => {
  // The real stack, synthesized in-process as the sandbox does it (no bundling). A pinned toolbox
  // image spares the Docker asset, which plays no part in what the sandbox reads.
  template = synthesizeTemplate({
    toolboxImage: `123456789012.dkr.ecr.xx-test-1.amazonaws.com/toolbox@sha256:${'0'.repeat(64)}`,
  });
}, 120_000);

/** Every Task state's Resource, those of a Map's ItemProcessor included. */
function taskResources(definition: object): Record<string, string> {
  type State = { Type: string; Resource?: string; ItemProcessor?: { States: Record<string, State> } };
  const walk = (states: Record<string, State>): [string, string][] =>
    Object.entries(states).flatMap(([name, s]): [string, string][] => [
      ...(s.Type === 'Task' ? [[name, s.Resource!] as [string, string]] : []),
      ...(s.ItemProcessor ? walk(s.ItemProcessor.States) : []),
    ]);
  return Object.fromEntries(walk((definition as { States: Record<string, State> }).States));
}

describe('the synthesized template, as the sandbox reads it', () => {
  it('yields a definition aws-local-stepfunctions accepts, each Task invoking one of the handlers', () => {
    const { definition, functionArns } = stateMachineDefinition(template, { region: REGION });

    expect(
      () => new StateMachine(definition as unknown as ConstructorParameters<typeof StateMachine>[0]),
    ).not.toThrow();
    expect(Object.keys(functionArns).sort()).toEqual([...HANDLER_NAMES].sort());
    for (const name of HANDLER_NAMES) expect(functionArns[name]).toBe(sandboxFunctionArn(name, REGION));

    // Each step function is invoked directly by the state of its name (the binding contract).
    const resources = taskResources(definition);
    expect(resources).toEqual({
      Resolve: functionArns.resolve,
      Launch: functionArns.launch,
      Poll: functionArns.poll,
      Collect: functionArns.collect,
      Cleanup: functionArns.cleanup,
      FleetPlan: functionArns['fleet-plan'],
      LaunchBatch: functionArns['fleet-launch'],
      PollBatch: functionArns['fleet-poll'],
      CollectFleet: functionArns['fleet-collect'],
      CleanupFleet: functionArns['fleet-cleanup'],
    });
  });

  it('returns the SSM command document with its runDebugTask step', () => {
    const { name, content } = commandDocument(template, { region: REGION });
    expect(name).toBe('debug-task-runner'); // CloudFormation names it in AWS; the sandbox picks a name
    expect(content.schemaVersion).toBe('2.2');
    expect(content.mainSteps.map((s) => s.name)).toContain('runDebugTask');
    expect(JSON.stringify(content)).not.toMatch(/"(Ref|Fn::[A-Za-z]+)"/); // no token left
  });
});

describe('the synthesized definition on the Step Functions stand-in', () => {
  /** Stub steps steered by the input: the real definition's paths, without AWS behind them. */
  function stubs(seen: string[]): Record<string, TaskHandler> {
    const step = (name: string, run: (input: Record<string, unknown>) => unknown): [string, TaskHandler] => [
      sandboxFunctionArn(name, REGION),
      async (input: Record<string, unknown>) => {
        seen.push(name);
        return run(input);
      },
    ];
    return Object.fromEntries([
      step('resolve', () => ({ instanceId: 'i-0abc' })),
      step('launch', (input) => {
        if (input.busy) throw toStepFunctionsError(new DebugTaskError('HOST_BUSY', 'i-0abc is busy.'));
        return { commandId: 'cmd-1' };
      }),
      step('poll', () => ({ done: true, waitSeconds: 0 })),
      step('collect', (input) => ({ sessionId: input.sessionId, artifact: { bytes: 1 } })),
      step('cleanup', (input) => {
        const error = input.error as { Error: string; Cause: string };
        throw toStepFunctionsError(fromStepFunctionsFailure(error.Error, error.Cause));
      }),
      // A service target: two batches; batch 1 cannot be sent unless `sendAll`; `cancel` fails a poll.
      step('fleet-plan', () => ({
        batches: [
          { batch: 0, instanceIds: ['i-0a'] },
          { batch: 1, instanceIds: ['i-0b', 'i-0c'] },
        ],
      })),
      step('fleet-launch', (input) => {
        const batch = input.batch as { batch: number; instanceIds: string[] };
        // ItemSelector: the request, the plan summary and this iteration's batch, nothing else.
        expect(Object.keys(input).sort()).toEqual([
          'batch',
          'caller',
          'fleet',
          'requestedAt',
          'sessionId',
          'spec',
        ]);
        if (batch.batch === 1)
          throw toStepFunctionsError(new DebugTaskError('SSM_AGENT_OFFLINE', 'i-0b is offline.'));
        return { commandId: `cmd-${batch.batch}` };
      }),
      step('fleet-poll', (input) => {
        if ((input.spec as { cancel?: boolean }).cancel) {
          throw toStepFunctionsError(new DebugTaskError('CANCELLED', 'cancelled'));
        }
        const polls = ((input.poll as { n?: number } | undefined)?.n ?? 0) + 1;
        return { done: polls >= 2, waitSeconds: 1, n: polls };
      }),
      step('fleet-collect', (input) => ({ kind: 'fleet', batchResults: input.batchResults })),
      step('fleet-cleanup', (input) => {
        const error = input.error as { Error: string; Cause: string };
        expect(input.fleet).toBeDefined();
        throw toStepFunctionsError(fromStepFunctionsFailure(error.Error, error.Cause));
      }),
    ]);
  }

  it('runs to success with Collect’s result as the whole output, and fails through Cleanup', async () => {
    const { definition } = stateMachineDefinition(template, { region: REGION });
    const seen: string[] = [];
    const standIn = await startStepFunctionsStandIn({ definition, handlers: stubs(seen), region: REGION });
    const client = new SFNClient({
      endpoint: standIn.endpoint,
      region: REGION,
      credentials: { accessKeyId: 'AKIATESTFAKE0000000', secretAccessKey: 'fake' },
    });
    try {
      const run = async (name: string, input: object) => {
        const { executionArn } = await client.send(
          new StartExecutionCommand({
            stateMachineArn: standIn.stateMachineArn,
            name,
            input: JSON.stringify(input),
          }),
        );
        await standIn.settled(executionArn!);
        return client.send(new DescribeExecutionCommand({ executionArn }));
      };

      const ok = await run('dt-ok', { sessionId: 'dt-ok' });
      expect(ok.status).toBe('SUCCEEDED');
      expect(JSON.parse(ok.output!)).toEqual({ sessionId: 'dt-ok', artifact: { bytes: 1 } });
      expect(seen).toEqual(['resolve', 'launch', 'poll', 'collect']);
      const { events = [] } = await client.send(
        new GetExecutionHistoryCommand({ executionArn: ok.executionArn }),
      );
      expect(
        events.filter((e) => e.stateEnteredEventDetails).map((e) => e.stateEnteredEventDetails!.name),
      ).toEqual(['Service?', 'Resolve', 'Launch', 'Poll', 'Done?', 'Collect']);

      seen.length = 0;
      const busy = await run('dt-busy', { sessionId: 'dt-busy', busy: true });
      expect(busy.status).toBe('FAILED');
      expect(busy.error).toBe('HOST_BUSY');
      expect(fromStepFunctionsFailure(busy.error, busy.cause).message).toBe('i-0abc is busy.');
      expect(seen).toEqual(['resolve', 'launch', 'cleanup']);

      // A service target takes the fleet branch: each batch on its own, a batch not sent is reported
      // (not fatal), and the Map's results reach CollectFleet in batch order.
      seen.length = 0;
      const fleetInput = { caller: 'arn:aws:iam::000000000000:user/a', requestedAt: '2026-11-25T00:00:00Z' };
      const fleet = await run('dt-fleet', {
        ...fleetInput,
        sessionId: 'dt-fleet',
        spec: { target: { service: 'web' } },
      });
      expect([fleet.error, fleet.cause]).toEqual([undefined, undefined]);
      expect(fleet.status).toBe('SUCCEEDED');
      const output = JSON.parse(fleet.output!) as {
        batchResults: { batch: number; error?: { Error: string } }[];
      };
      expect(output.batchResults.map((b) => [b.batch, b.error?.Error])).toEqual([
        [0, undefined],
        [1, 'SSM_AGENT_OFFLINE'],
      ]);
      expect(seen.filter((s) => s === 'fleet-poll')).toHaveLength(2);
      expect(seen[0]).toBe('fleet-plan');
      expect(seen.at(-1)).toBe('fleet-collect');

      // A cancel seen by a batch's poll fails the Map: CleanupFleet runs, then the execution fails.
      seen.length = 0;
      const cancelled = await run('dt-fleet-cancel', {
        ...fleetInput,
        sessionId: 'dt-fleet-cancel',
        spec: { target: { service: 'web' }, cancel: true },
      });
      expect(cancelled.status).toBe('FAILED');
      expect(cancelled.error).toBe('CANCELLED');
      expect(seen).toContain('fleet-cleanup');
      expect(seen).not.toContain('fleet-collect');
    } finally {
      client.destroy();
      await standIn.stop();
    }
  });
});
