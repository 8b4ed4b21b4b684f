import {
  ClusterNotFoundException,
  DescribeContainerInstancesCommand,
  DescribeTasksCommand,
} from '@aws-sdk/client-ecs';
import { DescribeInstanceInformationCommand } from '@aws-sdk/client-ssm';
import { TARGET_CHECKS, type TargetCheckName } from '../../../lib/domain/doctor';
import { resolveTarget } from '../../../lib/session/resolve-task';
import { aws, useAwsMocks } from '../../support/aws';
import { givenTask as given } from '../../support/ecs-fleet';
import {
  CLUSTER,
  CLUSTER_ARN,
  CONTAINER_INSTANCE_ARN,
  INSTANCE_ID,
  RUNTIME_ID,
  TASK_ARN,
  TASK_ID,
  caught,
  container,
  onlineInstance,
  runningTask,
} from '../../support/fixtures';

useAwsMocks();

const ecs = aws.ecs;
const ssm = aws.ssm;
/** The task target of a request (what POST /sessions accepts for one task). */
const taskTarget = (overrides: { task?: string; cluster?: string; container?: string } = {}) => ({
  task: TASK_ARN,
  ...overrides,
});

describe('resolveTarget', () => {
  it('resolves a running EC2 task to its container, instance and platform', async () => {
    given();

    const target = await resolveTarget(taskTarget());

    expect(target).toEqual({
      clusterArn: CLUSTER_ARN,
      taskArn: TASK_ARN,
      taskDefinitionArn: expect.stringContaining('task-definition/web:7'),
      launchType: 'EC2',
      service: '',
      tags: {},
      container: { name: 'app', runtimeId: RUNTIME_ID },
      containerInstanceArn: CONTAINER_INSTANCE_ARN,
      instanceId: INSTANCE_ID,
      platform: { name: 'Amazon Linux', version: '2023', agentVersion: '3.3.3050.0' },
    });
  });

  it('asks DescribeTasks for the task’s tags, and takes its service from its group', async () => {
    given({
      tasks: [
        runningTask({
          group: 'service:payments',
          tags: [{ key: 'team', value: 'payments' }, { key: 'pci' }],
        }),
      ],
    });

    const target = await resolveTarget(taskTarget());

    expect(ecs).toHaveReceivedCommandWith(DescribeTasksCommand, { include: ['TAGS'] });
    expect(target).toMatchObject({ service: 'payments', tags: { team: 'payments', pci: '' } });
  });

  it('makes exactly one call of each of DescribeTasks, DescribeContainerInstances and DescribeInstanceInformation', async () => {
    given();

    await resolveTarget(taskTarget());

    expect(ecs).toHaveReceivedCommandTimes(DescribeTasksCommand, 1);
    expect(ecs).toHaveReceivedCommandTimes(DescribeContainerInstancesCommand, 1);
    expect(ssm).toHaveReceivedCommandTimes(DescribeInstanceInformationCommand, 1);
    expect(ecs).toHaveReceivedCommandWith(DescribeTasksCommand, { cluster: CLUSTER, tasks: [TASK_ARN] });
    expect(ecs).toHaveReceivedCommandWith(DescribeContainerInstancesCommand, {
      cluster: CLUSTER_ARN,
      containerInstances: [CONTAINER_INSTANCE_ARN],
    });
    expect(ssm).toHaveReceivedCommandWith(DescribeInstanceInformationCommand, {
      Filters: [{ Key: 'InstanceIds', Values: [INSTANCE_ID] }],
    });
  });

  it('looks a bare task id up in the cluster given with --cluster', async () => {
    given();

    await resolveTarget(taskTarget({ task: TASK_ID, cluster: CLUSTER }));

    expect(ecs).toHaveReceivedCommandWith(DescribeTasksCommand, { cluster: CLUSTER, tasks: [TASK_ID] });
  });

  it('supports ECS Anywhere hosts, whose instance ids are SSM managed instance ids (mi-)', async () => {
    const managedId = 'mi-0123456789abcdef0';
    given({
      tasks: [runningTask({ launchType: 'EXTERNAL' })],
      instanceId: managedId,
      instances: [onlineInstance({ InstanceId: managedId })],
    });

    const target = await resolveTarget(taskTarget());

    expect(target.instanceId).toBe(managedId);
    expect(target.launchType).toBe('EXTERNAL');
  });

  it('decides that a task has a host by its container instance, not by its launch type', async () => {
    // Tasks placed by a capacity provider strategy may carry no launchType at all.
    given({ tasks: [runningTask({ launchType: undefined, capacityProviderName: 'asg-provider' })] });

    const target = await resolveTarget(taskTarget());

    expect(target.containerInstanceArn).toBe(CONTAINER_INSTANCE_ARN);
  });

  describe('refuses before any call', () => {
    it('throws INVALID_ARGUMENT when the cluster is not in ALLOWED_CLUSTERS', async () => {
      process.env.ALLOWED_CLUSTERS = 'staging, sandbox';
      given();

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({
        code: 'INVALID_ARGUMENT',
        details: { cluster: CLUSTER, allowed: ['staging', 'sandbox'] },
      });
      expect(error.message).toContain(`"${CLUSTER}"`);
      expect(error.hint).toContain('ALLOWED_CLUSTERS');
      expect(ecs).toHaveReceivedCommandTimes(DescribeTasksCommand, 0);
    });

    it('accepts a cluster listed in ALLOWED_CLUSTERS, spaces around names ignored', async () => {
      process.env.ALLOWED_CLUSTERS = ` staging , ${CLUSTER} `;
      given();

      await expect(resolveTarget(taskTarget())).resolves.toMatchObject({ instanceId: INSTANCE_ID });
    });

    it('treats a task id without --cluster as being in the "default" cluster for ALLOWED_CLUSTERS', async () => {
      process.env.ALLOWED_CLUSTERS = CLUSTER;

      const error = await caught(() => resolveTarget(taskTarget({ task: TASK_ID })));

      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { cluster: 'default' } });
    });

    it('throws INVALID_TASK_ARN for something that is not a task ARN or id', async () => {
      const error = await caught(() => resolveTarget(taskTarget({ task: 'my-service' })));

      expect(error).toMatchObject({ code: 'INVALID_TASK_ARN' });
      expect(ecs).toHaveReceivedCommandTimes(DescribeTasksCommand, 0);
    });
  });

  describe('the task', () => {
    it('throws TASK_NOT_FOUND naming the cluster searched when ECS reports a failure', async () => {
      given({ tasks: [], failures: [{ arn: TASK_ARN, reason: 'MISSING' }] });

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({
        code: 'TASK_NOT_FOUND',
        details: { cluster: CLUSTER, reason: 'MISSING' },
      });
      expect(error.message).toContain(`cluster "${CLUSTER}"`);
      expect(error.message).toContain('MISSING');
      expect(ecs).toHaveReceivedCommandTimes(DescribeContainerInstancesCommand, 0);
    });

    it('says to add --cluster when a bare task id is not found in the "default" cluster', async () => {
      given({ tasks: [], failures: [] });

      const error = await caught(() => resolveTarget(taskTarget({ task: TASK_ID })));

      expect(error).toMatchObject({ code: 'TASK_NOT_FOUND' });
      expect(error.message).toContain('cluster "default"');
      expect(error.hint).toContain('--cluster');
    });

    it('points at the region when a task ARN of another region is not found', async () => {
      given({ tasks: [], failures: [{ reason: 'MISSING' }] });
      const otherRegion = TASK_ARN.replace('xx-test-1', 'yy-test-2');

      const error = await caught(() => resolveTarget(taskTarget({ task: otherRegion })));

      expect(error.hint).toContain('yy-test-2');
      expect(error.hint).toContain('xx-test-1');
    });

    it('throws TASK_NOT_FOUND when the cluster does not exist', async () => {
      ecs
        .on(DescribeTasksCommand)
        .rejects(new ClusterNotFoundException({ message: 'Cluster not found.', $metadata: {} }));

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({ code: 'TASK_NOT_FOUND', details: { cluster: CLUSTER } });
      expect(error.message).toContain(`Cluster "${CLUSTER}" does not exist`);
    });

    it('throws TASK_NOT_RUNNING with the reason ECS gives for a stopped task', async () => {
      given({
        tasks: [
          runningTask({
            lastStatus: 'STOPPED',
            desiredStatus: 'STOPPED',
            stopCode: 'EssentialContainerExited',
            stoppedReason: 'Essential container in task exited',
          }),
        ],
      });

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({
        code: 'TASK_NOT_RUNNING',
        details: { lastStatus: 'STOPPED', stoppedReason: 'Essential container in task exited' },
      });
      expect(error.message).toContain('Essential container in task exited');
    });

    it('throws TASK_NOT_RUNNING for a task that is being stopped', async () => {
      given({ tasks: [runningTask({ desiredStatus: 'STOPPED' })] });

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({ code: 'TASK_NOT_RUNNING', details: { desiredStatus: 'STOPPED' } });
    });

    it('throws TASK_NOT_RUNNING, not FARGATE_UNSUPPORTED, for an EC2 task still waiting for a container instance', async () => {
      given({ tasks: [runningTask({ lastStatus: 'PROVISIONING', containerInstanceArn: undefined })] });

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({ code: 'TASK_NOT_RUNNING' });
    });
  });

  describe('Fargate', () => {
    it('throws FARGATE_UNSUPPORTED naming ECS Exec as enabled on the task, and VPC Traffic Mirroring', async () => {
      given({
        tasks: [
          runningTask({ launchType: 'FARGATE', containerInstanceArn: undefined, enableExecuteCommand: true }),
        ],
      });

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({ code: 'FARGATE_UNSUPPORTED', details: { enableExecuteCommand: true } });
      expect(error.hint).toContain('ECS Exec is enabled on this task');
      expect(error.hint).toContain(`aws ecs execute-command --cluster ${CLUSTER} --task ${TASK_ID}`);
      expect(error.hint).toContain('VPC Traffic Mirroring');
      expect(ecs).toHaveReceivedCommandTimes(DescribeContainerInstancesCommand, 0);
    });

    it('says when ECS Exec is not enabled on the Fargate task', async () => {
      given({ tasks: [runningTask({ launchType: 'FARGATE', containerInstanceArn: undefined })] });

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({ code: 'FARGATE_UNSUPPORTED', details: { enableExecuteCommand: false } });
      expect(error.hint).toContain('ECS Exec is not enabled on this task');
    });

    it('throws FARGATE_UNSUPPORTED for a stopped Fargate task, since no state of it could be debugged', async () => {
      given({
        tasks: [
          runningTask({ launchType: 'FARGATE', containerInstanceArn: undefined, lastStatus: 'STOPPED' }),
        ],
      });

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({ code: 'FARGATE_UNSUPPORTED' });
    });

    it('throws FARGATE_UNSUPPORTED for a running task without a container instance whatever its launch type says', async () => {
      given({ tasks: [runningTask({ launchType: 'EC2', containerInstanceArn: undefined })] });

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({ code: 'FARGATE_UNSUPPORTED' });
    });
  });

  describe('the container', () => {
    const sidecars = [container({ name: 'app' }), container({ name: 'envoy', runtimeId: 'ab'.repeat(32) })];

    it('picks the container named with --container among several', async () => {
      given({ tasks: [runningTask({ containers: sidecars })] });

      const target = await resolveTarget(taskTarget({ task: TASK_ARN, container: 'envoy' }));

      expect(target.container).toEqual({ name: 'envoy', runtimeId: 'ab'.repeat(32) });
    });

    it('throws CONTAINER_AMBIGUOUS listing the names when the task has several and none is named', async () => {
      given({ tasks: [runningTask({ containers: sidecars })] });

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({ code: 'CONTAINER_AMBIGUOUS', details: { containers: ['app', 'envoy'] } });
      expect(error.message).toContain('app, envoy');
      expect(error.hint).toContain('--container');
    });

    it('throws CONTAINER_NOT_FOUND listing the names for an unknown --container', async () => {
      given({ tasks: [runningTask({ containers: sidecars })] });

      const error = await caught(() => resolveTarget(taskTarget({ task: TASK_ARN, container: 'nginx' })));

      expect(error).toMatchObject({
        code: 'CONTAINER_NOT_FOUND',
        details: { received: 'nginx', containers: ['app', 'envoy'] },
      });
      expect(error.message).toContain('"nginx"');
      expect(error.message).toContain('app, envoy');
    });

    it('throws TASK_NOT_RUNNING naming the running containers when the chosen one has exited', async () => {
      const exited = [
        container({ name: 'migrate', lastStatus: 'STOPPED', exitCode: 0 }),
        container({ name: 'app' }),
      ];
      given({ tasks: [runningTask({ containers: exited })] });

      const error = await caught(() => resolveTarget(taskTarget({ task: TASK_ARN, container: 'migrate' })));

      expect(error).toMatchObject({
        code: 'TASK_NOT_RUNNING',
        details: { container: 'migrate', running: ['app'] },
      });
      expect(error.message).toContain('exit code 0');
      expect(error.hint).toContain('app');
    });

    it('throws CONTAINER_NOT_FOUND when ECS reports no Docker id for the container', async () => {
      given({ tasks: [runningTask({ containers: [container({ runtimeId: undefined })] })] });

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({
        code: 'CONTAINER_NOT_FOUND',
        details: { container: 'app', runtimeId: null },
      });
    });
  });

  describe('the host', () => {
    it('throws INSTANCE_NOT_MANAGED when ECS no longer knows the container instance', async () => {
      given();
      ecs
        .on(DescribeContainerInstancesCommand)
        .resolves({ containerInstances: [], failures: [{ reason: 'MISSING' }] });

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({
        code: 'INSTANCE_NOT_MANAGED',
        details: { containerInstanceArn: CONTAINER_INSTANCE_ARN },
      });
      expect(error.message).toContain('MISSING');
      expect(ssm).toHaveReceivedCommandTimes(DescribeInstanceInformationCommand, 0);
    });

    it('throws INSTANCE_NOT_MANAGED when Systems Manager does not know the instance', async () => {
      given({ instances: [] });

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({ code: 'INSTANCE_NOT_MANAGED', details: { instanceId: INSTANCE_ID } });
      expect(error.hint).toContain('AmazonSSMManagedInstanceCore');
    });

    it('throws SSM_AGENT_OFFLINE with the agent version and the last ping time', async () => {
      given({ instances: [onlineInstance({ PingStatus: 'ConnectionLost' })] });

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({ code: 'SSM_AGENT_OFFLINE', details: { pingStatus: 'ConnectionLost' } });
      expect(error.message).toContain('ConnectionLost');
      expect(error.message).toContain('3.3.3050.0');
      expect(error.message).toContain('2025-01-01T11:59:00.000Z');
    });

    it('throws PLATFORM_UNSUPPORTED for a Windows node', async () => {
      given({
        instances: [
          onlineInstance({ PlatformType: 'Windows', PlatformName: 'Microsoft Windows Server 2022' }),
        ],
      });

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({ code: 'PLATFORM_UNSUPPORTED', details: { platformType: 'Windows' } });
      expect(error.message).toContain('Linux');
    });

    it('throws PLATFORM_UNSUPPORTED for Bottlerocket, naming the admin container it would need', async () => {
      given({ instances: [onlineInstance({ PlatformName: 'Bottlerocket', PlatformVersion: '1.20.0' })] });

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({ code: 'PLATFORM_UNSUPPORTED' });
      expect(error.message).toContain('Bottlerocket 1.20.0');
      expect(error.hint).toContain('admin container');
    });

    it('throws PLATFORM_UNSUPPORTED, naming the floor, for an SSM agent too old for our schema 2.2 document', async () => {
      given({ instances: [onlineInstance({ AgentVersion: '2.0.767.0' })] });

      const error = await caught(() => resolveTarget(taskTarget()));

      expect(error).toMatchObject({ code: 'PLATFORM_UNSUPPORTED', details: { agentVersion: '2.0.767.0' } });
      expect(error.message).toContain('version 2.0.767.0');
      expect(error.message).toContain('2.0.790.0 or later');
    });

    it('resolves a host whose agent predates ENV_VAR parameters (Flatcar 4152.2.1 ships 3.2.0.0)', async () => {
      given({ instances: [onlineInstance({ AgentVersion: '3.2.0.0' })] });

      await expect(resolveTarget(taskTarget())).resolves.toMatchObject({
        platform: { agentVersion: '3.2.0.0' },
      });
    });
  });

  it('names the failing call and keeps the SDK error as cause when AWS throttles', async () => {
    // ECS models no throttling exception: the SDK surfaces it as an unmodeled error by name.
    const throttled = Object.assign(new Error('Rate exceeded'), {
      name: 'ThrottlingException',
      $metadata: { attempts: 3 },
    });
    ecs.on(DescribeTasksCommand).rejects(throttled);

    const error = await caught(() => resolveTarget(taskTarget()));

    expect(error).toMatchObject({ code: 'AWS_ERROR', cause: throttled });
    expect(error.message).toBe('ecs:DescribeTasks failed: ThrottlingException: Rate exceeded');
    expect(error.hint).toContain('throttled');
  });

  describe('the observer (debug-task doctor)', () => {
    it('hears every check pass, in the order of TARGET_CHECKS, each with what it found', async () => {
      given();
      const passed: [TargetCheckName, string][] = [];

      await resolveTarget(taskTarget(), { passed: (name, detail) => passed.push([name, detail]) });

      expect(passed.map(([name]) => name)).toEqual([...TARGET_CHECKS]);
      expect(Object.fromEntries(passed)).toMatchObject({
        'task-found': expect.stringContaining(TASK_ARN),
        'instance-managed': expect.stringContaining(INSTANCE_ID),
        'agent-version': expect.stringContaining('3.3.3050.0'),
      });
    });

    it('hears the failing check with its error, and no check after it', async () => {
      given({ instances: [onlineInstance({ PingStatus: 'ConnectionLost' })] });
      const passed: TargetCheckName[] = [];
      const failed: [TargetCheckName, unknown][] = [];

      const error = await caught(() =>
        resolveTarget(taskTarget(), {
          passed: (name) => passed.push(name),
          failed: (name, e) => failed.push([name, e]),
        }),
      );

      expect(failed).toEqual([['agent-online', error]]);
      expect(passed).toEqual(TARGET_CHECKS.slice(0, TARGET_CHECKS.indexOf('agent-online')));
    });
  });
});
