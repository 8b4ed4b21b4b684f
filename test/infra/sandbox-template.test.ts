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

function taskResources(definition: object): Record<string, string> {
  const states = (definition as { States: Record<string, { Type: string; Resource?: string }> }).States;
  return Object.fromEntries(
    Object.entries(states).flatMap(([name, s]) => (s.Type === 'Task' ? [[name, s.Resource!]] : [])),
  );
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
      ).toEqual(['Resolve', 'Launch', 'Poll', 'Done?', 'Collect']);

      seen.length = 0;
      const busy = await run('dt-busy', { sessionId: 'dt-busy', busy: true });
      expect(busy.status).toBe('FAILED');
      expect(busy.error).toBe('HOST_BUSY');
      expect(fromStepFunctionsFailure(busy.error, busy.cause).message).toBe('i-0abc is busy.');
      expect(seen).toEqual(['resolve', 'launch', 'cleanup']);
    } finally {
      client.destroy();
      await standIn.stop();
    }
  });
});
