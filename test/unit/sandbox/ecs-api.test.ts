import type { DockerContainerDetails } from '../../../lib/sandbox/docker-api';
import {
  ECS_LABELS,
  SANDBOX_TAG_LABEL_PREFIX,
  ecsTaskLabels,
  tasksFromContainers,
  type SandboxInstance,
} from '../../../lib/sandbox/ecs-api';

const instance: SandboxInstance = {
  region: 'xx-test-1',
  accountId: '000000000000',
  ec2InstanceId: 'i-0123456789abcdef0',
  containerInstanceId: 'c'.repeat(32),
  registeredAt: new Date('2026-01-01T00:00:00Z'),
};
const TASK = 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef';

function container(
  id: string,
  labels: Record<string, string>,
  state: Partial<DockerContainerDetails['State']> = {},
): DockerContainerDetails {
  return {
    Id: id.padEnd(64, '0'),
    Created: '2026-01-01T10:00:00.000Z',
    Image: 'sha256:abc',
    Config: { Image: 'busybox:local', Labels: labels },
    State: {
      Status: 'running',
      Running: true,
      ExitCode: 0,
      StartedAt: '2026-01-01T10:00:01.000Z',
      FinishedAt: '0001-01-01T00:00:00Z',
      ...state,
    },
    NetworkSettings: { Networks: { bridge: { IPAddress: '172.17.0.2', MacAddress: '' } } },
  };
}

const labels = (name: string, extra: Partial<Parameters<typeof ecsTaskLabels>[0]> = {}) =>
  ecsTaskLabels({
    taskArn: TASK,
    containerName: name,
    cluster: 'prod',
    family: 'web',
    revision: 7,
    ...extra,
  });

describe('tasksFromContainers', () => {
  it('gives a task the tags its containers carry as sandbox tag labels, and its network mode as Docker runs it', () => {
    const tagged = {
      ...labels('app'),
      [`${SANDBOX_TAG_LABEL_PREFIX}team`]: 'payments',
      [`${SANDBOX_TAG_LABEL_PREFIX}pci`]: 'true',
    };
    const [bridge] = tasksFromContainers([container('aaa', tagged)], instance);
    const [host] = tasksFromContainers(
      [{ ...container('aaa', labels('app')), HostConfig: { NetworkMode: 'host' } }],
      instance,
    );
    const [awsvpc] = tasksFromContainers(
      [{ ...container('aaa', labels('app')), HostConfig: { NetworkMode: `container:${'p'.repeat(64)}` } }],
      instance,
    );

    expect(bridge.tags).toEqual([
      { key: 'pci', value: 'true' },
      { key: 'team', value: 'payments' },
    ]);
    expect(host.tags).toEqual([]);
    expect([bridge.networkMode, host.networkMode, awsvpc.networkMode]).toEqual(['bridge', 'host', 'awsvpc']);
  });

  it('groups containers by task ARN into one DescribeTasks task on the sandbox instance', () => {
    const [task, ...rest] = tasksFromContainers(
      [container('bbb', labels('sidecar')), container('aaa', labels('app', { serviceName: 'web-svc' }))],
      instance,
    );
    expect(rest).toHaveLength(0);
    expect(task.taskId).toBe('0123456789abcdef0123456789abcdef');
    expect(task.clusterName).toBe('prod');
    expect(task.task).toMatchObject({
      taskArn: TASK,
      clusterArn: 'arn:aws:ecs:xx-test-1:123456789012:cluster/prod',
      taskDefinitionArn: 'arn:aws:ecs:xx-test-1:123456789012:task-definition/web:7',
      containerInstanceArn: `arn:aws:ecs:xx-test-1:000000000000:container-instance/prod/${'c'.repeat(32)}`,
      launchType: 'EC2',
      lastStatus: 'RUNNING',
      desiredStatus: 'RUNNING',
      startedAt: new Date('2026-01-01T10:00:01.000Z'),
    });
    const containers = task.task.containers as Array<Record<string, unknown>>;
    expect(containers.map((c) => [c.name, c.runtimeId, c.lastStatus])).toEqual([
      ['app', 'aaa'.padEnd(64, '0'), 'RUNNING'],
      ['sidecar', 'bbb'.padEnd(64, '0'), 'RUNNING'],
    ]);
    expect(containers[0].networkInterfaces).toEqual([{ privateIpv4Address: '172.17.0.2' }]);
  });

  it('never lists the agent`s pause container', () => {
    const [task] = tasksFromContainers(
      [container('aaa', labels('app')), container('ppp', labels('~internal~ecs~pause'))],
      instance,
    );
    expect((task.task.containers as unknown[]).length).toBe(1);
  });

  it('reports a task whose containers all exited as STOPPED, with exit codes', () => {
    const [task] = tasksFromContainers(
      [
        container('aaa', labels('app'), {
          Status: 'exited',
          Running: false,
          ExitCode: 3,
          FinishedAt: '2026-01-01T11:00:00Z',
        }),
      ],
      instance,
    );
    expect(task.task).toMatchObject({
      lastStatus: 'STOPPED',
      desiredStatus: 'STOPPED',
      stoppedAt: new Date('2026-01-01T11:00:00Z'),
      stopCode: 'EssentialContainerExited',
    });
    expect((task.task.containers as Array<Record<string, unknown>>)[0].exitCode).toBe(3);
  });

  it('reports a created but not started container as PENDING', () => {
    const [task] = tasksFromContainers(
      [
        container('aaa', labels('app'), {
          Status: 'created',
          Running: false,
          StartedAt: '0001-01-01T00:00:00Z',
        }),
      ],
      instance,
    );
    expect(task.task.lastStatus).toBe('PENDING');
    expect(task.task.startedAt).toBeUndefined();
  });

  it('takes a cluster label given as an ARN, and "default" when there is none', () => {
    const arnCluster = 'arn:aws:ecs:xx-test-1:123456789012:cluster/blue';
    const other = 'arn:aws:ecs:xx-test-1:123456789012:task/fedcba9876543210fedcba9876543210';
    const tasks = tasksFromContainers(
      [
        container('aaa', { ...labels('app'), [ECS_LABELS.cluster]: arnCluster }),
        container('bbb', { [ECS_LABELS.taskArn]: other, [ECS_LABELS.containerName]: 'x' }),
      ],
      instance,
    );
    // Sorted by task ARN: task/fedcba... before task/prod/...
    expect(tasks.map((t) => [t.clusterName, t.task.clusterArn])).toEqual([
      ['default', 'arn:aws:ecs:xx-test-1:123456789012:cluster/default'],
      ['blue', arnCluster],
    ]);
  });
});
