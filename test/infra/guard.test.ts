import { Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { acknowledgeDebugTaskGuardFindings, GUARD_NAMESPACE, guardValidator } from '../../lib/checks/guard';
import { DebugTaskStack } from '../../lib/infra/debug-task-stack';
import { fakeToolboxDirectory, testApp } from './helpers';

/** The DebugTask stack as bin/app.ts builds it, with (or without) its Guard acknowledgements. */
function appWithGuard(acknowledged: boolean) {
  const app = testApp();
  Validations.of(app).addPlugins(guardValidator());
  const stack = new DebugTaskStack(app, 'DebugTask', { toolboxDirectory: fakeToolboxDirectory() });
  if (acknowledged) acknowledgeDebugTaskGuardFindings(stack);
  return { app, stack };
}

describe('AWS Guard rules on the DebugTask stack', () => {
  it('synthesize without an unacknowledged finding, as bin/app.ts registers them', () => {
    const { app } = appWithGuard(true);

    expect(() => app.synth()).not.toThrow();
  });

  it('fail the synth when the findings are not acknowledged (the plugin really runs, offline), and none is about keys or retention', () => {
    const { app } = appWithGuard(false);

    const failure = (() => {
      try {
        app.synth();
        return '';
      } catch (error) {
        return String((error as Error).message);
      }
    })();
    // By design: the functions run outside a VPC (CT.LAMBDA.PR.3).
    expect(failure).toMatch(/ERROR \[CT\.LAMBDA\.PR\.3\]/);
    // Fixed (issue 10): log groups kept a year and encrypted with the stack key, the bucket on SSE-KMS.
    expect(failure).not.toMatch(/CT\.CLOUDWATCH\.PR\.2|CT\.CLOUDWATCH\.PR\.3|CT\.S3\.PR\.10/);
  });

  it('acknowledge only resource types the stack has, each with a reason', () => {
    const { stack } = appWithGuard(true);
    const types = new Set(
      Object.values(Template.fromStack(stack).toJSON().Resources).map((r) => (r as { Type: string }).Type),
    );
    const acks = stack.node
      .findAll()
      .flatMap((construct) =>
        construct.node.metadata
          .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          .flatMap((entry) => Object.entries(entry.data as Record<string, string>)),
      )
      .filter(([id]) => id.startsWith(`${GUARD_NAMESPACE}::`));

    expect(acks.length).toBeGreaterThan(0);
    for (const [, reason] of acks) expect(reason).toMatch(/^(By design|False positive): .{40,}/);
    expect(types).toContain('AWS::Lambda::Function');
  });
});
