import { DebugTaskError } from '../../../lib/domain/errors';
import {
  commandDocument,
  sandboxFunctionArn,
  stateMachineDefinition,
  type CfnTemplate,
} from '../../../lib/sandbox/template';

const fn = (handler?: string) => ({
  Type: 'AWS::Lambda::Function',
  Properties: { Handler: 'index.handler' },
  Metadata: { 'aws:cdk:path': 'DebugTask/x/Resource', ...(handler && { 'debug-task:handler': handler }) },
});

/** A fragment shaped as CDK synthesizes it: the definition is an Fn::Join around GetAtt tokens. */
function template(definitionString: unknown, extra: Record<string, unknown> = {}): CfnTemplate {
  return {
    Resources: {
      ResolveFn1A2B3C: fn('resolve'),
      LaunchFn4D5E6F: fn('launch'),
      ApiFn7A8B9C: fn('api'),
      LogRetentionFn: fn(), // a CDK provider function: no handler metadata, ignored
      Machine: {
        Type: 'AWS::StepFunctions::StateMachine',
        Properties: { DefinitionString: definitionString, ...extra },
      },
      Document: {
        Type: 'AWS::SSM::Document',
        Properties: {
          DocumentType: 'Command',
          Content: {
            schemaVersion: '2.2',
            description: 'runner in {{ region }}',
            mainSteps: [
              {
                action: 'aws:runShellScript',
                name: 'runDebugTask',
                inputs: { runCommand: [{ 'Fn::Join': ['', ['echo ', { Ref: 'AWS::Region' }]] }] },
              },
            ],
          },
        },
      },
    },
  };
}

const joined = {
  'Fn::Join': [
    '',
    [
      '{"StartAt":"Resolve","States":{"Resolve":{"Next":"Launch","Type":"Task","Resource":"',
      { 'Fn::GetAtt': ['ResolveFn1A2B3C', 'Arn'] },
      '"},"Launch":{"End":true,"Type":"Task","Comment":"',
      { Ref: 'AWS::Partition' },
      '/',
      { Ref: 'AWS::Region' },
      '/',
      { Ref: 'AWS::AccountId' },
      '","Resource":"',
      { 'Fn::GetAtt': ['LaunchFn4D5E6F', 'Arn'] },
      '"}},"TimeoutSeconds":3600}',
    ],
  ],
};

describe('stateMachineDefinition', () => {
  it('resolves Fn::Join, Fn::GetAtt of tagged functions and pseudo parameters', () => {
    const { definition, functionArns } = stateMachineDefinition(template(joined), { region: 'xx-test-1' });

    expect(definition).toEqual({
      StartAt: 'Resolve',
      TimeoutSeconds: 3600,
      States: {
        Resolve: {
          Next: 'Launch',
          Type: 'Task',
          Resource: 'arn:aws:lambda:xx-test-1:000000000000:function:debug-task-resolve',
        },
        Launch: {
          End: true,
          Type: 'Task',
          Comment: 'aws/xx-test-1/000000000000',
          Resource: 'arn:aws:lambda:xx-test-1:000000000000:function:debug-task-launch',
        },
      },
    });
    // Every tagged function, including api (which no state invokes); untagged ones are left out.
    expect(functionArns).toEqual({
      resolve: sandboxFunctionArn('resolve', 'xx-test-1'),
      launch: sandboxFunctionArn('launch', 'xx-test-1'),
      api: sandboxFunctionArn('api', 'xx-test-1'),
    });
  });

  it('defaults to us-east-1 and accepts the short GetAtt form and Fn::Sub', () => {
    const definitionString = {
      'Fn::Sub': [
        '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"${ResolveFn1A2B3C.Arn}","Comment":"${AWS::Region} ${Extra} ${!Literal}","End":true}}}',
        { Extra: { 'Fn::GetAtt': 'LaunchFn4D5E6F.Arn' } },
      ],
    };
    const { definition } = stateMachineDefinition(template(definitionString));
    const state = (definition as { States: Record<string, { Resource: string; Comment: string }> }).States.A;
    expect(state.Resource).toBe('arn:aws:lambda:us-east-1:000000000000:function:debug-task-resolve');
    expect(state.Comment).toBe(
      'us-east-1 arn:aws:lambda:us-east-1:000000000000:function:debug-task-launch ${Literal}',
    );
  });

  it('applies DefinitionSubstitutions, their values resolved too', () => {
    const { definition } = stateMachineDefinition(
      template('{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"${fn}","End":true}}}', {
        DefinitionSubstitutions: { fn: { 'Fn::GetAtt': ['LaunchFn4D5E6F', 'Arn'] } },
      }),
    );
    expect(JSON.stringify(definition)).toContain('function:debug-task-launch');
  });

  it('takes values for other resources from the caller', () => {
    const withBucket = {
      'Fn::Join': [
        '',
        ['{"StartAt":"A","Comment":"', { Ref: 'Bucket' }, '","States":{"A":{"Type":"Pass","End":true}}}'],
      ],
    };
    const { definition } = stateMachineDefinition(template(withBucket), {
      values: { Bucket: 'sandbox-bucket' },
    });
    expect(definition.Comment).toBe('sandbox-bucket');
  });

  it.each([
    [
      'a Ref to a resource it does not stand in for',
      { Ref: 'SomeQueue' },
      /Ref SomeQueue .*there is no resource SomeQueue/,
    ],
    [
      'a GetAtt of a function without handler metadata',
      { 'Fn::GetAtt': ['LogRetentionFn', 'Arn'] },
      /LogRetentionFn is a function without debug-task:handler metadata/,
    ],
    [
      'a GetAtt of another attribute',
      { 'Fn::GetAtt': ['ResolveFn1A2B3C', 'Version'] },
      /Fn::GetAtt ResolveFn1A2B3C\.Version/,
    ],
    [
      'an unsupported intrinsic',
      { 'Fn::ImportValue': 'Shared-Arn' },
      /Unsupported intrinsic function Fn::ImportValue/,
    ],
  ])('fails clearly on %s', (_what, token, message) => {
    const definitionString = { 'Fn::Join': ['', ['{"StartAt":"A","Comment":"', token, '","States":{}}']] };
    const run = () => stateMachineDefinition(template(definitionString));
    expect(run).toThrow(DebugTaskError);
    expect(run).toThrow(message);
    expect(run).toThrow('at Machine.DefinitionString/Fn::Join[1]'); // says where the token is
  });

  it('fails when there is not exactly one state machine', () => {
    const t = template(joined);
    delete t.Resources!.Machine;
    expect(() => stateMachineDefinition(t)).toThrow(/exactly one AWS::StepFunctions::StateMachine/);
  });

  it('fails when two functions carry the same handler name', () => {
    const t = template(joined);
    t.Resources!.Another = fn('resolve');
    expect(() => stateMachineDefinition(t)).toThrow(/Two functions carry debug-task:handler=resolve/);
  });
});

describe('commandDocument', () => {
  it('returns the content with its tokens resolved, under the default name', () => {
    const { name, content } = commandDocument(template(joined), { region: 'xx-test-1' });
    expect(name).toBe('debug-task-runner');
    expect(content.schemaVersion).toBe('2.2');
    expect(content.mainSteps[0].name).toBe('runDebugTask');
    expect(content.mainSteps[0].inputs.runCommand).toEqual(['echo xx-test-1']);
    expect(content.description).toBe('runner in {{ region }}'); // SSM's own syntax is left alone
  });

  it('uses the Name when the template sets one, and parses JSON string content', () => {
    const t = template(joined);
    const props = t.Resources!.Document.Properties!;
    props.Name = 'my-runner';
    props.Content = JSON.stringify(props.Content);
    const { name, content } = commandDocument(t);
    expect(name).toBe('my-runner');
    expect(content.mainSteps).toHaveLength(1);
  });
});
