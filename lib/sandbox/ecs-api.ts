import { createHash } from 'node:crypto';
import {
  AwsApiError,
  optionalInteger,
  optionalString,
  optionalStringList,
  type JsonObject,
  type JsonService,
} from './aws-json-server';
import type { DockerContainerDetails, DockerEngine } from './docker-api';

/**
 * ECS over the local Docker engine: containers that carry the ECS agent's own labels are the
 * tasks, this machine is the one container instance. Every call reads the engine afresh.
 *
 * Sandbox simplifications: every cluster exists (there is no ClusterNotFoundException; a cluster
 * without containers simply has no tasks), and the one instance belongs to whichever cluster a
 * request names (ListContainerInstances lists it only in clusters that have tasks on the engine).
 */

/** Labels the ECS agent puts on every container it starts (agent/engine/docker_task_engine.go). */
export const ECS_LABELS = {
  taskArn: 'com.amazonaws.ecs.task-arn',
  containerName: 'com.amazonaws.ecs.container-name',
  cluster: 'com.amazonaws.ecs.cluster',
  family: 'com.amazonaws.ecs.task-definition-family',
  version: 'com.amazonaws.ecs.task-definition-version',
  /** Not an agent label: how the sandbox says which service a task belongs to. */
  serviceName: 'com.amazonaws.ecs.service-name',
} as const;

/**
 * Not an agent label either: `debug-task.sandbox.tag.<key>=<value>` on a task's container is one of
 * its tags in the stand-in (DescribeTasks with `include: TAGS`), as ECS keeps a task's tags.
 */
export const SANDBOX_TAG_LABEL_PREFIX = 'debug-task.sandbox.tag.';

/** The agent's pause container of awsvpc tasks; ECS never lists it among a task's containers. */
const PAUSE_CONTAINER = '~internal~ecs~pause';

export interface EcsTaskLabelInput {
  taskArn: string;
  containerName: string;
  cluster: string;
  family?: string;
  revision?: number;
  serviceName?: string;
}

/** The labels that make a container a task of the stand-in (for `docker run --label`). */
export function ecsTaskLabels(input: EcsTaskLabelInput): Record<string, string> {
  return {
    [ECS_LABELS.taskArn]: input.taskArn,
    [ECS_LABELS.containerName]: input.containerName,
    [ECS_LABELS.cluster]: input.cluster,
    ...(input.family && { [ECS_LABELS.family]: input.family }),
    ...(input.revision !== undefined && { [ECS_LABELS.version]: String(input.revision) }),
    ...(input.serviceName && { [ECS_LABELS.serviceName]: input.serviceName }),
  };
}

/** The one container instance: this machine. */
export interface SandboxInstance {
  readonly region: string;
  readonly accountId: string;
  /** `i-0` + 16 hex characters, stable for the stand-in's life. */
  readonly ec2InstanceId: string;
  /** 32 hex characters, the id part of the container instance ARN. */
  readonly containerInstanceId: string;
  readonly registeredAt: Date;
}

export interface SandboxTask {
  readonly taskArn: string;
  readonly taskId: string;
  readonly clusterName: string;
  readonly family?: string;
  readonly serviceName?: string;
  /** The task's tags (from SANDBOX_TAG_LABEL_PREFIX labels), as DescribeTasks gives them with TAGS. */
  readonly tags: { key: string; value: string }[];
  /** Its definition's network mode, as Docker runs its containers (host, awsvpc, bridge). */
  readonly networkMode: string;
  /** The Task shape of DescribeTasks. */
  readonly task: JsonObject & { lastStatus: string; desiredStatus: string };
}

type EcsStatus = 'PENDING' | 'RUNNING' | 'STOPPED';

export function clusterNameOf(cluster: string | undefined): string {
  if (!cluster) return 'default';
  return cluster.startsWith('arn:') ? cluster.slice(cluster.lastIndexOf('/') + 1) : cluster;
}

export function containerInstanceArn(instance: SandboxInstance, cluster: string): string {
  return `arn:aws:ecs:${instance.region}:${instance.accountId}:container-instance/${cluster}/${instance.containerInstanceId}`;
}

/** Groups labelled containers into tasks, shaped as DescribeTasks returns them. */
export function tasksFromContainers(
  containers: readonly DockerContainerDetails[],
  instance: SandboxInstance,
): SandboxTask[] {
  const byArn = new Map<string, DockerContainerDetails[]>();
  for (const container of containers) {
    const arn = container.Config.Labels?.[ECS_LABELS.taskArn];
    if (!arn) continue;
    byArn.set(arn, [...(byArn.get(arn) ?? []), container]);
  }
  return [...byArn.entries()]
    .map(([arn, members]) => toTask(arn, members, instance))
    .sort((a, b) => a.taskArn.localeCompare(b.taskArn));
}

function toTask(taskArn: string, members: DockerContainerDetails[], instance: SandboxInstance): SandboxTask {
  // Labels are per container; a task's value is the first any of its containers carries.
  const label = (key: string): string | undefined =>
    members.map((c) => c.Config.Labels?.[key]).find((v) => v);
  const clusterLabel = label(ECS_LABELS.cluster);
  const clusterName = clusterNameOf(clusterLabel);
  // ARNs of the task's own region and account, when its ARN names them.
  const arnParts = /^arn:(aws[a-z-]*):ecs:([a-z0-9-]+):([0-9]{12}):/.exec(taskArn);
  const partition = arnParts?.[1] ?? 'aws';
  const region = arnParts?.[2] ?? instance.region;
  const account = arnParts?.[3] ?? instance.accountId;
  const clusterArn = clusterLabel?.startsWith('arn:')
    ? clusterLabel
    : `arn:${partition}:ecs:${region}:${account}:cluster/${clusterName}`;
  const taskId = taskArn.slice(taskArn.lastIndexOf('/') + 1);
  const family = label(ECS_LABELS.family);
  const revision = label(ECS_LABELS.version);
  const serviceName = label(ECS_LABELS.serviceName);

  const visible = members
    .filter((c) => c.Config.Labels?.[ECS_LABELS.containerName] !== PAUSE_CONTAINER)
    .sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
  const containers = visible.map((c) =>
    toContainer(c, taskArn, clusterName, taskId, region, account, partition),
  );
  const statuses = visible.map(containerStatus);
  const lastStatus: EcsStatus = statuses.includes('RUNNING')
    ? 'RUNNING'
    : statuses.includes('PENDING')
      ? 'PENDING'
      : 'STOPPED';
  const createdAt = earliest(members.map((c) => c.Created));
  const startedAt = earliest(members.map((c) => c.State.StartedAt));
  const stoppedAt = lastStatus === 'STOPPED' ? latest(members.map((c) => c.State.FinishedAt)) : undefined;

  const tags = Object.entries(
    Object.assign({}, ...members.map((c) => c.Config.Labels ?? {})) as Record<string, string>,
  )
    .filter(([key]) => key.startsWith(SANDBOX_TAG_LABEL_PREFIX))
    .map(([key, value]) => ({ key: key.slice(SANDBOX_TAG_LABEL_PREFIX.length), value }))
    .sort((a, b) => a.key.localeCompare(b.key));
  const docker = visible[0]?.HostConfig?.NetworkMode ?? 'bridge';
  // awsvpc tasks' containers share the pause container's network (`container:<id>`).
  const networkMode = docker === 'host' ? 'host' : docker.startsWith('container:') ? 'awsvpc' : 'bridge';

  return {
    taskArn,
    taskId,
    clusterName,
    family,
    serviceName,
    tags,
    networkMode,
    task: {
      taskArn,
      clusterArn,
      ...(family &&
        revision && {
          taskDefinitionArn: `arn:${partition}:ecs:${region}:${account}:task-definition/${family}:${revision}`,
        }),
      containerInstanceArn: containerInstanceArn(instance, clusterName),
      launchType: 'EC2',
      lastStatus,
      desiredStatus: lastStatus === 'STOPPED' ? 'STOPPED' : 'RUNNING',
      containers,
      group: serviceName ? `service:${serviceName}` : `family:${family ?? 'sandbox'}`,
      availabilityZone: `${region}a`,
      connectivity: 'CONNECTED',
      enableExecuteCommand: false,
      version: 1,
      attachments: [],
      overrides: { containerOverrides: [] },
      ...(createdAt && {
        createdAt,
        connectivityAt: createdAt,
        pullStartedAt: createdAt,
        pullStoppedAt: createdAt,
      }),
      ...(startedAt && lastStatus !== 'PENDING' && { startedAt }),
      ...(stoppedAt && {
        stoppedAt,
        executionStoppedAt: stoppedAt,
        stopCode: 'EssentialContainerExited',
        stoppedReason: 'Essential container in task exited',
      }),
    },
  };
}

function toContainer(
  c: DockerContainerDetails,
  taskArn: string,
  cluster: string,
  taskId: string,
  region: string,
  account: string,
  partition: string,
): JsonObject {
  const status = containerStatus(c);
  const addresses = Object.values(c.NetworkSettings.Networks ?? {})
    .map((n) => n.IPAddress)
    .filter((ip) => ip);
  return {
    // Derived from the Docker id, so it is the same on every call.
    containerArn: `arn:${partition}:ecs:${region}:${account}:container/${cluster}/${taskId}/${uuidFrom(c.Id)}`,
    taskArn,
    name: nameOf(c),
    image: c.Config.Image,
    runtimeId: c.Id,
    lastStatus: status,
    ...(status === 'STOPPED' && { exitCode: c.State.ExitCode }),
    networkBindings: [],
    networkInterfaces: addresses.map((ip) => ({ privateIpv4Address: ip })),
    healthStatus: 'UNKNOWN',
  };
}

function nameOf(c: DockerContainerDetails): string {
  return c.Config.Labels?.[ECS_LABELS.containerName] ?? c.Id.slice(0, 12);
}

function containerStatus(c: DockerContainerDetails): EcsStatus {
  switch (c.State.Status) {
    case 'created':
      return 'PENDING';
    case 'running':
    case 'paused':
    case 'restarting':
      return 'RUNNING';
    default:
      return 'STOPPED';
  }
}

/** Docker writes 0001-01-01T00:00:00Z for "never". */
function validDates(values: readonly string[]): Date[] {
  return values
    .map((v) => new Date(v))
    .filter((d) => !Number.isNaN(d.getTime()) && d.getUTCFullYear() > 1970);
}

function earliest(values: readonly string[]): Date | undefined {
  return validDates(values).sort((a, b) => a.getTime() - b.getTime())[0];
}

function latest(values: readonly string[]): Date | undefined {
  return validDates(values).sort((a, b) => b.getTime() - a.getTime())[0];
}

function uuidFrom(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The ECS JSON service (`AmazonEC2ContainerServiceV20141113.<Action>`). */
export function ecsService(docker: DockerEngine, instance: SandboxInstance): JsonService {
  const readTasks = async (): Promise<SandboxTask[]> => {
    const summaries = await docker.listContainers(ECS_LABELS.taskArn);
    const details = await Promise.all(summaries.map((s) => docker.inspectContainer(s.Id)));
    // A container removed between the list and the inspect is simply not there.
    return tasksFromContainers(
      details.filter((d): d is DockerContainerDetails => d !== undefined),
      instance,
    );
  };
  // The engine's version, asked once: GET /version costs dockerd 30-45 ms (it asks containerd and
  // runc for theirs; 2026-12-06, loaded 2-core machine), most of a warm DescribeContainerInstances,
  // and an engine that changes version restarts, which this sandbox does not outlive.
  let engineVersion: Promise<string> | undefined;
  const dockerVersion = (): Promise<string> => {
    engineVersion ??= docker.version().then(
      (v) => v.Version,
      (error: unknown) => {
        engineVersion = undefined; // asked again next time
        throw error;
      },
    );
    return engineVersion;
  };

  return {
    service: 'ecs',
    targetPrefix: 'AmazonEC2ContainerServiceV20141113',
    internalErrorType: 'ServerException',
    actions: {
      DescribeTasks: async (input) => {
        const cluster = clusterNameOf(optionalString(input, 'cluster'));
        const refs = requiredList(input, 'tasks');
        const include = optionalStringList(input, 'include') ?? [];
        const inCluster = (await readTasks()).filter((t) => t.clusterName === cluster);
        const tasks: JsonObject[] = [];
        const failures: JsonObject[] = [];
        for (const ref of refs) {
          const id = ref.slice(ref.lastIndexOf('/') + 1);
          const found = inCluster.find((t) => t.taskId === id);
          if (found) tasks.push({ ...found.task, ...(include.includes('TAGS') && { tags: found.tags }) });
          else {
            const arn = ref.startsWith('arn:')
              ? ref
              : `arn:aws:ecs:${instance.region}:${instance.accountId}:task/${cluster}/${ref}`;
            failures.push({ arn, reason: 'MISSING' });
          }
        }
        return { tasks, failures };
      },

      // The network mode of a task definition the engine runs (the deployment policy decides on it).
      DescribeTaskDefinition: async (input) => {
        const wanted = optionalString(input, 'taskDefinition');
        if (!wanted) throw new AwsApiError('InvalidParameterException', 'taskDefinition is required.');
        const found = (await readTasks()).find(
          (t) =>
            t.task.taskDefinitionArn === wanted ||
            `${t.family}:${String(t.task.taskDefinitionArn).split(':').pop()}` === wanted,
        );
        if (!found) {
          throw new AwsApiError('ClientException', `Unable to describe task definition ${wanted}.`);
        }
        return {
          taskDefinition: {
            taskDefinitionArn: found.task.taskDefinitionArn,
            family: found.family,
            networkMode: found.networkMode,
            status: 'ACTIVE',
          },
        };
      },

      ListTasks: async (input) => {
        const cluster = clusterNameOf(optionalString(input, 'cluster'));
        const desiredStatus = optionalString(input, 'desiredStatus') ?? 'RUNNING';
        const family = optionalString(input, 'family');
        const serviceName = optionalString(input, 'serviceName');
        const launchType = optionalString(input, 'launchType');
        const instanceRef = optionalString(input, 'containerInstance');
        const maxResults = optionalInteger(input, 'maxResults', 1, 100) ?? 100;
        const offset = decodeToken(optionalString(input, 'nextToken'));
        const onInstance = instanceRef === undefined || instanceRef.endsWith(instance.containerInstanceId);
        const arns = (await readTasks())
          .filter(
            (t) =>
              t.clusterName === cluster &&
              t.task.desiredStatus === desiredStatus &&
              (family === undefined || t.family === family) &&
              (serviceName === undefined || t.serviceName === clusterNameOf(serviceName)) &&
              (launchType === undefined || launchType === 'EC2') &&
              onInstance,
          )
          .map((t) => t.taskArn);
        const page = arns.slice(offset, offset + maxResults);
        const next = offset + maxResults < arns.length ? encodeToken(offset + maxResults) : undefined;
        return { taskArns: page, ...(next && { nextToken: next }) };
      },

      // The one instance is registered in the clusters the engine has tasks of (so a cluster
      // without any is one without hosts: what `doctor --stack --cluster` must report).
      ListContainerInstances: async (input) => {
        const cluster = clusterNameOf(optionalString(input, 'cluster'));
        const status = optionalString(input, 'status') ?? 'ACTIVE';
        optionalInteger(input, 'maxResults', 1, 100);
        const registered = (await readTasks()).some((t) => t.clusterName === cluster);
        return {
          containerInstanceArns:
            registered && status === 'ACTIVE' ? [containerInstanceArn(instance, cluster)] : [],
        };
      },

      DescribeContainerInstances: async (input) => {
        const cluster = clusterNameOf(optionalString(input, 'cluster'));
        const refs = requiredList(input, 'containerInstances');
        const [allTasks, version] = await Promise.all([readTasks(), dockerVersion()]);
        const tasks = allTasks.filter((t) => t.clusterName === cluster);
        const containerInstances: JsonObject[] = [];
        const failures: JsonObject[] = [];
        for (const ref of refs) {
          const parts = ref.split('/');
          const refCluster = ref.startsWith('arn:') && parts.length === 3 ? parts[1] : cluster;
          if (parts[parts.length - 1] === instance.containerInstanceId && refCluster === cluster) {
            containerInstances.push(instanceShape(instance, cluster, tasks, version));
          } else {
            const arn = ref.startsWith('arn:')
              ? ref
              : `arn:aws:ecs:${instance.region}:${instance.accountId}:container-instance/${cluster}/${ref}`;
            failures.push({ arn, reason: 'MISSING' });
          }
        }
        return { containerInstances, failures };
      },
    },
  };
}

function instanceShape(
  instance: SandboxInstance,
  cluster: string,
  tasks: SandboxTask[],
  dockerVersion: string,
): JsonObject {
  return {
    containerInstanceArn: containerInstanceArn(instance, cluster),
    ec2InstanceId: instance.ec2InstanceId,
    version: 1,
    versionInfo: {
      agentVersion: '1.89.0',
      agentHash: 'sandbox',
      dockerVersion: `DockerVersion: ${dockerVersion}`,
    },
    status: 'ACTIVE',
    agentConnected: true,
    runningTasksCount: tasks.filter((t) => t.task.lastStatus === 'RUNNING').length,
    pendingTasksCount: tasks.filter((t) => t.task.lastStatus === 'PENDING').length,
    registeredAt: instance.registeredAt,
    remainingResources: [],
    registeredResources: [],
    attributes: [
      { name: 'ecs.os-type', value: 'linux' },
      { name: 'ecs.availability-zone', value: `${instance.region}a` },
      { name: 'ecs.instance-type', value: 'sandbox.local' },
    ],
    attachments: [],
    tags: [],
  };
}

function requiredList(input: JsonObject, name: string): string[] {
  const list = optionalStringList(input, name);
  if (!list || list.length === 0 || list.length > 100) {
    throw new AwsApiError('InvalidParameterException', `${name} must list 1 to 100 identifiers.`);
  }
  return list;
}

function encodeToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64');
}

function decodeToken(token: string | undefined): number {
  if (token === undefined) return 0;
  try {
    const { offset } = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { offset: unknown };
    if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // fall through
  }
  throw new AwsApiError('InvalidParameterException', 'The nextToken is not valid.');
}
