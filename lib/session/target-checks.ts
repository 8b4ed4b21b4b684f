import type { Container, Task } from '@aws-sdk/client-ecs';
import type { InstanceInformation } from '@aws-sdk/client-ssm';
import { clusterNameOf, type TaskRef } from '../domain/arn';
import { DebugTaskError } from '../domain/errors';
import { isValidHostParam } from '../domain/params';
import type { ResolvedTarget } from '../domain/session';
import { allowedClustersFromEnv } from '../config';
import { ENV_VAR_AGENT_VERSION, MIN_AGENT_VERSION, compareVersions } from '../domain/agent';

/**
 * The pure decisions of Plan's resolvers, shared by the single-task resolver (resolve-task.ts) and
 * the service resolver (resolve-service.ts): given what ECS and Systems Manager answered, is this task
 * debuggable, and if not, which error (code, message, hint) says why.
 *
 * Nothing here calls AWS. The single resolver throws these errors; the fleet resolver records
 * them per task in `skipped`, so both speak exactly the same words for the same problem.
 */

/** The parts of a task reference the checks use (what `parseTaskRef` gives, or a task ARN split). */
export type TaskRefLike = Pick<TaskRef, 'task' | 'taskId' | 'cluster'> & Partial<TaskRef>;

/** ALLOWED_CLUSTERS (names, empty = any: allowedClustersFromEnv) fences what this deployment may touch. */
export function checkClusterAllowed(cluster: string): void {
  const allowed = allowedClustersFromEnv();
  const name = clusterNameOf(cluster);
  if (allowed.length > 0 && !allowed.includes(name)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `Cluster "${name}" is not one this deployment of debug-task may debug (allowed: ${allowed.join(', ')}).`,
      {
        hint: 'Pick a task in an allowed cluster, or ask the stack owners to add the cluster to ALLOWED_CLUSTERS.',
        details: { cluster: name, allowed },
      },
    );
  }
}

/** DescribeTasks gave no task for `ref` (`failure` is ECS's failures[] entry for it, if any). */
export function taskNotFoundError(
  ref: TaskRefLike,
  cluster: string,
  failure: { reason?: string; detail?: string } | undefined,
  hintSuffix = '',
): DebugTaskError {
  const why = failure
    ? ` (ECS says: ${failure.reason ?? 'no reason'}${failure.detail ? `, ${failure.detail}` : ''})`
    : '';
  return new DebugTaskError(
    'TASK_NOT_FOUND',
    `Task ${ref.taskId} was not found in cluster "${cluster}"${why}.`,
    {
      hint:
        (ref.cluster === undefined
          ? 'A task id or an old-format task ARN is looked up in the "default" cluster: add --cluster.'
          : 'Check the task ARN and the cluster; ECS forgets stopped tasks about an hour after they stop.') +
        hintSuffix,
      details: { task: ref.task, cluster, ...(failure?.reason && { reason: failure.reason }) },
    },
  );
}

/** Returns the container instance ARN: only tasks placed on a container instance have a host for us. */
export function checkTaskOnHost(task: Task, ref: TaskRefLike): string {
  checkTaskRunning(task, ref);
  return checkHasHost(task, ref);
}

/** RUNNING, and meant to be; a Fargate task is left to `checkHasHost` whatever its status. */
export function checkTaskRunning(task: Task, ref: TaskRefLike): void {
  const running = task.lastStatus === 'RUNNING' && task.desiredStatus === 'RUNNING';
  // A task waiting for capacity has no container instance yet either: only call it Fargate when it is.
  if (!running && !(task.launchType === 'FARGATE' && !task.containerInstanceArn)) {
    const stopped = [task.stopCode, task.stoppedReason].filter(Boolean).join(': ');
    throw new DebugTaskError(
      'TASK_NOT_RUNNING',
      `Task ${ref.taskId} is ${task.lastStatus ?? 'UNKNOWN'} (desired ${task.desiredStatus ?? 'UNKNOWN'})` +
        `${stopped ? `, stopped because: ${stopped}` : ''}.`,
      {
        details: {
          task: task.taskArn ?? ref.task,
          lastStatus: task.lastStatus,
          desiredStatus: task.desiredStatus,
          ...(task.stoppedReason && { stoppedReason: task.stoppedReason }),
        },
      },
    );
  }
}

/** The container instance ARN of the task; without one (Fargate) there is no host for a toolbox. */
export function checkHasHost(task: Task, ref: TaskRefLike): string {
  if (!task.containerInstanceArn) throw fargateError(task, ref);
  return task.containerInstanceArn;
}

function fargateError(task: Task, ref: TaskRefLike): DebugTaskError {
  const exec = task.enableExecuteCommand
    ? `ECS Exec is enabled on this task: \`aws ecs execute-command --cluster ${clusterNameOf(task.clusterArn ?? ref.cluster ?? 'default')} --task ${ref.taskId} --interactive --command /bin/sh\` (with the tools its image has).`
    : 'ECS Exec is not enabled on this task (redeploy the service with --enable-execute-command to use it).';
  return new DebugTaskError(
    'FARGATE_UNSUPPORTED',
    `Task ${ref.taskId} runs on ${task.launchType ?? 'a launch type'} without a container instance, so there is no host to start a toolbox on.`,
    {
      hint: `${exec} For packet capture without a host, use VPC Traffic Mirroring on the task's network interface.`,
      details: {
        task: task.taskArn ?? ref.task,
        launchType: task.launchType,
        enableExecuteCommand: task.enableExecuteCommand === true,
      },
    },
  );
}

/** The container to join: the one named, or the task's only one; running, with a valid Docker id. */
export function pickContainer(task: Task, wanted: string | undefined): ResolvedTarget['container'] {
  const containers = task.containers ?? [];
  const names = containers.map((c) => c.name ?? '?');
  let container: Container | undefined;
  if (wanted !== undefined) {
    container = containers.find((c) => c.name === wanted);
    if (!container) {
      throw new DebugTaskError(
        'CONTAINER_NOT_FOUND',
        `Task has no container named "${wanted}" (it has: ${names.join(', ')}).`,
        {
          hint: `Pass one of ${names.join(', ')} to --container.`,
          details: { received: wanted, containers: names },
        },
      );
    }
  } else if (containers.length === 1) {
    container = containers[0];
  } else {
    throw new DebugTaskError(
      'CONTAINER_AMBIGUOUS',
      `The task has ${containers.length} containers: ${names.join(', ')}.`,
      {
        hint: `Name the one to debug with --container (one of ${names.join(', ')}).`,
        details: { containers: names },
      },
    );
  }
  const name = container.name ?? '?';
  const running = containers.filter((c) => c.lastStatus === 'RUNNING').map((c) => c.name ?? '?');
  if (container.lastStatus !== 'RUNNING') {
    const exit = container.exitCode !== undefined ? `, exit code ${container.exitCode}` : '';
    throw new DebugTaskError(
      'TASK_NOT_RUNNING',
      `Container "${name}" is ${container.lastStatus ?? 'UNKNOWN'}${exit}${container.reason ? ` (${container.reason})` : ''}.`,
      {
        hint: running.length
          ? `Pick a running container with --container: ${running.join(', ')}.`
          : 'No container of this task is running: pick a RUNNING task.',
        details: { container: name, lastStatus: container.lastStatus, running },
      },
    );
  }
  // The runner joins the container by its Docker id; anything else would be refused by the SSM document.
  if (!container.runtimeId || !isValidHostParam('containerId', container.runtimeId)) {
    throw new DebugTaskError(
      'CONTAINER_NOT_FOUND',
      `ECS reports no Docker id for container "${name}" (runtimeId ${JSON.stringify(container.runtimeId ?? null)}).`,
      {
        hint: 'Wait until the container has fully started and try again; if it persists, check the ECS agent on the host.',
        details: { container: name, runtimeId: container.runtimeId ?? null },
      },
    );
  }
  return { name, runtimeId: container.runtimeId };
}

/** DescribeContainerInstances gave no instance id for the task's container instance. */
export function containerInstanceUnknownError(containerInstanceArn: string, reason?: string): DebugTaskError {
  return new DebugTaskError(
    'INSTANCE_NOT_MANAGED',
    `ECS gives no instance id for container instance ${containerInstanceArn}${reason ? ` (ECS says: ${reason})` : ''}.`,
    {
      hint: 'The container instance may have been deregistered: pick a task on a registered instance.',
      details: { containerInstanceArn, ...(reason && { reason }) },
    },
  );
}

/** Systems Manager knows the instance (`info`, from DescribeInstanceInformation) and its agent is online. */
export function checkManagedInstance(
  info: InstanceInformation | undefined,
  instanceId: string,
): InstanceInformation {
  const managed = checkInstanceManaged(info, instanceId);
  checkAgentOnline(managed, instanceId);
  return managed;
}

/** Systems Manager knows the instance: `info` is its DescribeInstanceInformation entry. */
export function checkInstanceManaged(
  info: InstanceInformation | undefined,
  instanceId: string,
): InstanceInformation {
  if (!info) {
    const anywhere = instanceId.startsWith('mi-');
    throw new DebugTaskError(
      'INSTANCE_NOT_MANAGED',
      `Instance ${instanceId} is not a Systems Manager managed node.`,
      {
        hint: anywhere
          ? 'Register the ECS Anywhere host with SSM (hybrid activation) and make sure amazon-ssm-agent runs.'
          : 'Attach AmazonSSMManagedInstanceCore to the container instance role and make sure amazon-ssm-agent runs and can reach the SSM endpoints.',
        details: { instanceId },
      },
    );
  }
  return info;
}

/** The instance's SSM agent is connected (PingStatus Online). */
export function checkAgentOnline(info: InstanceInformation, instanceId: string): void {
  if (info.PingStatus !== 'Online') {
    const lastPing = info.LastPingDateTime ? new Date(info.LastPingDateTime).toISOString() : 'never';
    throw new DebugTaskError(
      'SSM_AGENT_OFFLINE',
      `The SSM agent on ${instanceId} is ${info.PingStatus ?? 'not reporting'} (agent ${info.AgentVersion ?? 'unknown version'}, last ping ${lastPing}).`,
      {
        hint: 'Check that amazon-ssm-agent runs on the instance (`systemctl status amazon-ssm-agent`) and can reach the ssm, ssmmessages and ec2messages endpoints.',
        details: { instanceId, pingStatus: info.PingStatus, agentVersion: info.AgentVersion, lastPing },
      },
    );
  }
}

/** The runner reads its parameters as env vars (`interpolationType: ENV_VAR`), new in this agent version. */
export { MIN_AGENT_VERSION, compareVersions };

/** Linux, not Bottlerocket, with an agent recent enough for our document. */
export function checkPlatform(info: InstanceInformation, instanceId: string): void {
  checkPlatformSupported(info, instanceId);
  checkAgentVersion(info, instanceId);
}

/** `Amazon Linux 2023`, from PlatformName and PlatformVersion. */
export function platformOf(info: InstanceInformation): string {
  return [info.PlatformName, info.PlatformVersion].filter(Boolean).join(' ') || 'unknown';
}

function platformDetails(info: InstanceInformation, instanceId: string) {
  return {
    instanceId,
    platformType: info.PlatformType,
    platform: platformOf(info),
    agentVersion: info.AgentVersion,
  };
}

/** Linux with bash and Docker; not Bottlerocket (Run Command lands in its control container). */
export function checkPlatformSupported(info: InstanceInformation, instanceId: string): void {
  const platform = platformOf(info);
  const details = platformDetails(info, instanceId);
  if (/bottlerocket/i.test(info.PlatformName ?? '')) {
    throw new DebugTaskError(
      'PLATFORM_UNSUPPORTED',
      `${instanceId} runs ${platform}, which debug-task does not drive yet.`,
      {
        hint: 'On Bottlerocket, Run Command lands in the unprivileged control container; a toolbox would need the admin container (`apiclient exec admin sheltie`). Use an Amazon Linux ECS-optimized or Flatcar instance.',
        details,
      },
    );
  }
  if (info.PlatformType !== 'Linux') {
    throw new DebugTaskError(
      'PLATFORM_UNSUPPORTED',
      `${instanceId} is a ${info.PlatformType ?? 'unknown'} node (${platform}); the runner needs Linux with bash and Docker.`,
      { details },
    );
  }
}

/** At least MIN_AGENT_VERSION when the agent reports its version (an unreported one is let through). */
export function checkAgentVersion(info: InstanceInformation, instanceId: string): void {
  const details = platformDetails(info, instanceId);
  if (info.AgentVersion && compareVersions(info.AgentVersion, MIN_AGENT_VERSION) < 0) {
    throw new DebugTaskError(
      'PLATFORM_UNSUPPORTED',
      `The SSM agent on ${instanceId} is version ${info.AgentVersion}; debug-task's document (schema 2.2, a step precondition) needs SSM agent ${MIN_AGENT_VERSION} or later.`,
      {
        hint: `Update the agent (Run Command document AWS-UpdateSSMAgent, or a newer AMI; on Flatcar, see the README). Agents from ${ENV_VAR_AGENT_VERSION} on also pass parameters as environment variables (ENV_VAR).`,
        details,
      },
    );
  }
}

/** Numeric comparison of dotted versions; non-numeric parts count as 0. */

/** The Resolve output for a task that passed every check. */
export function resolvedTarget(parts: {
  task: Task;
  taskArn: string;
  clusterArn: string;
  container: ResolvedTarget['container'];
  containerInstanceArn: string;
  instanceId: string;
  info: InstanceInformation;
}): ResolvedTarget {
  const { task, info } = parts;
  return {
    clusterArn: parts.clusterArn,
    taskArn: task.taskArn ?? parts.taskArn,
    ...(task.taskDefinitionArn && { taskDefinitionArn: task.taskDefinitionArn }),
    ...(task.launchType && { launchType: task.launchType }),
    service: task.group?.startsWith('service:') ? task.group.slice('service:'.length) : '',
    tags: Object.fromEntries((task.tags ?? []).flatMap((t) => (t.key ? [[t.key, t.value ?? '']] : []))),
    container: parts.container,
    containerInstanceArn: parts.containerInstanceArn,
    instanceId: parts.instanceId,
    platform: { name: info.PlatformName, version: info.PlatformVersion, agentVersion: info.AgentVersion },
  };
}
