import { DescribeContainerInstancesCommand, DescribeTasksCommand, type Task } from '@aws-sdk/client-ecs';
import { DescribeInstanceInformationCommand, type InstanceInformation } from '@aws-sdk/client-ssm';
import { clusterNameOf, parseTaskRef, type TaskRef } from '../domain/arn';
import type { TargetCheckName } from '../domain/doctor';
import { ENV_VAR_AGENT_VERSION, paramModeOf } from '../domain/agent';
import { DebugTaskError } from '../domain/errors';
import type { ResolvedTarget } from '../domain/session';
import type { TaskTarget } from '../domain/session-spec';
import { awsCall } from '../aws/errors';
import { ecsClient } from '../aws/ecs';
import { ssmClient } from '../aws/ssm';
import {
  MIN_AGENT_VERSION,
  checkAgentOnline,
  checkAgentVersion,
  checkClusterAllowed,
  checkHasHost,
  checkInstanceManaged,
  checkPlatformSupported,
  checkTaskRunning,
  containerInstanceUnknownError,
  pickContainer,
  platformOf,
  resolvedTarget,
  taskNotFoundError,
} from './target-checks';

export { MIN_AGENT_VERSION, compareVersions } from './target-checks';

/** What `debug-task doctor` (POST /doctor) learns from Resolve: each check as it passes, or fails. */
export interface ResolveObserver {
  /** `detail` says what the check found. */
  passed?(check: TargetCheckName, detail: string): void;
  /** Resolve throws `error` right after. */
  failed?(check: TargetCheckName, error: unknown): void;
}

/**
 * One task: task ARN -> cluster, task, container (runtimeId = Docker id) -> container instance ->
 * EC2 (i-) or ECS Anywhere (mi-) instance -> SSM managed, online, a platform the runner supports.
 *
 * Exactly one DescribeTasks, one DescribeContainerInstances and one DescribeInstanceInformation:
 * nothing is started here, so every refusal is cheap and comes with what to do instead.
 * The checks themselves live in target-checks.ts, shared with the service resolver (resolve-service.ts);
 * their names and order are TARGET_CHECKS (lib/domain/doctor.ts), which `debug-task doctor` reports.
 */
export async function resolveTarget(
  target: TaskTarget,
  observer: ResolveObserver = {},
): Promise<ResolvedTarget> {
  const ref = parseTaskRef(target.task, target.cluster);
  const cluster = ref.cluster ?? 'default';
  const check = checkpoint(observer);

  await check(
    'cluster-allowed',
    () => checkClusterAllowed(cluster),
    () => `cluster "${clusterNameOf(cluster)}" may be debugged by this deployment`,
  );
  const task = await check(
    'task-found',
    () => describeTask(ref, cluster),
    (found) => `${found.taskArn ?? ref.task} (${found.launchType ?? 'no launch type'})`,
  );
  await check(
    'task-running',
    () => checkTaskRunning(task, ref),
    () => `${task.lastStatus ?? 'UNKNOWN'} (desired ${task.desiredStatus ?? 'UNKNOWN'})`,
  );
  const containerInstanceArn = await check(
    'has-host',
    () => checkHasHost(task, ref),
    (arn) => `container instance ${arn}`,
  );
  const container = await check(
    'container-chosen',
    () => pickContainer(task, target.container),
    (chosen) => `"${chosen.name}", Docker id ${chosen.runtimeId.slice(0, 12)}`,
  );
  const clusterArn = task.clusterArn ?? cluster;
  const { instanceId, info } = await check(
    'instance-managed',
    () => describeHost(clusterArn, containerInstanceArn),
    (host) => `${host.instanceId} is a Systems Manager managed node`,
  );
  await check(
    'agent-online',
    () => checkAgentOnline(info, instanceId),
    () => `SSM agent ${info.PingStatus}, last ping ${pingTime(info)}`,
  );
  await check(
    'platform-supported',
    () => checkPlatformSupported(info, instanceId),
    () => `${info.PlatformType} (${platformOf(info)})`,
  );
  await check(
    'agent-version',
    () => checkAgentVersion(info, instanceId),
    () =>
      `${info.AgentVersion ?? 'not reported'} (${MIN_AGENT_VERSION} or later is needed)` +
      (info.AgentVersion
        ? paramModeOf(info.AgentVersion) === 'env'
          ? '; parameters pass as environment variables (ENV_VAR)'
          : `; parameters pass as quoted text (ENV_VAR needs ${ENV_VAR_AGENT_VERSION} or later)`
        : ''),
  );

  return resolvedTarget({
    task,
    taskArn: ref.task,
    clusterArn,
    container,
    containerInstanceArn,
    instanceId,
    info,
  });
}

/** Runs one check and tells the observer how it went; the value or the error passes through. */
function checkpoint(observer: ResolveObserver) {
  return async <T>(name: TargetCheckName, run: () => T | Promise<T>, found: (value: T) => string) => {
    let value: T;
    try {
      value = await run();
    } catch (error) {
      observer.failed?.(name, error);
      throw error;
    }
    observer.passed?.(name, found(value));
    return value;
  };
}

/** The instance behind the container instance, as Systems Manager knows it. */
async function describeHost(
  clusterArn: string,
  containerInstanceArn: string,
): Promise<{ instanceId: string; info: InstanceInformation }> {
  const instanceId = await describeContainerInstance(clusterArn, containerInstanceArn);
  return { instanceId, info: await describeManagedInstance(instanceId) };
}

function pingTime(info: InstanceInformation): string {
  return info.LastPingDateTime ? new Date(info.LastPingDateTime).toISOString() : 'unknown';
}

async function describeTask(ref: TaskRef, cluster: string): Promise<Task> {
  const out = await awsCall(
    'ecs:DescribeTasks',
    () => ecsClient().send(new DescribeTasksCommand({ cluster, tasks: [ref.task], include: ['TAGS'] })),
    (info) =>
      info.name === 'ClusterNotFoundException'
        ? new DebugTaskError('TASK_NOT_FOUND', `Cluster "${cluster}" does not exist in ${regionName()}.`, {
            hint: `Check the cluster name (--cluster or the task ARN).${regionNote(ref)}`,
            details: { cluster, task: ref.task },
          })
        : undefined,
  );
  const task = out.tasks?.[0];
  if (!task) throw taskNotFoundError(ref, cluster, out.failures?.[0], regionNote(ref));
  return task;
}

async function describeContainerInstance(clusterArn: string, containerInstanceArn: string): Promise<string> {
  const out = await awsCall('ecs:DescribeContainerInstances', () =>
    ecsClient().send(
      new DescribeContainerInstancesCommand({
        cluster: clusterArn,
        containerInstances: [containerInstanceArn],
      }),
    ),
  );
  const instanceId = out.containerInstances?.[0]?.ec2InstanceId;
  if (!instanceId) throw containerInstanceUnknownError(containerInstanceArn, out.failures?.[0]?.reason);
  return instanceId;
}

async function describeManagedInstance(instanceId: string): Promise<InstanceInformation> {
  const out = await awsCall('ssm:DescribeInstanceInformation', () =>
    ssmClient().send(
      new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }),
    ),
  );
  return checkInstanceManaged(
    out.InstanceInformationList?.find((i) => i.InstanceId === instanceId),
    instanceId,
  );
}

function regionName(): string {
  return `region ${process.env.AWS_REGION ?? '(unset)'}`;
}

/** A task ARN from another region cannot be found from here: say so instead of "not found". */
function regionNote(ref: TaskRef): string {
  const here = process.env.AWS_REGION;
  return ref.region && here && ref.region !== here
    ? ` The task ARN is in ${ref.region} but debug-task runs in ${here}: use the deployment in ${ref.region}.`
    : '';
}
