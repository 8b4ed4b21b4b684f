import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, AccountRootPrincipal } from 'aws-cdk-lib/aws-iam';
import { DebugTask } from '../../lib';
import { HANDLERS, PINNED_IMAGE, flat, functionsByHandler, synth, testApp } from './helpers';

/** `import { DebugTask } from 'debug-task'`: the construct in a stack of the user's own app. */
describe('DebugTask in a stack of your own', () => {
  function userStack() {
    const app = testApp();
    const stack = new Stack(app, 'Platform', { env: { account: '123456789012', region: 'xx-test-1' } });
    const debugTask = new DebugTask(stack, 'Debugging', {
      toolboxImage: PINNED_IMAGE,
      allowedClusters: ['prod'],
    });
    return { stack, debugTask };
  }

  it('brings every function of the deployment, and no stack outputs of its own', () => {
    const { stack } = userStack();
    const template = Template.fromStack(stack);

    expect(Object.keys(functionsByHandler(template)).sort()).toEqual([...HANDLERS].sort());
    expect(template.toJSON().Outputs).toBeUndefined();
  });

  it('makes the same resources as the DebugTask stack', () => {
    const { template } = synth({ toolboxImage: PINNED_IMAGE, allowedClusters: ['prod'] });
    const own = Template.fromStack(userStack().stack);

    const types = (t: Template) =>
      Object.values(t.toJSON().Resources as Record<string, { Type: string }>)
        .map((resource) => resource.Type)
        .sort();
    expect(types(own)).toEqual(types(template));
  });

  it('grantInvoke lets a role call every route of its API, and no other', () => {
    const { stack, debugTask } = userStack();
    const oncall = new Role(stack, 'Oncall', { assumedBy: new AccountRootPrincipal() });

    debugTask.grantInvoke(oncall);

    const policies = Template.fromStack(stack).findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^Oncall') }] },
    });
    const statements = Object.values(policies).flatMap(
      (policy) =>
        (policy as { Properties: { PolicyDocument: { Statement: object[] } } }).Properties.PolicyDocument
          .Statement,
    );
    expect(statements).toHaveLength(1);
    const [statement] = statements as { Action: string; Resource: unknown }[];
    expect(statement.Action).toBe('execute-api:Invoke');
    expect(flat(statement.Resource)).toMatch(
      /^arn:<AWS::Partition>:execute-api:xx-test-1:123456789012:<DebuggingApi[0-9A-F]+>\/\*\/\*\/\*$/,
    );
  });

  it('exposes what a stack of your own wires elsewhere: API URL, bucket, state machine, document', () => {
    const { stack, debugTask } = userStack();
    const resolved = (value: string) => flat(stack.resolve(value));

    expect(resolved(debugTask.apiUrl)).toMatch(/^https:\/\/<DebuggingApi[0-9A-F]+>\.execute-api\./);
    expect(resolved(debugTask.bucket.bucketName)).toMatch(/^<DebuggingArtifacts/);
    expect(resolved(debugTask.stateMachine.stateMachineArn)).toMatch(/^<DebuggingSessions/);
    expect(resolved(debugTask.documentName)).toMatch(/^<DebuggingRunnerDocument/);
    expect(debugTask.settings.allowedClusters).toEqual(['prod']);
  });
});
