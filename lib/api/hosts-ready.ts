import type { InstanceInformation } from '@aws-sdk/client-ssm';
import { MIN_AGENT_VERSION, compareVersions, paramModeOf } from '../domain/agent';
import { failedCheck, type DoctorCheck } from '../domain/doctor';
import { DebugTaskError, defaultHint, type ErrorCode } from '../domain/errors';
import { clusterInstanceIds } from '../session/container-instances';
import { managedNodes } from '../session/managed-nodes';

/** What one cluster's hosts look like to a session: counts, and how their agents pass parameters. */
export interface ClusterHosts {
  cluster: string;
  /** ACTIVE container instances (with an instance id). */
  instances: number;
  /** Of those, SSM managed nodes. */
  managed: number;
  /** Of those, online. */
  online: number;
  /** Of those, Linux with an agent >= MIN_AGENT_VERSION: where a session can run. */
  ready: number;
  /** Ready agents by parameter mode (env: ENV_VAR; text: quoted text). */
  modes: { env: number; text: number };
}

/**
 * `hosts-ready`: in each cluster (`cluster`, else every allowed one), at least one ACTIVE container
 * instance that SSM reports online, Linux, with an agent recent enough for the document. When the
 * deployment allows any cluster and none is named there is no list to walk: skipped, with the fix.
 */
export async function hostsReadyCheck(
  cluster: string | undefined,
  allowedClusters: readonly string[],
): Promise<DoctorCheck> {
  const name = 'hosts-ready';
  if (cluster === undefined && allowedClusters.length === 0) {
    return {
      name,
      status: 'skipped',
      detail: 'this deployment allows any cluster: name one to check its hosts',
      hint: 'Run `debug-task doctor --stack --cluster CLUSTER`.',
    };
  }
  const clusters = cluster === undefined ? [...allowedClusters] : [cluster];
  let counted: ClusterHosts[];
  try {
    if (cluster !== undefined && allowedClusters.length > 0 && !allowedClusters.includes(cluster)) {
      throw new DebugTaskError(
        'INVALID_ARGUMENT',
        `Cluster "${cluster}" is not one this deployment of debug-task may debug (allowed: ${allowedClusters.join(', ')}).`,
        { hint: 'Name an allowed cluster, or ask the stack owners to add it to allowedClusters.' },
      );
    }
    counted = [];
    for (const name of clusters) counted.push(await clusterHosts(name));
  } catch (error) {
    return failedCheck(name, error);
  }
  const detail = counted.map(describe).join('; ');
  const unready = counted.find((hosts) => hosts.ready === 0);
  if (!unready) return { name, status: 'ok', detail };
  const { code, hint } = whyNotReady(unready);
  return {
    name,
    status: 'failed',
    code,
    detail: `no host ready in cluster ${unready.cluster}: ${detail}`,
    hint,
  };
}

/** Counts one cluster's hosts: ListContainerInstances, DescribeContainerInstances, DescribeInstanceInformation. */
export async function clusterHosts(cluster: string): Promise<ClusterHosts> {
  const instanceIds = await clusterInstanceIds(cluster, { status: 'ACTIVE' });

  const infos = [...(await managedNodes(instanceIds)).values()].filter(
    (info): info is InstanceInformation => info !== undefined,
  );

  const online = infos.filter((info) => info.PingStatus === 'Online');
  const ready = online.filter(
    (info) =>
      info.PlatformType === 'Linux' &&
      info.AgentVersion !== undefined &&
      compareVersions(info.AgentVersion, MIN_AGENT_VERSION) >= 0,
  );
  const env = ready.filter((info) => paramModeOf(info.AgentVersion ?? '') === 'env').length;
  return {
    cluster,
    instances: instanceIds.length,
    managed: infos.length,
    online: online.length,
    ready: ready.length,
    modes: { env, text: ready.length - env },
  };
}

function describe(hosts: ClusterHosts): string {
  const modes = [
    ...(hosts.modes.env ? [`${hosts.modes.env} env`] : []),
    ...(hosts.modes.text ? [`${hosts.modes.text} text`] : []),
  ];
  return (
    `${hosts.cluster}: ${hosts.instances} container instance(s), ${hosts.managed} managed by SSM, ` +
    `${hosts.online} online, ${hosts.ready} with agent >= ${MIN_AGENT_VERSION}` +
    (modes.length ? ` (param mode: ${modes.join(', ')})` : '')
  );
}

/** The first thing missing, as the error code a session on that cluster would meet. */
function whyNotReady(hosts: ClusterHosts): { code: ErrorCode; hint: string } {
  if (hosts.instances === 0) {
    return {
      code: 'INSTANCE_NOT_MANAGED',
      hint: `Cluster ${hosts.cluster} has no ACTIVE EC2 container instance (Fargate tasks cannot be debugged): add capacity, or check the cluster's name and region.`,
    };
  }
  if (hosts.managed === 0) {
    return { code: 'INSTANCE_NOT_MANAGED', hint: defaultHint('INSTANCE_NOT_MANAGED') };
  }
  if (hosts.online === 0) {
    return { code: 'SSM_AGENT_OFFLINE', hint: defaultHint('SSM_AGENT_OFFLINE') };
  }
  return {
    code: 'PLATFORM_UNSUPPORTED',
    hint: `Update the SSM agent to ${MIN_AGENT_VERSION} or later on Linux hosts (the ECS-optimized AMIs ship one).`,
  };
}
