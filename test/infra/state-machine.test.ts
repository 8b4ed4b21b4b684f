import { Match } from 'aws-cdk-lib/assertions';
import { PINNED_IMAGE, functionsByHandler, stateMachineDefinition, synth } from './helpers';

const { template } = synth({
  toolboxImage: PINNED_IMAGE,
  maxDurationSeconds: 600,
  maxRingSeconds: 1800,
  graceSeconds: 45,
  fleetConcurrency: 7,
});
const definition = stateMachineDefinition(template);
const functions = functionsByHandler(template);
const arnOf = (handler: string) => `<${functions[handler].logicalId}.Arn>`;

type States = Record<string, Record<string, unknown>>;
const hosts = definition.States.Hosts as Record<string, unknown> & {
  ItemProcessor: { StartAt: string; States: States };
};
const batch = hosts.ItemProcessor.States;

const catchTo = (next: string) => [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: next }];
const lambdaServiceErrors = [
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
];

describe('session state machine (one path for a task and a service)', () => {
  it('is a Standard workflow', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineType: 'STANDARD' });
  });

  it('has exactly Plan -> Hosts -> Collect, and Cleanup, at the top', () => {
    expect(definition.StartAt).toBe('Plan');
    expect(Object.keys(definition.States).sort()).toEqual(['Cleanup', 'Collect', 'Hosts', 'Plan']);
    expect(definition.States.Plan).toMatchObject({ Next: 'Hosts' });
    expect(definition.States.Hosts).toMatchObject({ Next: 'Collect' });
  });

  it('invokes each step function directly by the state of its name, storing its result at its path', () => {
    const tasks: [States, string, string, string][] = [
      [definition.States, 'Plan', 'plan', '$.plan'],
      [batch, 'Launch', 'launch', '$.command'],
      [batch, 'Poll', 'poll', '$.poll'],
      [definition.States, 'Collect', 'collect', '$'],
    ];
    for (const [states, state, handler, resultPath] of tasks) {
      expect(states[state]).toMatchObject({ Type: 'Task', Resource: arnOf(handler), ResultPath: resultPath });
      expect(states[state]).not.toHaveProperty('Parameters');
    }
  });

  it('maps over the SendCommand batches of the plan, at most fleetConcurrency at once', () => {
    expect(hosts).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.plan.batches',
      MaxConcurrency: 7,
      ResultPath: '$.batchResults',
      Catch: catchTo('Cleanup'),
    });
  });

  it('gives each iteration the request, the plan summary and its batch, nothing else', () => {
    expect(hosts.ItemSelector).toEqual({
      'sessionId.$': '$.sessionId',
      'spec.$': '$.spec',
      'caller.$': '$.caller',
      'requestedAt.$': '$.requestedAt',
      'plan.$': '$.plan',
      'batch.$': '$$.Map.Item.Value',
    });
  });

  it('runs Launch -> Poll -> Done? (-> Wait -> Poll ...) -> BatchEnded in each iteration', () => {
    expect(hosts.ItemProcessor.StartAt).toBe('Launch');
    expect(Object.keys(batch).sort()).toEqual(
      ['BatchEnded', 'BatchNotSent', 'Done?', 'Launch', 'Poll', 'Wait'].sort(),
    );
    expect(batch.Launch).toMatchObject({ Next: 'Poll' });
    expect(batch.Poll).toMatchObject({ Next: 'Done?' });
    expect(batch['Done?']).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.poll.done', BooleanEquals: true, Next: 'BatchEnded' }],
      Default: 'Wait',
    });
    expect(batch.Wait).toEqual({ Type: 'Wait', SecondsPath: '$.poll.waitSeconds', Next: 'Poll' });
    expect(batch.BatchEnded).toEqual({ Type: 'Pass', Parameters: { 'batch.$': '$.batch.batch' }, End: true });
  });

  it('reports a batch Launch could not send with its error, and lets the other batches go on', () => {
    expect(batch.Launch.Catch).toEqual(catchTo('BatchNotSent'));
    expect(batch.BatchNotSent).toEqual({
      Type: 'Pass',
      Parameters: { 'batch.$': '$.batch.batch', 'error.$': '$.error' },
      End: true,
    });
  });

  it("does not catch Poll's errors inside the Map: its CANCELLED fails the Map, so Cleanup cleans every host", () => {
    expect(batch.Poll).not.toHaveProperty('Catch');
  });

  it('sends every failure after Plan to Cleanup, with the error at $.error', () => {
    expect(definition.States.Hosts.Catch).toEqual(catchTo('Cleanup'));
    expect(definition.States.Collect.Catch).toEqual(catchTo('Cleanup'));
  });

  it('does not catch Plan errors: nothing has started on a host yet', () => {
    expect(definition.States.Plan).not.toHaveProperty('Catch');
  });

  it('ends with Collect, whose result replaces the state', () => {
    expect(definition.States.Collect).toMatchObject({ End: true, ResultPath: '$' });
  });

  it('ends at Cleanup, which re-raises (its result discarded), with no Fail state anywhere', () => {
    expect(definition.States.Cleanup).toMatchObject({
      Type: 'Task',
      Resource: arnOf('cleanup'),
      ResultPath: null,
      End: true,
    });
    expect(definition.States.Cleanup).not.toHaveProperty('Catch');
    const types = [...Object.values(definition.States), ...Object.values(batch)].map((state) => state.Type);
    expect(types).not.toContain('Fail');
  });

  it('retries Lambda service errors only, never our own errors', () => {
    const tasks = [
      definition.States.Plan,
      batch.Launch,
      batch.Poll,
      definition.States.Collect,
      definition.States.Cleanup,
    ];
    for (const state of tasks) {
      const retries = state.Retry as { ErrorEquals: string[] }[];
      expect(retries.flatMap((retry) => retry.ErrorEquals).sort()).toEqual([...lambdaServiceErrors].sort());
    }
  });

  it('invokes only the five step functions: preview, doctor and the sweeper are not states', () => {
    const resources = [...Object.values(definition.States), ...Object.values(batch)]
      .map((state) => state.Resource)
      .filter(Boolean);
    expect([...new Set(resources)].sort()).toEqual(
      ['plan', 'launch', 'poll', 'collect', 'cleanup'].map(arnOf).sort(),
    );
  });

  it('times out after the longest capture (here maxRingSeconds) + graceSeconds + 300 s', () => {
    expect(definition.TimeoutSeconds).toBe(1800 + 45 + 300);
  });

  it('logs ALL events with execution data to a vended-logs group, and traces with X-Ray', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true },
      TracingConfiguration: { Enabled: true },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: Match.objectLike({
        'Fn::Join': ['', Match.arrayWith(['/aws/vendedlogs/states/DebugTask-sessions-'])],
      }),
    });
  });
});
