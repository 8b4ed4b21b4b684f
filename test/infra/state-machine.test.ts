import { Match } from 'aws-cdk-lib/assertions';
import { PINNED_IMAGE, functionsByHandler, stateMachineDefinition, synth } from './helpers';

const { template } = synth({ toolboxImage: PINNED_IMAGE, maxDurationSeconds: 600, graceSeconds: 45 });
const definition = stateMachineDefinition(template);
const functions = functionsByHandler(template);
const arnOf = (handler: string) => `<${functions[handler].logicalId}.Arn>`;

const catchToCleanup = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Cleanup' }];
const lambdaServiceErrors = [
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
];

describe('session state machine', () => {
  it('is a Standard workflow', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineType: 'STANDARD' });
  });

  it('has exactly the states of ARCHITECTURE.md, starting with the choice of one task or a service', () => {
    expect(definition.StartAt).toBe('Service?');
    expect(definition.States['Service?']).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.spec.target.service', IsPresent: true, Next: 'FleetPlan' }],
      Default: 'Resolve',
    });
    expect(Object.keys(definition.States).sort()).toEqual(
      [
        'Service?',
        'Cleanup',
        'Collect',
        'Done?',
        'Launch',
        'Poll',
        'Resolve',
        'Wait',
        'FleetPlan',
        'Hosts',
        'CollectFleet',
        'CleanupFleet',
      ].sort(),
    );
  });

  it('fans a service out with a Map over the SendCommand batches, capped by fleetConcurrency', () => {
    const hosts = definition.States.Hosts as Record<string, unknown> & {
      ItemProcessor: { StartAt: string; States: Record<string, Record<string, unknown>> };
    };
    expect(hosts).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.fleet.batches',
      MaxConcurrency: 20,
      ResultPath: '$.batchResults',
      Next: 'CollectFleet',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'CleanupFleet' }],
    });
    expect(hosts.ItemProcessor.StartAt).toBe('LaunchBatch');
    expect(Object.keys(hosts.ItemProcessor.States).sort()).toEqual(
      ['LaunchBatch', 'PollBatch', 'Batch done?', 'WaitBatch', 'BatchEnded', 'BatchNotSent'].sort(),
    );
    expect(hosts.ItemProcessor.States.LaunchBatch).toMatchObject({
      Resource: arnOf('fleet-launch'),
      ResultPath: '$.command',
      Next: 'PollBatch',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'BatchNotSent' }],
    });
    // PollBatch has no catch: its CANCELLED fails the Map, so CleanupFleet cleans every host.
    expect(hosts.ItemProcessor.States.PollBatch).not.toHaveProperty('Catch');
    expect(definition.States.FleetPlan).toMatchObject({
      Resource: arnOf('fleet-plan'),
      ResultPath: '$.fleet',
      Next: 'Hosts',
    });
    expect(definition.States.FleetPlan).not.toHaveProperty('Catch');
    expect(definition.States.CollectFleet).toMatchObject({
      Resource: arnOf('fleet-collect'),
      ResultPath: '$',
      End: true,
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'CleanupFleet' }],
    });
  });

  it.each([
    ['Resolve', 'resolve', '$.target', 'Launch'],
    ['Launch', 'launch', '$.launch', 'Poll'],
    ['Poll', 'poll', '$.poll', 'Done?'],
  ])(
    'invokes the %s function directly and stores its result at its path',
    (state, handler, resultPath, next) => {
      expect(definition.States[state]).toMatchObject({
        Type: 'Task',
        Resource: arnOf(handler),
        ResultPath: resultPath,
        Next: next,
      });
      expect(definition.States[state]).not.toHaveProperty('Parameters');
    },
  );

  it('ends with Collect, whose result replaces the state', () => {
    expect(definition.States.Collect).toMatchObject({
      Type: 'Task',
      Resource: arnOf('collect'),
      ResultPath: '$',
      End: true,
    });
  });

  it('loops Poll -> Done? -> Wait -> Poll until $.poll.done, waiting $.poll.waitSeconds', () => {
    expect(definition.States['Done?']).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.poll.done', BooleanEquals: true, Next: 'Collect' }],
      Default: 'Wait',
    });
    expect(definition.States.Wait).toEqual({ Type: 'Wait', SecondsPath: '$.poll.waitSeconds', Next: 'Poll' });
  });

  it('sends every failure after Launch to Cleanup with the error at $.error', () => {
    for (const state of ['Launch', 'Poll', 'Collect']) {
      expect(definition.States[state].Catch).toEqual(catchToCleanup);
    }
  });

  it('does not catch Resolve errors: nothing has started on a host yet', () => {
    expect(definition.States.Resolve).not.toHaveProperty('Catch');
  });

  it('ends at Cleanup, which re-raises, with no Fail state after it', () => {
    expect(definition.States.Cleanup).toMatchObject({ Type: 'Task', Resource: arnOf('cleanup'), End: true });
    expect(definition.States.Cleanup).not.toHaveProperty('Catch');
    expect(Object.values(definition.States).map((state) => state.Type)).not.toContain('Fail');
  });

  it('retries Lambda service errors only, never our own errors', () => {
    for (const state of ['Resolve', 'Launch', 'Poll', 'Collect', 'Cleanup']) {
      const retries = definition.States[state].Retry as { ErrorEquals: string[] }[];
      expect(retries.flatMap((retry) => retry.ErrorEquals).sort()).toEqual([...lambdaServiceErrors].sort());
    }
  });

  it('times out after maxDurationSeconds + graceSeconds + 300 s', () => {
    expect(definition.TimeoutSeconds).toBe(600 + 45 + 300);
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
