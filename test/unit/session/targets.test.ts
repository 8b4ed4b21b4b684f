import { ListTasksCommand } from '@aws-sdk/client-ecs';
import { resolveTargets } from '../../../lib/session/targets';
import { aws, useAwsMocks } from '../../support/aws';
import { givenService, givenTask, resolveCallsSeen } from '../../support/ecs-fleet';
import {
  CLUSTER,
  CLUSTER_ARN,
  SERVICE,
  caught,
  resolvedTarget,
  runningTask,
  spec,
} from '../../support/fixtures';

useAwsMocks();

describe('resolveTargets', () => {
  it('resolves one task into a plan of one target, in three calls it reports as made', async () => {
    givenTask();

    const resolution = await resolveTargets(spec());

    expect(resolution).toEqual({
      kind: 'task',
      clusterArn: CLUSTER_ARN,
      targets: [resolvedTarget],
      skipped: [],
      listed: 1,
      maxTasks: 1,
      leftOut: 0,
      calls: {
        'ecs:DescribeTasks': 1,
        'ecs:DescribeContainerInstances': 1,
        'ssm:DescribeInstanceInformation': 1,
      },
    });
    const { 'ecs:ListTasks': listTasks, ...seen } = resolveCallsSeen();
    expect(listTasks).toBe(0);
    expect(seen).toEqual(resolution.calls);
  });

  it("fails a one-task request with that task's own error: nothing was asked of any other task", async () => {
    givenTask({ tasks: [runningTask({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED' })] });

    const error = await caught(() => resolveTargets(spec()));

    expect(error).toMatchObject({ code: 'TASK_NOT_RUNNING' });
  });

  it('resolves a service into its debuggable tasks, skipping the others with their own code', async () => {
    givenService(4, 2, {
      task: (i) => (i === 2 ? { launchType: 'FARGATE', containerInstanceArn: undefined } : {}),
    });

    const resolution = await resolveTargets(
      spec({ target: { service: SERVICE, cluster: CLUSTER, maxTasks: 3 } }),
    );

    expect(resolution).toMatchObject({
      kind: 'service',
      service: SERVICE,
      clusterArn: CLUSTER_ARN,
      listed: 4,
      maxTasks: 3,
      leftOut: 0,
      skipped: [{ code: 'FARGATE_UNSUPPORTED' }],
    });
    expect(resolution.targets).toHaveLength(3);
    expect(resolution.calls).toEqual(resolveCallsSeen());
    expect(aws.ecs).toHaveReceivedCommandWith(ListTasksCommand, { serviceName: SERVICE, cluster: CLUSTER });
  });
});
