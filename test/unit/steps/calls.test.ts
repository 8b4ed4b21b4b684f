import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import type { ExecutionInput } from '../../../lib/domain/session';
import { fleetCallBudget } from '../../../lib/session/batches';
import { launchBatch } from '../../../lib/steps/launch';
import { planSession } from '../../../lib/steps/plan';
import { aws, givenBucket, useAwsMocks } from '../../support/aws';
import { givenService, givenTask, resolveCallsSeen } from '../../support/ecs-fleet';
import { executionInput, serviceInput } from '../../support/fixtures';

/**
 * The control-plane calls of a session up to the moment its hosts start (issue 14: "3 before
 * SendCommand for one task, <= 25 for 1,000 tasks on 100 hosts"): Plan, then Launch for each batch
 * of the plan, as the state machine runs them.
 */

useAwsMocks();

const NOW_MS = Date.parse('2025-01-01T12:00:10.000Z');

beforeEach(() => {
  givenBucket();
  aws.sts.on(AssumeRoleCommand).resolves({
    Credentials: {
      AccessKeyId: 'ASIAUPLOADSESSION001',
      SecretAccessKey: 'upload-secret',
      SessionToken: 'upload-token',
      Expiration: new Date(NOW_MS + 3600_000),
    },
  });
  let sent = 0;
  aws.ssm.on(SendCommandCommand).callsFake((input: { InstanceIds: string[] }) => {
    if (input.InstanceIds.length > 50) throw new Error('SendCommand takes at most 50 InstanceIds');
    return { Command: { CommandId: `command-${++sent}` } };
  });
});

/** Plan, then every batch's Launch; the ECS and SSM calls in the order they were made. */
async function startSession(input: ExecutionInput): Promise<string[]> {
  const plan = await planSession(input, { now: () => NOW_MS });
  for (const batch of plan.batches) {
    await launchBatch({ ...input, plan, batch }, { now: () => NOW_MS });
  }
  return [...aws.ecs.calls(), ...aws.ssm.calls()]
    .sort((a, b) => (a.calledBefore(b) ? -1 : 1))
    .map((call) =>
      (call.args[0] as { constructor: { name: string } }).constructor.name.replace(/Command$/, ''),
    );
}

describe('control-plane calls before the captures start', () => {
  it('one task: 3 before SendCommand, SendCommand once', async () => {
    givenTask();

    const calls = await startSession(executionInput());

    expect(calls).toEqual([
      'DescribeTasks',
      'DescribeContainerInstances',
      'DescribeInstanceInformation',
      'SendCommand',
    ]);
    expect(aws.sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 1);
  });

  // [tasks, hosts]: the budget of lib/session/batches.ts, met exactly on a healthy service.
  it.each([
    [1, 1],
    [100, 10],
    [100, 100],
    [101, 1],
    [101, 100],
  ])('%i tasks on %i hosts: the batched budget, SendCommand once per 50 hosts', async (tasks, hosts) => {
    givenService(tasks, hosts);

    const calls = await startSession(serviceInput(tasks));

    const budget = fleetCallBudget(tasks, hosts);
    expect(resolveCallsSeen()).toEqual({
      'ecs:ListTasks': budget['ecs:ListTasks'],
      'ecs:DescribeTasks': budget['ecs:DescribeTasks'],
      'ecs:DescribeContainerInstances': budget['ecs:DescribeContainerInstances'],
      'ssm:DescribeInstanceInformation': budget['ssm:DescribeInstanceInformation'],
    });
    expect(calls.filter((c) => c === 'SendCommand')).toHaveLength(budget['ssm:SendCommand']);
    expect(calls).toHaveLength(budget.total);
    // Nothing is sent before every target is resolved.
    expect(calls.indexOf('SendCommand')).toBe(budget.resolve);
    // One upload-role session per SendCommand batch, not per task.
    expect(aws.sts).toHaveReceivedCommandTimes(AssumeRoleCommand, budget['ssm:SendCommand']);
  });

  it('1,000 tasks on 100 hosts: 25 calls in all, 23 of them before SendCommand', async () => {
    givenService(1000, 100);

    const calls = await startSession(serviceInput(1000));

    expect(calls).toHaveLength(25);
    expect(calls.indexOf('SendCommand')).toBe(23);
    expect(calls.filter((c) => c === 'SendCommand')).toHaveLength(2);
    expect(aws.sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 2);
  });
});
