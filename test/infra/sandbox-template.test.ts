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
  apiRouteHandlers,
  apiRouteKeys,
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
    // As the sandbox synthesizes it: its document admits the loopback S3 stand-in and local image.
    sandboxHost: {
      s3Endpoint: 'http://127.0.0.1:4566',
      bucket: 'debug-task-sandbox',
      toolboxImage: 'debug-task-toolbox:local',
    },
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
      Plan: functionArns.plan,
      Launch: functionArns.launch,
      Poll: functionArns.poll,
      Collect: functionArns.collect,
      Cleanup: functionArns.cleanup,
    });
  });

  it("binds each route of the stack's API to the function its integration names: preview to plan, both doctors to doctor", () => {
    const handlers = apiRouteHandlers(template);

    expect(Object.keys(handlers).sort()).toEqual([...apiRouteKeys(template)].sort());
    expect(handlers).toEqual({
      'POST /clusters/{cluster}/tools/{tool}/sessions': 'api',
      'GET /sessions': 'api',
      'GET /clusters/{cluster}/sessions': 'api',
      'GET /clusters/{cluster}/sessions/{id}': 'api',
      'GET /clusters/{cluster}/sessions/{id}/chunks': 'api',
      'DELETE /clusters/{cluster}/sessions/{id}': 'api',
      'POST /clusters/{cluster}/sessions/{id}/stop': 'api',
      'POST /clusters/{cluster}/sessions/{id}/reupload': 'api',
      'GET /clusters/{cluster}/sessions/{id}/reupload/{reuploadId}': 'api',
      'POST /clusters/{cluster}/tools/{tool}/preview': 'plan',
      'POST /clusters/{cluster}/doctor': 'doctor',
      'POST /doctor': 'doctor',
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
  interface Seen {
    step: string;
    input: Record<string, unknown>;
  }

  /**
   * Stub steps steered by the input: the real definition's paths, without AWS behind them. The
   * request's `spec.target.service` makes a plan of two batches (else one); `spec.notSent` fails
   * batch 1's Launch; `spec.cancel` fails every Poll with CANCELLED; `spec.collectFails` fails Collect;
   * `spec.planFails` fails Plan.
   */
  function stubs(seen: Seen[]): Record<string, TaskHandler> {
    const step = (name: string, run: (input: Record<string, unknown>) => unknown): [string, TaskHandler] => [
      sandboxFunctionArn(name, REGION),
      async (input: Record<string, unknown>) => {
        seen.push({ step: name, input });
        return run(input);
      },
    ];
    const spec = (input: Record<string, unknown>) =>
      input.spec as Record<string, unknown> & { target: { service?: string } };
    const fail = (
      code: 'HOST_BUSY' | 'SSM_AGENT_OFFLINE' | 'CANCELLED' | 'TASK_NOT_RUNNING',
      message: string,
    ) => {
      throw toStepFunctionsError(new DebugTaskError(code, message));
    };
    return Object.fromEntries([
      step('plan', (input) => {
        if (spec(input).planFails) fail('TASK_NOT_RUNNING', 'The task has stopped.');
        const batches = spec(input).target.service
          ? [
              { batch: 0, instanceIds: ['i-0a'] },
              { batch: 1, instanceIds: ['i-0b', 'i-0c'] },
            ]
          : [{ batch: 0, instanceIds: ['i-0a'] }];
        return {
          kind: spec(input).target.service ? 'service' : 'task',
          batches,
          ...(input.reupload ? { reupload: input.reupload } : {}),
        };
      }),
      step('launch', (input) => {
        const b = input.batch as { batch: number };
        if (spec(input).notSent && b.batch === 1) fail('SSM_AGENT_OFFLINE', 'i-0b is offline.');
        return { commandId: `cmd-${b.batch}`, sentAt: '2026-11-25T00:00:00Z' };
      }),
      step('poll', (input) => {
        if (spec(input).cancel) fail('CANCELLED', 'cancelled');
        const polls = ((input.poll as { n?: number } | undefined)?.n ?? 0) + 1;
        return { done: polls >= 2, waitSeconds: 1, ended: 0, n: polls };
      }),
      step('collect', (input) => {
        if (spec(input).collectFails) fail('HOST_BUSY', 'i-0a is busy.');
        return { sessionId: input.sessionId, batchResults: input.batchResults };
      }),
      step('cleanup', (input) => {
        const error = input.error as { Error: string; Cause: string };
        throw toStepFunctionsError(fromStepFunctionsFailure(error.Error, error.Cause));
      }),
    ]);
  }

  const request = (sessionId: string, spec: Record<string, unknown> = {}) => ({
    sessionId,
    caller: 'arn:aws:iam::000000000000:user/a',
    requestedAt: '2026-11-25T00:00:00Z',
    spec: { target: { task: 't' }, ...spec },
  });

  it('runs every session through Plan, the Map of batches and Collect, and fails through Cleanup', async () => {
    const { definition } = stateMachineDefinition(template, { region: REGION });
    const seen: Seen[] = [];
    const standIn = await startStepFunctionsStandIn({ definition, handlers: stubs(seen), region: REGION });
    const client = new SFNClient({
      endpoint: standIn.endpoint,
      region: REGION,
      credentials: { accessKeyId: 'AKIATESTFAKE0000000', secretAccessKey: 'fake' },
    });
    const steps = () => seen.map((s) => s.step);
    const inputOf = (name: string) => seen.find((s) => s.step === name)?.input ?? {};
    try {
      const run = async (input: { sessionId: string } & Record<string, unknown>) => {
        seen.length = 0;
        const { executionArn } = await client.send(
          new StartExecutionCommand({
            stateMachineArn: standIn.stateMachineArn,
            name: input.sessionId,
            input: JSON.stringify(input),
          }),
        );
        await standIn.settled(executionArn!);
        return client.send(new DescribeExecutionCommand({ executionArn }));
      };

      // One task: a plan of one batch; Poll loops through Wait once; Collect's result is the output.
      const ok = await run(request('dt-ok'));
      expect([ok.status, ok.error]).toEqual(['SUCCEEDED', undefined]);
      expect(JSON.parse(ok.output!)).toEqual({ sessionId: 'dt-ok', batchResults: [{ batch: 0 }] });
      expect(steps()).toEqual(['plan', 'launch', 'poll', 'poll', 'collect']);
      const { events = [] } = await client.send(
        new GetExecutionHistoryCommand({ executionArn: ok.executionArn }),
      );
      expect(
        events.filter((e) => e.stateEnteredEventDetails).map((e) => e.stateEnteredEventDetails!.name),
      ).toEqual([
        'Plan',
        'Hosts',
        'Launch',
        'Poll',
        'Done?',
        'Wait',
        'Poll',
        'Done?',
        'BatchEnded',
        'Collect',
      ]);
      // ItemSelector: each iteration gets the request, the plan summary and its batch, nothing else.
      expect(Object.keys(inputOf('launch')).sort()).toEqual([
        'batch',
        'caller',
        'plan',
        'requestedAt',
        'sessionId',
        'spec',
      ]);
      expect(inputOf('collect')).toMatchObject({ plan: { kind: 'task' }, batchResults: [{ batch: 0 }] });

      // A service: each batch on its own; a batch not sent is reported, not fatal, and the Map's
      // results reach Collect in batch order.
      const service = await run(request('dt-service', { target: { service: 'web' }, notSent: true }));
      expect([service.status, service.error]).toEqual(['SUCCEEDED', undefined]);
      const output = JSON.parse(service.output!) as {
        batchResults: { batch: number; error?: { Error: string; Cause: string } }[];
      };
      expect(output.batchResults.map((b) => [b.batch, b.error?.Error])).toEqual([
        [0, undefined],
        [1, 'SSM_AGENT_OFFLINE'],
      ]);
      expect(
        fromStepFunctionsFailure(output.batchResults[1].error!.Error, output.batchResults[1].error!.Cause)
          .message,
      ).toBe('i-0b is offline.');
      expect(steps().filter((s) => s === 'launch')).toHaveLength(2);
      expect(steps().filter((s) => s === 'poll')).toHaveLength(2);
      expect(steps().at(-1)).toBe('collect');

      // A cancel seen by a poll fails the Map: Cleanup gets the plan and the error, the execution fails with it.
      const cancelled = await run(request('dt-cancel', { target: { service: 'web' }, cancel: true }));
      expect([cancelled.status, cancelled.error]).toEqual(['FAILED', 'CANCELLED']);
      expect(steps()).toContain('cleanup');
      expect(steps()).not.toContain('collect');
      expect(inputOf('cleanup')).toMatchObject({
        sessionId: 'dt-cancel',
        plan: { kind: 'service' },
        error: { Error: 'CANCELLED' },
      });

      // Collect's own failure (a one-task session whose child failed) goes through Cleanup too.
      const busy = await run(request('dt-busy', { collectFails: true }));
      expect([busy.status, busy.error]).toEqual(['FAILED', 'HOST_BUSY']);
      expect(fromStepFunctionsFailure(busy.error, busy.cause).message).toBe('i-0a is busy.');
      expect(steps().slice(-2)).toEqual(['collect', 'cleanup']);

      // Plan's failure ends the execution at once: nothing to clean up.
      const stopped = await run(request('dt-stopped', { planFails: true }));
      expect([stopped.status, stopped.error]).toEqual(['FAILED', 'TASK_NOT_RUNNING']);
      expect(steps()).toEqual(['plan']);

      // A re-upload takes the same path; its request reaches the iterations through the plan.
      const reupload = await run({
        ...request('dt-ok-r1'),
        reupload: { id: 'r1', children: ['dt-ok-0000'] },
      });
      expect(reupload.status).toBe('SUCCEEDED');
      expect(inputOf('launch')).toMatchObject({ plan: { reupload: { id: 'r1' } } });
      expect(inputOf('collect')).toMatchObject({ reupload: { id: 'r1' } });
    } finally {
      client.destroy();
      await standIn.stop();
    }
  }, 60_000);
});
