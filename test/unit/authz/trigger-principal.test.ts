import { Authorizer } from '../../../lib/authz/authorizer';
import { PolicyFileError, loadCedar, parsePolicyText } from '../../../lib/authz/policy-file';
import { isRuleArn, type TaskAttributes } from '../../../lib/authz/schema';

const RULE = 'arn:aws:events:xx-test-1:123456789012:rule/DebugTask-TriggersKeepRing-4DE5F6';
const ALICE = 'arn:aws:sts::123456789012:assumed-role/oncall/alice';
const task: TaskAttributes = {
  taskArn: 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef',
  cluster: 'prod',
  service: 'payments',
  container: 'web',
  launchType: 'EC2',
  networkMode: 'bridge',
  tags: {},
};
const capture = {
  tool: 'tcpdump',
  durationSeconds: 600,
  maxBytes: 1e8,
  allowHostNetwork: false,
  allowHostPid: false,
  reason: 'trigger on-5xx',
  targets: 1,
};

const POLICY = `@id("keep-ring-stops-payments")
permit (principal is DebugTask::Trigger, action == DebugTask::Action::"stop", resource)
when { principal.name == "keep-ring" && resource.service == "payments" };

@id("triggers-capture-in-prod")
permit (principal is DebugTask::Trigger, action == DebugTask::Action::"capture", resource)
when { principal.account == "123456789012" && resource.cluster == "prod" && context.tool == "tcpdump" };

@id("oncall")
permit (principal is DebugTask::Caller, action, resource)
when { principal.arn like "arn:aws:sts::123456789012:assumed-role/oncall/*" };
`;

describe('a trigger as a principal of the deployment policy', () => {
  const cedar = loadCedar();
  const authorizer = new Authorizer(parsePolicyText(POLICY, 'policy.cedar', cedar), cedar);

  it('is a DebugTask::Trigger with its rule ARN, account and name', () => {
    expect(authorizer.decide('stop', { arn: RULE, trigger: 'keep-ring' }, task)).toMatchObject({
      allowed: true,
      caller: RULE,
      trigger: 'keep-ring',
      rule: 'permit "keep-ring-stops-payments"',
    });
    expect(authorizer.decide('capture', { arn: RULE, trigger: 'on-5xx' }, task, capture)).toMatchObject({
      allowed: true,
      rule: 'permit "triggers-capture-in-prod"',
    });
  });

  it('gets only what a permit gives it: another trigger, another action or another tool is refused', () => {
    expect(authorizer.decide('stop', { arn: RULE, trigger: 'other' }, task).allowed).toBe(false);
    expect(authorizer.decide('cancel', { arn: RULE, trigger: 'keep-ring' }, task).allowed).toBe(false);
    expect(
      authorizer.decide('capture', { arn: RULE, trigger: 'on-5xx' }, task, { ...capture, tool: 'strace' })
        .allowed,
    ).toBe(false);
  });

  it('is never taken for a Caller, nor a Caller for a trigger', () => {
    // The rule ARN alone (no trigger name) is a Caller: what Caller permits say.
    expect(authorizer.decide('stop', RULE, task).allowed).toBe(false);
    // An IAM caller claiming a trigger name stays a Caller.
    expect(authorizer.decide('stop', { arn: ALICE, trigger: 'keep-ring' }, task)).toMatchObject({
      allowed: true,
      rule: 'permit "oncall"',
    });
    expect(
      authorizer.decide(
        'stop',
        { arn: 'arn:aws:sts::123456789012:assumed-role/dev/bob', trigger: 'keep-ring' },
        task,
      ).allowed,
    ).toBe(false);
  });

  it('validates a policy on Trigger attributes at synth, and refuses one that reads a name a Caller has not', () => {
    expect(() =>
      parsePolicyText(
        `permit (principal, action == DebugTask::Action::"stop", resource) when { principal.name == "x" };`,
        'bad.cedar',
        cedar,
      ),
    ).toThrow(PolicyFileError);
  });

  it('recognizes rule ARNs only', () => {
    expect(isRuleArn(RULE)).toBe(true);
    expect(isRuleArn(ALICE)).toBe(false);
    expect(isRuleArn('arn:aws:events:xx-test-1:123456789012:event-bus/default')).toBe(false);
  });
});
