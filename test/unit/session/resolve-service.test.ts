import {
  AccessDeniedException,
  ClusterNotFoundException,
  DescribeContainerInstancesCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  type DescribeContainerInstancesCommandInput,
  type DescribeTasksCommandInput,
  type ListTasksCommandInput,
} from '@aws-sdk/client-ecs';
import {
  DescribeInstanceInformationCommand,
  SSMClient,
  type DescribeInstanceInformationCommandInput,
} from '@aws-sdk/client-ssm';
import { fleetCallBudget } from '../../../lib/session/batches';
import { resolveService, type FleetResolution } from '../../../lib/session/resolve-service';
import { resolveTarget } from '../../../lib/session/resolve-task';
import { aws, useAwsMocks } from '../../support/aws';
import {
  fleetContainerInstanceArn as containerInstanceArn,
  givenService as givenFleet,
  resolveCallsSeen as callsSeen,
  type FleetOptions,
} from '../../support/ecs-fleet';
import {
  ACCOUNT,
  CLUSTER,
  CLUSTER_ARN,
  REGION,
  SERVICE,
  caught,
  container,
  fleetInstanceId as instanceId,
  fleetTaskArn as taskArn,
} from '../../support/fixtures';

useAwsMocks();

const ecs = aws.ecs;
const ssm = aws.ssm;

function inputsOf<T>(client: typeof ecs | typeof ssm, command: new (input: T) => unknown): T[] {
  return client.commandCalls(command as never).map((c) => c.args[0].input as T);
}

describe('resolveService', () => {
  it('resolves every running task of a service to a target shaped like the single resolver’s', async () => {
    givenFleet(3, 2);

    const fleet = await resolveService({ cluster: CLUSTER, service: SERVICE });

    expect(fleet).toMatchObject({
      clusterArn: CLUSTER_ARN,
      service: SERVICE,
      skipped: [],
      listed: 3,
      leftOut: 0,
    });
    expect(fleet.targets.map((t) => [t.taskArn, t.instanceId])).toEqual([
      [taskArn(0), instanceId(0)],
      [taskArn(1), instanceId(1)],
      [taskArn(2), instanceId(0)],
    ]);
    const single = await resolveTarget({ task: taskArn(2) });
    expect(fleet.targets[2]).toEqual(single);
  });

  describe('batches its calls to the APIs’ limits, so calls grow with N/100, not N', () => {
    // [tasks N, instances M, ListTasks, DescribeTasks, DescribeContainerInstances, DescribeInstanceInformation]
    const cases: [number, number, number, number, number, number][] = [
      [1, 1, 1, 1, 1, 1],
      [100, 1, 1, 1, 1, 1],
      [100, 10, 1, 1, 1, 1],
      [100, 100, 1, 1, 1, 2],
      [101, 1, 2, 2, 1, 1],
      [101, 10, 2, 2, 1, 1],
      [101, 100, 2, 2, 1, 2],
      [1000, 1, 10, 10, 1, 1],
      [1000, 10, 10, 10, 1, 1],
      [1000, 100, 10, 10, 1, 2],
    ];

    it.each(cases)(
      'resolves %i tasks on %i instances with %i ListTasks, %i DescribeTasks, %i DescribeContainerInstances and %i DescribeInstanceInformation',
      async (
        tasks,
        instances,
        listTasks,
        describeTasks,
        describeContainerInstances,
        describeInstanceInformation,
      ) => {
        givenFleet(tasks, instances);

        const fleet = await resolveService({ cluster: CLUSTER, service: SERVICE, maxTasks: tasks });

        const expected = {
          'ecs:ListTasks': listTasks,
          'ecs:DescribeTasks': describeTasks,
          'ecs:DescribeContainerInstances': describeContainerInstances,
          'ssm:DescribeInstanceInformation': describeInstanceInformation,
        };
        expect(callsSeen()).toEqual(expected);
        expect(fleet.calls).toEqual(expected);
        const { 'ssm:SendCommand': _send, resolve: budget } = fleetCallBudget(tasks, instances);
        expect(Object.values(expected).reduce((a, b) => a + b)).toBe(budget);
        expect(fleet.targets).toHaveLength(tasks);
        expect(new Set(fleet.targets.map((t) => t.instanceId)).size).toBe(instances);
      },
    );

    it('fans 1,000 tasks on 100 instances out in 23 calls before SendCommand, 25 with it: within 40', async () => {
      givenFleet(1000, 100);

      const fleet = await resolveService({ cluster: CLUSTER, service: SERVICE, maxTasks: 1000 });

      const resolveCalls = Object.values(fleet.calls).reduce((a, b) => a + b);
      expect(resolveCalls).toBe(23);
      const sendCommands = Math.ceil(new Set(fleet.targets.map((t) => t.instanceId)).size / 50);
      expect(sendCommands).toBe(2);
      expect(resolveCalls + sendCommands).toBeLessThanOrEqual(40);
    });

    it('never puts more ids in one call than the API takes', async () => {
      givenFleet(1000, 100);

      await resolveService({ cluster: CLUSTER, service: SERVICE, maxTasks: 1000 });

      for (const input of inputsOf<ListTasksCommandInput>(ecs, ListTasksCommand)) {
        expect(input).toMatchObject({
          cluster: CLUSTER,
          serviceName: SERVICE,
          desiredStatus: 'RUNNING',
          maxResults: 100,
        });
      }
      const described = inputsOf<DescribeTasksCommandInput>(ecs, DescribeTasksCommand);
      expect(described.every((i) => (i.tasks ?? []).length <= 100)).toBe(true);
      expect(described.flatMap((i) => i.tasks ?? [])).toHaveLength(1000);
      const instances = inputsOf<DescribeContainerInstancesCommandInput>(
        ecs,
        DescribeContainerInstancesCommand,
      );
      expect(instances.map((i) => i.containerInstances?.length)).toEqual([100]);
      const managed = inputsOf<DescribeInstanceInformationCommandInput>(
        ssm,
        DescribeInstanceInformationCommand,
      );
      expect(managed.map((i) => i.Filters?.[0].Values?.length)).toEqual([50, 50]);
      expect(managed.every((i) => i.MaxResults === 50 && i.Filters?.[0].Key === 'InstanceIds')).toBe(true);
    });

    it('looks each container instance and managed instance up once, however many tasks it carries', async () => {
      givenFleet(300, 3);

      await resolveService({ cluster: CLUSTER, service: SERVICE, maxTasks: 300 });

      const instances = inputsOf<DescribeContainerInstancesCommandInput>(
        ecs,
        DescribeContainerInstancesCommand,
      );
      expect(instances.flatMap((i) => i.containerInstances ?? [])).toEqual(
        [0, 1, 2].map(containerInstanceArn),
      );
      const managed = inputsOf<DescribeInstanceInformationCommandInput>(
        ssm,
        DescribeInstanceInformationCommand,
      );
      expect(managed.flatMap((i) => i.Filters?.[0].Values)).toEqual([0, 1, 2].map(instanceId));
    });
  });

  describe('pagination', () => {
    it('follows ListTasks’ nextToken until the last page', async () => {
      givenFleet(250, 5);

      const fleet = await resolveService({ cluster: CLUSTER, service: SERVICE, maxTasks: 250 });

      expect(inputsOf<ListTasksCommandInput>(ecs, ListTasksCommand).map((i) => i.nextToken)).toEqual([
        undefined,
        'page-100',
        'page-200',
      ]);
      expect(fleet.listed).toBe(250);
    });

    it('follows DescribeInstanceInformation’s NextToken when SSM returns fewer nodes than asked', async () => {
      givenFleet(60, 60, { ssmPageCap: 20 });

      const fleet = await resolveService({ cluster: CLUSTER, service: SERVICE });

      const managed = inputsOf<DescribeInstanceInformationCommandInput>(
        ssm,
        DescribeInstanceInformationCommand,
      );
      // The two batches run concurrently: look at each batch's own sequence of pages.
      const pagesOf = (size: number) =>
        managed.filter((i) => i.Filters?.[0].Values?.length === size).map((i) => i.NextToken);
      expect(pagesOf(50)).toEqual([undefined, 'ssm-20', 'ssm-40']);
      expect(pagesOf(10)).toEqual([undefined]);
      expect(fleet.calls['ssm:DescribeInstanceInformation']).toBe(4);
      expect(fleet.targets).toHaveLength(60);
      expect(fleet.skipped).toEqual([]);
    });
  });

  describe('per-task problems skip the task, with the single resolver’s code and message', () => {
    const twoContainers = [
      container({ name: 'app' }),
      container({ name: 'envoy', runtimeId: 'ab'.repeat(32) }),
    ];
    const problems: [string, FleetOptions, string][] = [
      [
        'a Fargate task',
        { task: (i) => (i === 1 ? { launchType: 'FARGATE', containerInstanceArn: undefined } : {}) },
        'FARGATE_UNSUPPORTED',
      ],
      [
        'a task still starting',
        { task: (i) => (i === 1 ? { lastStatus: 'PENDING' } : {}) },
        'TASK_NOT_RUNNING',
      ],
      ['a task stopped since it was listed', { vanished: [1] }, 'TASK_NOT_FOUND'],
      [
        'a task with several containers',
        { task: (i) => (i === 1 ? { containers: twoContainers } : {}) },
        'CONTAINER_AMBIGUOUS',
      ],
      [
        'a task whose container has exited',
        {
          task: (i) => (i === 1 ? { containers: [container({ lastStatus: 'STOPPED', exitCode: 137 })] } : {}),
        },
        'TASK_NOT_RUNNING',
      ],
      ['a container instance ECS no longer knows', { deregistered: [1] }, 'INSTANCE_NOT_MANAGED'],
      [
        'a host Systems Manager does not manage',
        { info: (j) => (j === 1 ? null : {}) },
        'INSTANCE_NOT_MANAGED',
      ],
      [
        'a host whose agent is offline',
        { info: (j) => (j === 1 ? { PingStatus: 'ConnectionLost' } : {}) },
        'SSM_AGENT_OFFLINE',
      ],
      [
        'a Bottlerocket host',
        { info: (j) => (j === 1 ? { PlatformName: 'Bottlerocket' } : {}) },
        'PLATFORM_UNSUPPORTED',
      ],
      [
        'a host with an old SSM agent',
        { info: (j) => (j === 1 ? { AgentVersion: '2.0.767.0' } : {}) },
        'PLATFORM_UNSUPPORTED',
      ],
    ];

    it.each(problems)('skips %s (%s) and resolves the others', async (_what, options, code) => {
      givenFleet(4, 4, options);

      const fleet = await resolveService({ cluster: CLUSTER, service: SERVICE });

      expect(fleet.targets.map((t) => t.taskArn)).toEqual([taskArn(0), taskArn(2), taskArn(3)]);
      expect(fleet.skipped).toEqual([{ taskArn: taskArn(1), code, message: expect.any(String) }]);
      const single = await caught(() => resolveTarget({ task: taskArn(1) }));
      expect(fleet.skipped[0]).toEqual({ taskArn: taskArn(1), code: single.code, message: single.message });
      expect(fleet.leftOut).toBe(0);
    });

    it('skips a task without the container named with --container', async () => {
      givenFleet(2, 1, { task: (i) => (i === 0 ? { containers: [container({ name: 'envoy' })] } : {}) });

      const fleet = await resolveService({ cluster: CLUSTER, service: SERVICE, container: 'app' });

      expect(fleet.targets.map((t) => t.taskArn)).toEqual([taskArn(1)]);
      expect(fleet.skipped).toEqual([
        {
          taskArn: taskArn(0),
          code: 'CONTAINER_NOT_FOUND',
          message: 'Task has no container named "app" (it has: envoy).',
        },
      ]);
    });

    it('skips every task of a host that is offline, not the other hosts’ tasks', async () => {
      givenFleet(20, 4, { info: (j) => (j === 3 ? { PingStatus: 'ConnectionLost' } : {}) });

      const fleet = await resolveService({ cluster: CLUSTER, service: SERVICE });

      expect(fleet.targets).toHaveLength(15);
      expect(fleet.skipped).toHaveLength(5);
      expect(new Set(fleet.skipped.map((s) => s.code))).toEqual(new Set(['SSM_AGENT_OFFLINE']));
      expect(fleet.targets.some((t) => t.instanceId === instanceId(3))).toBe(false);
    });

    it('isolates an instance SSM refuses as invalid by splitting its batch, instead of failing the fleet', async () => {
      givenFleet(50, 50, { invalid: [7] });

      const fleet = await resolveService({ cluster: CLUSTER, service: SERVICE });

      expect(fleet.targets).toHaveLength(49);
      expect(fleet.skipped).toEqual([
        {
          taskArn: taskArn(7),
          code: 'INSTANCE_NOT_MANAGED',
          message: `Instance ${instanceId(7)} is not a Systems Manager managed node.`,
        },
      ]);
      // 1 refused batch of 50, then halves: 25 (refused) + 25, 13 (refused) + 12, ... down to the one id.
      expect(fleet.calls['ssm:DescribeInstanceInformation']).toBeLessThanOrEqual(
        1 + 2 * Math.ceil(Math.log2(50)),
      );
    });
  });

  describe('--max-tasks', () => {
    it('caps the targets at 100 by default and says how many tasks were left out', async () => {
      givenFleet(1000, 100);

      const fleet = await resolveService({ cluster: CLUSTER, service: SERVICE });

      expect(fleet).toMatchObject({ listed: 1000, maxTasks: 100, leftOut: 900, skipped: [] });
      expect(fleet.targets).toHaveLength(100);
      expect(fleet.targets[0].taskArn).toBe(taskArn(0));
    });

    it('describes only as many tasks as the cap needs: 1,000 tasks, cap 100 -> one DescribeTasks', async () => {
      givenFleet(1000, 100);

      const fleet = await resolveService({ cluster: CLUSTER, service: SERVICE });

      expect(fleet.calls).toEqual({
        'ecs:ListTasks': 10,
        'ecs:DescribeTasks': 1,
        'ecs:DescribeContainerInstances': 1,
        'ssm:DescribeInstanceInformation': 2,
      });
    });

    it('looks up only the hosts of the tasks it keeps', async () => {
      givenFleet(20, 20);

      const fleet = await resolveService({ cluster: CLUSTER, service: SERVICE, maxTasks: 5 });

      expect(fleet).toMatchObject({ listed: 20, leftOut: 15 });
      expect(fleet.targets.map((t) => t.taskArn)).toEqual([0, 1, 2, 3, 4].map(taskArn));
      const instances = inputsOf<DescribeContainerInstancesCommandInput>(
        ecs,
        DescribeContainerInstancesCommand,
      );
      expect(instances.flatMap((i) => i.containerInstances ?? [])).toHaveLength(5);
    });

    it('takes further tasks in place of skipped ones until the cap is reached', async () => {
      givenFleet(250, 250, {
        task: (i) => (i < 150 ? { launchType: 'FARGATE', containerInstanceArn: undefined } : {}),
      });

      const fleet = await resolveService({ cluster: CLUSTER, service: SERVICE, maxTasks: 50 });

      expect(fleet.targets.map((t) => t.taskArn)).toEqual(
        Array.from({ length: 50 }, (_, i) => taskArn(150 + i)),
      );
      expect(fleet.skipped).toHaveLength(150);
      expect(fleet.leftOut).toBe(50);
      expect(fleet.calls['ecs:DescribeTasks']).toBe(2);
    });

    it.each([0, -1, 1.5, 1001])(
      'throws INVALID_ARGUMENT for --max-tasks %p, before any call',
      async (maxTasks) => {
        givenFleet(1, 1);

        const error = await caught(() => resolveService({ cluster: CLUSTER, service: SERVICE, maxTasks }));

        expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { received: maxTasks } });
        expect(ecs).toHaveReceivedCommandTimes(ListTasksCommand, 0);
      },
    );
  });

  describe('whole-fleet failures', () => {
    it('throws TASK_NOT_FOUND naming the service when ECS does not know it', async () => {
      givenFleet(3, 1);

      const error = await caught(() => resolveService({ cluster: CLUSTER, service: 'api' }));

      expect(error).toMatchObject({ code: 'TASK_NOT_FOUND', details: { cluster: CLUSTER, service: 'api' } });
      expect(error.message).toContain('Service "api" does not exist');
      expect(error.hint).toContain(`aws ecs list-services --cluster ${CLUSTER}`);
    });

    it('throws TASK_NOT_FOUND naming the cluster and the service when the cluster does not exist', async () => {
      ecs
        .on(ListTasksCommand)
        .rejects(new ClusterNotFoundException({ message: 'Cluster not found.', $metadata: {} }));

      const error = await caught(() => resolveService({ cluster: 'nope', service: SERVICE }));

      expect(error).toMatchObject({ code: 'TASK_NOT_FOUND' });
      expect(error.message).toContain('Cluster "nope" does not exist');
      expect(error.message).toContain(`service "${SERVICE}"`);
    });

    it('throws TASK_NOT_FOUND naming the service when it has no running task', async () => {
      givenFleet(0, 1);

      const error = await caught(() => resolveService({ cluster: CLUSTER, service: SERVICE }));

      expect(error).toMatchObject({ code: 'TASK_NOT_FOUND', details: { service: SERVICE } });
      expect(error.message).toBe(`Service "${SERVICE}" in cluster "${CLUSTER}" has no running tasks.`);
      expect(ecs).toHaveReceivedCommandTimes(ListTasksCommand, 1);
      expect(ecs).toHaveReceivedCommandTimes(DescribeTasksCommand, 0);
    });

    it('throws the common reason when no task of the service can be debugged, with the counts', async () => {
      givenFleet(3, 1, { task: () => ({ launchType: 'FARGATE', containerInstanceArn: undefined }) });

      const error = await caught(() => resolveService({ cluster: CLUSTER, service: SERVICE }));

      expect(error).toMatchObject({
        code: 'FARGATE_UNSUPPORTED',
        details: { service: SERVICE, listed: 3, reasons: { FARGATE_UNSUPPORTED: 3 } },
      });
      expect(error.message).toContain(
        'None of the 3 running tasks of service "web" can be debugged (3 FARGATE_UNSUPPORTED)',
      );
      expect(error.hint).toContain('VPC Traffic Mirroring');
      expect(ecs).toHaveReceivedCommandTimes(DescribeContainerInstancesCommand, 0);
    });

    it('throws AWS_ERROR naming the call when access is denied', async () => {
      givenFleet(3, 1);
      ecs
        .on(DescribeTasksCommand)
        .rejects(new AccessDeniedException({ message: 'not authorized', $metadata: {} }));

      const error = await caught(() => resolveService({ cluster: CLUSTER, service: SERVICE }));

      expect(error).toMatchObject({ code: 'AWS_ERROR', details: { call: 'ecs:DescribeTasks' } });
      expect(error.message).toBe('ecs:DescribeTasks failed: AccessDeniedException: not authorized');
    });

    it('throws AWS_ERROR naming the call when AWS still throttles after the SDK’s retries', async () => {
      givenFleet(3, 1);
      const throttled = Object.assign(new Error('Rate exceeded'), {
        name: 'ThrottlingException',
        $metadata: { attempts: 3 },
      });
      ssm.on(DescribeInstanceInformationCommand).rejects(throttled);

      const error = await caught(() => resolveService({ cluster: CLUSTER, service: SERVICE }));

      expect(error).toMatchObject({ code: 'AWS_ERROR', cause: throttled });
      expect(error.message).toBe(
        'ssm:DescribeInstanceInformation failed: ThrottlingException: Rate exceeded',
      );
      expect(error.hint).toContain('throttled');
    });
  });

  describe('input', () => {
    it('throws INVALID_ARGUMENT for a cluster outside ALLOWED_CLUSTERS, before any call', async () => {
      process.env.ALLOWED_CLUSTERS = 'staging';

      const error = await caught(() => resolveService({ cluster: CLUSTER, service: SERVICE }));

      expect(error).toMatchObject({
        code: 'INVALID_ARGUMENT',
        details: { cluster: CLUSTER, allowed: ['staging'] },
      });
      expect(ecs).toHaveReceivedCommandTimes(ListTasksCommand, 0);
    });

    it.each([
      ['a service name with spaces', { cluster: CLUSTER, service: 'my service' }],
      ['a cluster name with a slash', { cluster: 'a/b', service: SERVICE }],
      [
        'a service ARN of another cluster',
        { cluster: CLUSTER, service: `arn:aws:ecs:${REGION}:${ACCOUNT}:service/other/${SERVICE}` },
      ],
    ])('throws INVALID_ARGUMENT for %s', async (_what, input) => {
      const error = await caught(() => resolveService(input));

      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(ecs).toHaveReceivedCommandTimes(ListTasksCommand, 0);
    });

    it('accepts a service ARN and lists the tasks by the service’s name', async () => {
      givenFleet(2, 1);

      const fleet: FleetResolution = await resolveService({
        cluster: CLUSTER_ARN,
        service: `arn:aws:ecs:${REGION}:${ACCOUNT}:service/${CLUSTER}/${SERVICE}`,
      });

      expect(fleet.service).toBe(SERVICE);
      expect(ecs).toHaveReceivedCommandWith(ListTasksCommand, { cluster: CLUSTER_ARN, serviceName: SERVICE });
    });

    it('uses the clients it is given', async () => {
      givenFleet(2, 1);
      const own = { ecs: new ECSClient({}), ssm: new SSMClient({}) };

      const fleet = await resolveService({ cluster: CLUSTER, service: SERVICE }, own);

      expect(fleet.targets).toHaveLength(2);
    });
  });
});
