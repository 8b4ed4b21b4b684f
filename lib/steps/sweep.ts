import { ListClustersCommand } from '@aws-sdk/client-ecs';
import { allowedClustersFromEnv } from '../config';
import { DebugTaskError } from '../domain/errors';
import type { HostParamValues } from '../domain/params';
import { logger } from '../log';
import { awsCall } from '../aws/errors';
import { ecsClient } from '../aws/ecs';
import { FLEET_LIMITS, chunk } from '../session/batches';
import { ECS_BATCH, clusterInstanceIds } from '../session/container-instances';
import { managedNodes } from '../session/managed-nodes';
import { FAN_OUT, pinnedDocument, sendRunner } from '../session/host-command';

/**
 * The sweeper (DESIGN.md section 2): on a schedule, ask every container instance of the allowed
 * clusters to remove the toolbox containers whose `debug-task.expires-at` label has passed,
 * whatever happened to their session (a Cleanup that never ran, a host that was offline then).
 *
 * The work is done by the host runner (`action=sweep`); this function only finds the hosts and
 * sends them our document, with as few API calls as the APIs allow:
 *
 *   ListClusters (only when no cluster is configured)     100 per page
 *   ListContainerInstances, per cluster                   100 per page
 *   DescribeContainerInstances, per cluster               100 per call
 *   DescribeInstanceInformation (SSM: online, Linux)       50 per call
 *   SendCommand                                            50 instances per call
 *
 * So N instances cost about 2·N/100 + 2·N/50 calls, never one call per instance.
 */

/** The host's sweep lists and removes a few containers: two minutes is plenty. */
export const SWEEP_EXECUTION_TIMEOUT_SECONDS = 120;
/**
 * Every instance of a command at once. MaxConcurrency exists to roll a heavy or risky change out
 * gradually; a sweep is one `docker ps` with a label filter (and a `docker rm` of what has expired)
 * per host, and each command targets at most 50 hosts, so holding some back would only make the
 * command last longer, and one slow host would delay the others.
 */
export const SWEEP_MAX_CONCURRENCY = FAN_OUT.MaxConcurrency;
/**
 * Never stop early: with SSM's default MaxErrors (0) the first failed host would stop delivery to
 * every host not yet reached. A host that fails is swept again at the next tick.
 */
export const SWEEP_MAX_ERRORS = FAN_OUT.MaxErrors;
export const SWEEP_COMMENT = 'debug-task sweep';

/** The scheduled event (ignored: a sweep has no input). */
export type SweepEvent = Record<string, unknown>;

export interface SweepSummary {
  /** Clusters whose container instances were listed. */
  clusters: number;
  /** Configured clusters that do not exist (in this account and region): nothing to sweep there. */
  missingClusters: string[];
  /** Container instances found, with a valid EC2 or managed-instance id. */
  instances: number;
  /** Of those, the ones SSM reports online and Linux: the ones the sweep was sent to. */
  online: number;
  /** SendCommand calls that succeeded. */
  commands: number;
  commandIds: string[];
}

export interface SweepDeps {
  /** Override ALLOWED_CLUSTERS (tests). */
  allowedClusters?: readonly string[];
}

/** One failed call of the sweep; the others go on. */
interface SweepFailure {
  scope: string;
  error: DebugTaskError;
}

/**
 * Sends `action=sweep` to every online Linux host of the allowed clusters (every cluster of the
 * account and region when ALLOWED_CLUSTERS is empty).
 *
 * A failure (a cluster that cannot be read, a batch that cannot be sent) does not stop the rest of
 * the sweep; once everything else has been sent, the first one is raised (with the count), so the
 * invocation fails and the function's Errors metric shows it. A configured cluster that does not
 * exist is not a failure: it is logged and reported in `missingClusters`.
 */
export async function sweepHosts(_event: SweepEvent = {}, deps: SweepDeps = {}): Promise<SweepSummary> {
  // The pinned document first: a deployment without it sends nothing.
  pinnedDocument();
  const configured = deps.allowedClusters ?? allowedClustersFromEnv();
  const clusters = configured.length > 0 ? [...configured] : await listClusters();
  const failures: SweepFailure[] = [];
  const missingClusters: string[] = [];

  // An EC2 instance belongs to one cluster at most; the set only guards against listing twice.
  const instanceIds = new Set<string>();
  for (const cluster of clusters) {
    try {
      for (const id of await clusterInstanceIds(cluster)) instanceIds.add(id);
    } catch (error) {
      if (isClusterNotFound(error)) {
        missingClusters.push(cluster);
        logger.warn('sweep: configured cluster not found; nothing to sweep there', { cluster });
        continue;
      }
      failures.push({ scope: `cluster ${cluster}`, error: asTyped(error) });
    }
  }

  const online: string[] = [];
  // A batch of one DescribeInstanceInformation call at a time, so that a failure names its hosts.
  for (const batch of chunk([...instanceIds], FLEET_LIMITS.describeInstanceInformation)) {
    try {
      online.push(...(await onlineLinux(batch)));
    } catch (error) {
      failures.push({ scope: `instances ${batch[0]}..${batch[batch.length - 1]}`, error: asTyped(error) });
    }
  }

  const values: HostParamValues = {
    action: 'sweep',
    executionTimeout: String(SWEEP_EXECUTION_TIMEOUT_SECONDS),
  };
  const commandIds: string[] = [];
  for (const batch of chunk(online, FLEET_LIMITS.sendCommand)) {
    try {
      commandIds.push(await sendSweep(batch, values));
    } catch (error) {
      failures.push({ scope: `instances ${batch[0]}..${batch[batch.length - 1]}`, error: asTyped(error) });
    }
  }

  const summary: SweepSummary = {
    clusters: clusters.length - missingClusters.length,
    missingClusters,
    instances: instanceIds.size,
    online: online.length,
    commands: commandIds.length,
    commandIds,
  };
  if (failures.length > 0) throw sweepFailed(summary, failures);
  logger.info('sweep sent', { ...summary });
  return summary;
}

async function listClusters(): Promise<string[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await awsCall('ecs:ListClusters', () =>
      ecsClient().send(new ListClustersCommand({ maxResults: ECS_BATCH, nextToken })),
    );
    arns.push(...(page.clusterArns ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return arns;
}

/**
 * The ids of `batch` that SSM reports online and Linux. SendCommand refuses the whole call
 * (InvalidInstanceId) when one of its instances is not a managed node, so one host without the SSM
 * agent would otherwise keep up to 49 others from ever being swept. Offline hosts are left for a
 * later tick: their command would only wait for delivery and time out.
 */
async function onlineLinux(batch: string[]): Promise<string[]> {
  const infos = await managedNodes(batch, {
    filters: [
      { Key: 'PingStatus', Values: ['Online'] },
      { Key: 'PlatformTypes', Values: ['Linux'] },
    ],
  });
  const online = batch.filter((id) => infos.get(id) !== undefined);
  const skipped = batch.length - online.length;
  if (skipped > 0) logger.info('sweep: hosts not online in SSM, left for a later sweep', { skipped });
  return online;
}

async function sendSweep(instanceIds: string[], values: HostParamValues): Promise<string> {
  return sendRunner({ instanceIds, values, comment: SWEEP_COMMENT });
}

/** awsCall keeps the SDK error's name in `details.awsError`. */
function isClusterNotFound(error: unknown): boolean {
  return error instanceof DebugTaskError && error.details?.awsError === 'ClusterNotFoundException';
}

function asTyped(error: unknown): DebugTaskError {
  if (error instanceof DebugTaskError) return error;
  return new DebugTaskError('AWS_ERROR', `The sweep failed unexpectedly: ${String(error)}`, { cause: error });
}

function sweepFailed(summary: SweepSummary, failures: SweepFailure[]): DebugTaskError {
  const [first] = failures;
  const more = failures.length > 1 ? ` (and ${failures.length - 1} more failure(s))` : '';
  logger.error('sweep incomplete', {
    ...summary,
    failures: failures.map((f) => ({ scope: f.scope, code: f.error.code, message: f.error.message })),
  });
  return new DebugTaskError(
    'AWS_ERROR',
    `The sweep was sent to ${summary.online} host(s), but ${first.scope} was skipped: ${first.error.message}${more}`,
    {
      hint: `${first.error.hint} The next scheduled sweep tries again; the function's log lists every failure.`,
      cause: first.error,
      details: { ...summary, failures: failures.length },
    },
  );
}
