import { DebugTaskError, quoted } from './errors';

/** Where a task lives, as far as its identifier tells. */
export interface TaskRef {
  /** What DescribeTasks is given: the ARN when we have one, else the id. */
  readonly task: string;
  readonly taskId: string;
  /** Cluster name or ARN; undefined means ECS's "default" cluster. */
  readonly cluster?: string;
  readonly region?: string;
  readonly accountId?: string;
}

// Old-format ids are UUIDs (36 chars with hyphens); new-format ids are 32 hex chars.
const TASK_ID = /^([0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const CLUSTER_NAME = /^[A-Za-z0-9_-]{1,255}$/;
const CLUSTER_ARN = /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:cluster\/[A-Za-z0-9_-]{1,255}$/;
const TASK_ARN = /^arn:(aws[a-z-]*):ecs:([a-z0-9-]+):([0-9]{12}):task\/(.+)$/;

/**
 * Parses what a user typed as the target: a long task ARN (task/CLUSTER/ID), an old-format ARN
 * (task/ID, needs --cluster unless the task is in "default"), or a bare task id (with --cluster).
 */
export function parseTaskRef(input: string, cluster?: string): TaskRef {
  const value = input.trim();
  if (cluster !== undefined && !CLUSTER_NAME.test(cluster) && !CLUSTER_ARN.test(cluster)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `--cluster ${quoted(cluster, 120)} is neither a cluster name nor a cluster ARN.`,
      {
        hint: 'Give the cluster name (e.g. prod-web) or its ARN (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME).',
        details: { cluster: cluster.slice(0, 300) },
      },
    );
  }
  const arn = TASK_ARN.exec(value);
  if (arn) {
    const [, , region, accountId, resource] = arn;
    const parts = resource.split('/');
    const taskId = parts[parts.length - 1];
    if (parts.length > 2 || !TASK_ID.test(taskId) || (parts.length === 2 && !CLUSTER_NAME.test(parts[0]))) {
      throw invalidTask(value);
    }
    const arnCluster = parts.length === 2 ? parts[0] : undefined;
    if (arnCluster && cluster && clusterName(cluster) !== arnCluster) {
      throw new DebugTaskError(
        'INVALID_ARGUMENT',
        `The task ARN names cluster "${arnCluster}" but --cluster says "${cluster}".`,
        {
          hint: 'Drop --cluster: a long task ARN already names its cluster.',
          details: { arnCluster, cluster },
        },
      );
    }
    return { task: value, taskId, cluster: arnCluster ?? cluster, region, accountId };
  }
  if (TASK_ID.test(value)) return { task: value, taskId: value, cluster };
  throw invalidTask(value);
}

function clusterName(cluster: string): string {
  return cluster.startsWith('arn:') ? cluster.slice(cluster.lastIndexOf('/') + 1) : cluster;
}

function invalidTask(value: string): DebugTaskError {
  const shown = value.length > 120 ? `${value.slice(0, 120)}…` : value;
  return new DebugTaskError('INVALID_TASK_ARN', `${quoted(value, 120)} is not an ECS task ARN or task id.`, {
    details: { received: shown },
  });
}

/** Short name of a cluster given as name or ARN. */
export function clusterNameOf(cluster: string): string {
  return clusterName(cluster);
}
