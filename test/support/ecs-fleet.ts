import {
  DescribeContainerInstancesCommand,
  DescribeTasksCommand,
  ListTasksCommand,
  ServiceNotFoundException,
  type DescribeContainerInstancesCommandInput,
  type DescribeTasksCommandInput,
  type ListTasksCommandInput,
  type Task,
} from '@aws-sdk/client-ecs';
import {
  DescribeInstanceInformationCommand,
  InvalidInstanceId,
  type DescribeInstanceInformationCommandInput,
  type InstanceInformation,
} from '@aws-sdk/client-ssm';
import { aws } from './aws';
import {
  ACCOUNT,
  CLUSTER,
  CONTAINER_INSTANCE_ARN,
  INSTANCE_ID,
  REGION,
  SERVICE,
  container,
  fleetInstanceId,
  fleetRuntimeId,
  fleetTaskArn,
  onlineInstance,
  runningTask,
} from './fixtures';

/**
 * ECS and Systems Manager as the resolvers see them, on the shared stubs (test/support/aws.ts).
 */

/** The three answers of one resolvable task; each test changes the one it is about. */
export function givenTask({
  tasks = [runningTask()],
  failures = [],
  instanceId = INSTANCE_ID,
  instances = [onlineInstance()],
}: {
  tasks?: Task[];
  failures?: { arn?: string; reason?: string }[];
  instanceId?: string;
  instances?: InstanceInformation[];
} = {}): void {
  aws.ecs.on(DescribeTasksCommand).resolves({ tasks, failures });
  aws.ecs.on(DescribeContainerInstancesCommand).resolves({
    containerInstances: [{ containerInstanceArn: CONTAINER_INSTANCE_ARN, ec2InstanceId: instanceId }],
  });
  aws.ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: instances });
}

export const fleetContainerInstanceArn = (j: number) =>
  `arn:aws:ecs:${REGION}:${ACCOUNT}:container-instance/${CLUSTER}/${(0xc1000 + j).toString(16).padStart(32, '0')}`;

export interface FleetOptions {
  task?: (i: number) => Partial<Task>;
  /** null: SSM does not know host j. */
  info?: (j: number) => Partial<InstanceInformation> | null;
  /** Tasks ListTasks lists but DescribeTasks no longer knows (stopped in between). */
  vanished?: number[];
  /** Container instances ECS no longer knows. */
  deregistered?: number[];
  /** Instances SSM refuses with InvalidInstanceId instead of leaving them out. */
  invalid?: number[];
  /** Most results SSM puts in one page, whatever MaxResults says (to force NextToken). */
  ssmPageCap?: number;
}

/**
 * A service SERVICE of N running tasks spread round-robin over M hosts (task i on host i % M),
 * answered like the services do, limits included: ListTasks pages (default and maximum 100) with
 * nextToken, DescribeTasks/DescribeContainerInstances refuse more than 100 ids and report unknown
 * ones in failures[], DescribeInstanceInformation refuses MaxResults outside 5..50 or more than 100
 * filter values, and pages by MaxResults (default 10) with NextToken.
 */
export function givenService(tasks: number, instances: number, options: FleetOptions = {}): void {
  const arns = Array.from({ length: tasks }, (_, i) => fleetTaskArn(i));
  const byArn = new Map(
    arns.map((arn, i) => [
      arn,
      runningTask({
        taskArn: arn,
        containerInstanceArn: fleetContainerInstanceArn(i % instances),
        containers: [container({ runtimeId: fleetRuntimeId(i) })],
        ...options.task?.(i),
      }),
    ]),
  );
  for (const i of options.vanished ?? []) byArn.delete(fleetTaskArn(i));
  const ciToInstance = new Map(
    Array.from(
      { length: instances },
      (_, j) => [fleetContainerInstanceArn(j), fleetInstanceId(j)] as const,
    ).filter((_, j) => !(options.deregistered ?? []).includes(j)),
  );
  const infos = new Map<string, InstanceInformation>();
  for (let j = 0; j < instances; j++) {
    const extra = options.info?.(j);
    if (extra !== null) {
      infos.set(fleetInstanceId(j), onlineInstance({ InstanceId: fleetInstanceId(j), ...extra }));
    }
  }
  const invalid = new Set((options.invalid ?? []).map(fleetInstanceId));

  aws.ecs.on(ListTasksCommand).callsFake((input: ListTasksCommandInput) => {
    if (input.serviceName !== SERVICE)
      throw new ServiceNotFoundException({ message: 'Service not found.', $metadata: {} });
    const size = input.maxResults ?? 100;
    if (size < 1 || size > 100) throw invalidParameter('maxResults must be 1-100');
    const start = input.nextToken ? Number(input.nextToken.replace('page-', '')) : 0;
    const end = start + size;
    return { taskArns: arns.slice(start, end), ...(end < arns.length && { nextToken: `page-${end}` }) };
  });
  aws.ecs.on(DescribeTasksCommand).callsFake((input: DescribeTasksCommandInput) => {
    const ids = input.tasks ?? [];
    if (ids.length > 100) throw invalidParameter('tasks can have at most 100 items');
    return {
      tasks: ids.filter((arn) => byArn.has(arn)).map((arn) => byArn.get(arn)),
      failures: ids.filter((arn) => !byArn.has(arn)).map((arn) => ({ arn, reason: 'MISSING' })),
    };
  });
  aws.ecs.on(DescribeContainerInstancesCommand).callsFake((input: DescribeContainerInstancesCommandInput) => {
    const ids = input.containerInstances ?? [];
    if (ids.length > 100) throw invalidParameter('containerInstances can have at most 100 items');
    return {
      containerInstances: ids
        .filter((arn) => ciToInstance.has(arn))
        .map((arn) => ({ containerInstanceArn: arn, ec2InstanceId: ciToInstance.get(arn) })),
      failures: ids.filter((arn) => !ciToInstance.has(arn)).map((arn) => ({ arn, reason: 'MISSING' })),
    };
  });
  aws.ssm
    .on(DescribeInstanceInformationCommand)
    .callsFake((input: DescribeInstanceInformationCommandInput) => {
      const ids = input.Filters?.find((f) => f.Key === 'InstanceIds')?.Values ?? [];
      const size = input.MaxResults ?? 10;
      if (size < 5 || size > 50) throw validation('MaxResults must be 5-50');
      if (ids.length > 100) throw validation('InstanceIds filter takes at most 100 values');
      if (ids.some((id) => invalid.has(id))) {
        throw new InvalidInstanceId({ message: 'Instances not valid', $metadata: {} });
      }
      const all = ids.filter((id) => infos.has(id)).map((id) => infos.get(id) as InstanceInformation);
      const page = Math.min(size, options.ssmPageCap ?? size);
      const start = input.NextToken ? Number(input.NextToken.replace('ssm-', '')) : 0;
      const end = start + page;
      return {
        InstanceInformationList: all.slice(start, end),
        ...(end < all.length && { NextToken: `ssm-${end}` }),
      };
    });
}

/** Control-plane calls per API, as the stubs saw them. */
export function resolveCallsSeen(): Record<string, number> {
  return {
    'ecs:ListTasks': aws.ecs.commandCalls(ListTasksCommand).length,
    'ecs:DescribeTasks': aws.ecs.commandCalls(DescribeTasksCommand).length,
    'ecs:DescribeContainerInstances': aws.ecs.commandCalls(DescribeContainerInstancesCommand).length,
    'ssm:DescribeInstanceInformation': aws.ssm.commandCalls(DescribeInstanceInformationCommand).length,
  };
}

function invalidParameter(message: string): Error {
  return Object.assign(new Error(message), { name: 'InvalidParameterException', $metadata: {} });
}

function validation(message: string): Error {
  return Object.assign(new Error(message), { name: 'ValidationException', $metadata: {} });
}
