import { DescribeTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { Authorizer, type Decision } from '../../../lib/authz/authorizer';
import { loadCedar, parsePolicyText } from '../../../lib/authz/policy-file';
import { DebugTaskError } from '../../../lib/domain/errors';
import type { ResolvedTarget } from '../../../lib/domain/session';
import { parseSessionRequest } from '../../../lib/domain/session-spec';
import { authorizeCapture } from '../../../lib/session/authorize';
import type { Resolution } from '../../../lib/session/targets';
import { aws, useAwsMocks } from '../../support/aws';
import { CLUSTER, CLUSTER_ARN, SERVICE, caught, fleetTaskArn, resolvedTarget } from '../../support/fixtures';

/**
 * A capture decided by the deployment's policy on what Plan resolved: each target's real cluster,
 * service, tags and network mode; a one-task session refused whole, a service's denied tasks skipped.
 */

useAwsMocks();

const CALLER = 'arn:aws:sts::123456789012:assumed-role/oncall/alice';
const cedar = loadCedar();
const policy = (text: string) => new Authorizer(parsePolicyText(text, 'policy.cedar', cedar), cedar);

const POLICY = policy(`@id("oncall-captures-prod")
permit (principal, action == DebugTask::Action::"capture", resource)
when { principal.arn like "*:assumed-role/oncall/*" && resource.cluster == "${CLUSTER}" };

@id("no-strace-in-prod")
forbid (principal, action == DebugTask::Action::"capture", resource)
when { context.tool == "strace" };

@id("not-pci")
forbid (principal, action == DebugTask::Action::"capture", resource)
when { resource.hasTag("pci") && resource.getTag("pci") == "true" };

@id("no-host-network")
forbid (principal, action == DebugTask::Action::"capture", resource)
when { resource.networkMode == "host" };`);

const target = (i: number, over: Partial<ResolvedTarget> = {}): ResolvedTarget => ({
  ...resolvedTarget,
  taskArn: fleetTaskArn(i),
  service: SERVICE,
  ...over,
});

const resolution = (targets: ResolvedTarget[], kind: 'task' | 'service'): Resolution => ({
  kind,
  clusterArn: CLUSTER_ARN,
  ...(kind === 'service' && { service: SERVICE }),
  targets,
  skipped: [],
  listed: targets.length,
  maxTasks: targets.length,
  leftOut: 0,
  calls: { 'ecs:DescribeTasks': 1 },
});

const spec = (tool = 'tcpdump', kind: 'task' | 'service' = 'task') =>
  parseSessionRequest({
    target: kind === 'task' ? { task: fleetTaskArn(0) } : { service: SERVICE, cluster: CLUSTER },
    tool,
  });

beforeEach(() => {
  aws.ecs.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: { networkMode: 'bridge' } });
});

describe('authorizeCapture', () => {
  it('changes nothing and calls nothing without a policy (IAM decides alone)', async () => {
    const before = resolution([target(0)], 'task');

    const after = await authorizeCapture(spec(), CALLER, before, { authorizer: null });

    expect(after).toBe(before);
    expect(aws.ecs.calls()).toHaveLength(0);
  });

  it('allows a permitted capture, looking up each distinct task definition’s network mode once', async () => {
    const decisions: Decision[] = [];
    const targets = [0, 1, 2].map((i) => target(i));

    const after = await authorizeCapture(spec('tcpdump', 'service'), CALLER, resolution(targets, 'service'), {
      authorizer: POLICY,
      record: (d) => decisions.push(d),
    });

    expect(after.targets.map((t) => [t.taskArn, t.networkMode])).toEqual(
      targets.map((t) => [t.taskArn, 'bridge']),
    );
    expect(aws.ecs).toHaveReceivedCommandTimes(DescribeTaskDefinitionCommand, 1);
    expect(after.calls['ecs:DescribeTaskDefinition']).toBe(1);
    expect(decisions.map((d) => [d.allowed, d.rule])).toEqual(
      targets.map(() => [true, 'permit "oncall-captures-prod"']),
    );
  });

  it('refuses a one-task session with NOT_AUTHORIZED naming the forbid’s @id, before anything is sent', async () => {
    const error = await caught(() =>
      authorizeCapture(spec('strace'), CALLER, resolution([target(0)], 'task'), { authorizer: POLICY }),
    );

    expect(error).toBeInstanceOf(DebugTaskError);
    expect(error).toMatchObject({
      code: 'NOT_AUTHORIZED',
      exitCode: 6,
      details: { action: 'capture', tool: 'strace', policies: ['no-strace-in-prod'] },
    });
    expect((error as Error).message).toBe(
      `The deployment's policy does not let ${CALLER} capture on task ${fleetTaskArn(0)} with strace: forbid "no-strace-in-prod".`,
    );
    // Nothing about the target beyond what the caller named: no host, no container id.
    expect(JSON.stringify(error)).not.toMatch(/i-0|3f4e5d6c/);
  });

  it('skips a service’s denied tasks (tags, network mode) with NOT_AUTHORIZED and keeps the rest', async () => {
    aws.ecs
      .on(DescribeTaskDefinitionCommand, { taskDefinition: 'td-host' })
      .resolves({ taskDefinition: { networkMode: 'host' } });
    const targets = [
      target(0),
      target(1, { tags: { pci: 'true' } }),
      target(2, { taskDefinitionArn: 'td-host' }),
      target(3, { tags: { pci: 'false' } }),
    ];

    const after = await authorizeCapture(spec('tcpdump', 'service'), CALLER, resolution(targets, 'service'), {
      authorizer: POLICY,
    });

    expect(after.targets.map((t) => t.taskArn)).toEqual([fleetTaskArn(0), fleetTaskArn(3)]);
    expect(after.skipped).toEqual([
      {
        taskArn: fleetTaskArn(1),
        code: 'NOT_AUTHORIZED',
        message: expect.stringContaining('forbid "not-pci"'),
      },
      {
        taskArn: fleetTaskArn(2),
        code: 'NOT_AUTHORIZED',
        message: expect.stringContaining('forbid "no-host-network"'),
      },
    ]);
  });

  it('refuses a service whose every task is denied, and another caller with no permit', async () => {
    const all = await caught(() =>
      authorizeCapture(spec('strace', 'service'), CALLER, resolution([target(0), target(1)], 'service'), {
        authorizer: POLICY,
      }),
    );
    const stranger = await caught(() =>
      authorizeCapture(spec(), 'arn:aws:iam::123456789012:user/mallory', resolution([target(0)], 'task'), {
        authorizer: POLICY,
      }),
    );

    expect(all).toMatchObject({ code: 'NOT_AUTHORIZED' });
    expect((all as Error).message).toContain('on none of the 2 tasks');
    expect(stranger).toMatchObject({ code: 'NOT_AUTHORIZED', details: { rule: 'no permit applies' } });
  });
});
