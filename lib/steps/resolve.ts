import {
  DescribeContainerInstancesCommand,
  DescribeTasksCommand,
  type Container,
  type Task,
} from '@aws-sdk/client-ecs';
import { DescribeInstanceInformationCommand, type InstanceInformation } from '@aws-sdk/client-ssm';
import { clusterNameOf, parseTaskRef, type TaskRef } from '../domain/arn';
import { DebugTaskError } from '../domain/errors';
import { isValidHostParam } from '../domain/params';
import type { ExecutionInput, ResolvedTarget } from '../domain/session';
import { optionalEnv } from '../config';
import { awsCall } from './aws-errors';
import { ecsClient, ssmClient } from './clients';

/**
 * Resolve: task ARN -> cluster, task, container (runtimeId = Docker id) -> container instance ->
 * EC2 (i-) or ECS Anywhere (mi-) instance -> SSM managed, online, a platform the runner supports.
 *
 * Exactly one DescribeTasks, one DescribeContainerInstances and one DescribeInstanceInformation:
 * nothing is started here, so every refusal is cheap and comes with what to do instead.
 */
export async function resolveTarget(input: ExecutionInput): Promise<ResolvedTarget> {
  const ref = parseTaskRef(input.spec.target.task, input.spec.target.cluster);
  const cluster = ref.cluster ?? 'default';
  checkClusterAllowed(cluster);

  const task = await describeTask(ref, cluster);
  const containerInstanceArn = checkTaskOnHost(task, ref);
  const container = pickContainer(task, input.spec.target.container);
  const clusterArn = task.clusterArn ?? cluster;
  const instanceId = await describeContainerInstance(clusterArn, containerInstanceArn);
  const info = await describeManagedInstance(instanceId);
  checkPlatform(info, instanceId);

  return {
    clusterArn,
    taskArn: task.taskArn ?? ref.task,
    ...(task.taskDefinitionArn && { taskDefinitionArn: task.taskDefinitionArn }),
    ...(task.launchType && { launchType: task.launchType }),
    container,
    containerInstanceArn,
    instanceId,
    platform: { name: info.PlatformName, version: info.PlatformVersion, agentVersion: info.AgentVersion },
  };
}

/** ALLOWED_CLUSTERS (comma-separated names, empty = any) fences what this deployment may touch. */
function checkClusterAllowed(cluster: string): void {
  const allowed = optionalEnv('ALLOWED_CLUSTERS', '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
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

async function describeTask(ref: TaskRef, cluster: string): Promise<Task> {
  const out = await awsCall(
    'ecs:DescribeTasks',
    () => ecsClient().send(new DescribeTasksCommand({ cluster, tasks: [ref.task] })),
    (info) =>
      info.name === 'ClusterNotFoundException'
        ? new DebugTaskError('TASK_NOT_FOUND', `Cluster "${cluster}" does not exist in ${regionName()}.`, {
            hint: `Check the cluster name (--cluster or the task ARN).${regionNote(ref)}`,
            details: { cluster, task: ref.task },
          })
        : undefined,
  );
  const task = out.tasks?.[0];
  if (!task) {
    const failure = out.failures?.[0];
    const why = failure
      ? ` (ECS says: ${failure.reason ?? 'no reason'}${failure.detail ? `, ${failure.detail}` : ''})`
      : '';
    throw new DebugTaskError(
      'TASK_NOT_FOUND',
      `Task ${ref.taskId} was not found in cluster "${cluster}"${why}.`,
      {
        hint:
          (ref.cluster === undefined
            ? 'A task id or an old-format task ARN is looked up in the "default" cluster: add --cluster.'
            : 'Check the task ARN and the cluster; ECS forgets stopped tasks about an hour after they stop.') +
          regionNote(ref),
        details: { task: ref.task, cluster, ...(failure?.reason && { reason: failure.reason }) },
      },
    );
  }
  return task;
}

/** Returns the container instance ARN: only tasks placed on a container instance have a host for us. */
function checkTaskOnHost(task: Task, ref: TaskRef): string {
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
  if (!task.containerInstanceArn) throw fargateError(task, ref);
  return task.containerInstanceArn;
}

function fargateError(task: Task, ref: TaskRef): DebugTaskError {
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

function pickContainer(task: Task, wanted: string | undefined): ResolvedTarget['container'] {
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
  if (!instanceId) {
    const reason = out.failures?.[0]?.reason;
    throw new DebugTaskError(
      'INSTANCE_NOT_MANAGED',
      `ECS gives no instance id for container instance ${containerInstanceArn}${reason ? ` (ECS says: ${reason})` : ''}.`,
      {
        hint: 'The container instance may have been deregistered: pick a task on a registered instance.',
        details: { containerInstanceArn, ...(reason && { reason }) },
      },
    );
  }
  return instanceId;
}

async function describeManagedInstance(instanceId: string): Promise<InstanceInformation> {
  const out = await awsCall('ssm:DescribeInstanceInformation', () =>
    ssmClient().send(
      new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }),
    ),
  );
  const info = out.InstanceInformationList?.find((i) => i.InstanceId === instanceId);
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
  return info;
}

/** The runner reads its parameters as env vars (`interpolationType: ENV_VAR`), new in this agent version. */
export const MIN_AGENT_VERSION = '3.3.2746.0';

function checkPlatform(info: InstanceInformation, instanceId: string): void {
  const platform = [info.PlatformName, info.PlatformVersion].filter(Boolean).join(' ') || 'unknown';
  const details = { instanceId, platformType: info.PlatformType, platform, agentVersion: info.AgentVersion };
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
  if (info.AgentVersion && compareVersions(info.AgentVersion, MIN_AGENT_VERSION) < 0) {
    throw new DebugTaskError(
      'PLATFORM_UNSUPPORTED',
      `The SSM agent on ${instanceId} is version ${info.AgentVersion}; debug-task needs ${MIN_AGENT_VERSION} or later.`,
      { hint: 'Update the agent (Run Command document AWS-UpdateSSMAgent, or a newer AMI).', details },
    );
  }
}

/** Numeric comparison of dotted versions; non-numeric parts count as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split('.').map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  return 0;
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
