import {
  DescribeContainerInstancesCommand,
  DescribeTasksCommand,
  ListTasksCommand,
  type ECSClient,
  type Failure,
  type Task,
} from '@aws-sdk/client-ecs';
import type { InstanceInformation, SSMClient } from '@aws-sdk/client-ssm';
import { clusterNameOf } from '../domain/arn';
import { DebugTaskError, quoted, type ErrorCode } from '../domain/errors';
import type { ResolvedTarget } from '../domain/session';
import { awsCall } from '../aws/errors';
import { ecsClient } from '../aws/ecs';
import { ssmClient } from '../aws/ssm';
import { mapLimit } from '../domain/map-limit';
import { FLEET_LIMITS, chunk, type FleetCall } from './batches';
import { managedNodes } from './managed-nodes';
import {
  checkClusterAllowed,
  checkManagedInstance,
  checkPlatform,
  checkTaskOnHost,
  containerInstanceUnknownError,
  pickContainer,
  resolvedTarget,
  taskNotFoundError,
  type TaskRefLike,
} from './target-checks';

/**
 * Fleet resolution (issue 5): a service's running tasks -> one ResolvedTarget per debuggable task,
 * with every control-plane call batched to the API's limit (see batches.ts for the numbers):
 *
 *   ListTasks (serviceName, desired RUNNING, pages of 100, nextToken)   ceil(N / 100) calls
 *   DescribeTasks (100 ids a call)                                      ceil(N / 100)
 *   DescribeContainerInstances (100 distinct container instances)       ceil(M / 100)
 *   DescribeInstanceInformation (Filters InstanceIds: 50, MaxResults 50) ceil(M / 50)
 *
 * A problem of one task (Fargate, not running, container ambiguous or missing, host not managed,
 * offline, unsupported) goes to `skipped` with the code and message the single-task resolver
 * (resolve-task.ts) gives for it: both use target-checks.ts. Problems of the whole fleet throw: no such
 * cluster or service, no running task, no task debuggable at all, an AWS error (access denied,
 * throttling after the SDK's retries) naming the call.
 *
 * `maxTasks` caps the targets (default 100). Tasks are taken in ListTasks order; only as many as
 * the cap needs are described (in batches of 100) and only their hosts are looked up, so a 1,000-task
 * service with the default cap costs 10 ListTasks + 1 DescribeTasks + 1 + 2, not 10 + 10 + 1 + 2.
 * When tasks are skipped, the next ones are taken in a further round (the container instance and
 * managed instance answers are cached across rounds).
 */

export interface FleetInput {
  cluster: string;
  service: string;
  container?: string;
  /** Most targets to return; default 100, at most MAX_FLEET_TASKS. */
  maxTasks?: number;
}

/** Injected clients (tests, the sandbox); default: the steps' shared clients. */
export interface FleetDeps {
  ecs?: ECSClient;
  ssm?: SSMClient;
}

export interface SkippedTask {
  taskArn: string;
  code: ErrorCode;
  message: string;
}

export interface FleetResolution {
  clusterArn: string;
  /** The service's name. */
  service: string;
  /** One per debuggable task, in ListTasks order, at most `maxTasks`. */
  targets: ResolvedTarget[];
  /** Tasks examined and found not debuggable, with the single resolver's code and message. */
  skipped: SkippedTask[];
  /** Tasks ListTasks returned (desired status RUNNING). */
  listed: number;
  /** The cap applied. */
  maxTasks: number;
  /** Tasks the cap left out: listed, but neither targeted nor skipped (= listed - targets - skipped). */
  leftOut: number;
  /** Control-plane calls made, per API (`ecs:ListTasks`, ...). SDK-internal retries count once. */
  calls: Record<string, number>;
}

import { DEFAULT_MAX_TASKS, MAX_FLEET_TASKS } from '../domain/session-spec';
export { DEFAULT_MAX_TASKS, MAX_FLEET_TASKS };
/** Concurrent calls of one kind (DescribeTasks batches, ...): keeps a fan-out under ECS/SSM token buckets. */
const CONCURRENCY = 4;

const NAME = /^[A-Za-z0-9_-]{1,255}$/;
const CLUSTER_ARN = /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:cluster\/[A-Za-z0-9_-]{1,255}$/;
const SERVICE_ARN =
  /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:service\/(?:([A-Za-z0-9_-]{1,255})\/)?([A-Za-z0-9_-]{1,255})$/;

/** A task that passed the task-level checks, waiting for its host to be looked up. */
interface Candidate {
  task: Task;
  taskArn: string;
  container: ResolvedTarget['container'];
  containerInstanceArn: string;
}

export async function resolveService(input: FleetInput, deps: FleetDeps = {}): Promise<FleetResolution> {
  const { cluster, service, maxTasks } = checkInput(input);
  checkClusterAllowed(cluster);
  const ecs = deps.ecs ?? ecsClient();
  const ssm = deps.ssm ?? ssmClient();

  const calls: Record<FleetCall | string, number> = {
    'ecs:ListTasks': 0,
    'ecs:DescribeTasks': 0,
    'ecs:DescribeContainerInstances': 0,
    'ssm:DescribeInstanceInformation': 0,
  };
  const call = <T>(name: FleetCall, send: () => Promise<T>, override?: Parameters<typeof awsCall>[2]) => {
    calls[name] += 1;
    return awsCall(name, send, override);
  };

  // 1. Every running task of the service (needed to say how many the cap leaves out).
  const taskArns = await listServiceTasks(ecs, call, cluster, service);
  if (taskArns.length === 0) {
    throw new DebugTaskError(
      'TASK_NOT_FOUND',
      `Service "${service}" in cluster "${clusterNameOf(cluster)}" has no running tasks.`,
      {
        hint: `See its desired count and recent events: \`aws ecs describe-services --cluster ${clusterNameOf(cluster)} --services ${service}\`.`,
        details: { cluster, service },
      },
    );
  }

  const targets: ResolvedTarget[] = [];
  const skipped: SkippedTask[] = [];
  const errors: DebugTaskError[] = [];
  const skip = (taskArn: string, error: unknown) => {
    if (!(error instanceof DebugTaskError)) throw error;
    skipped.push({ taskArn, code: error.code, message: error.message });
    errors.push(error);
  };
  const queue: Candidate[] = [];
  const instanceOf = new Map<string, { instanceId: string } | { error: DebugTaskError }>();
  const infoOf = new Map<string, InstanceInformation | undefined>();
  let clusterArn: string | undefined;
  let next = 0;

  while (targets.length < maxTasks) {
    const need = maxTasks - targets.length;
    // 2. Describe just enough tasks (whole batches of 100) to have `need` candidates, if there are that many.
    if (queue.length < need && next < taskArns.length) {
      const take = Math.min(taskArns.length - next, roundUp(need - queue.length, FLEET_LIMITS.describeTasks));
      const batch = taskArns.slice(next, next + take);
      next += take;
      const described = await describeTasks(ecs, call, cluster, batch);
      for (const arn of batch) {
        const found = described.tasks.get(arn);
        const ref = refOf(arn, cluster);
        try {
          if (!found) throw taskNotFoundError(ref, cluster, described.failures.get(arn));
          clusterArn ??= found.clusterArn;
          const containerInstanceArn = checkTaskOnHost(found, ref);
          const container = pickContainer(found, input.container);
          queue.push({ task: found, taskArn: arn, container, containerInstanceArn });
        } catch (error) {
          skip(arn, error);
        }
      }
    }
    if (queue.length === 0) {
      if (next < taskArns.length) continue; // a whole round skipped: describe the next tasks
      break;
    }

    // 3. Hosts of the candidates taken in this round: only those not looked up in an earlier round.
    const round = queue.splice(0, need);
    const fleetClusterArn = clusterArn ?? cluster;
    const newContainerInstances = unique(round.map((c) => c.containerInstanceArn)).filter(
      (a) => !instanceOf.has(a),
    );
    for (const [arn, found] of await describeContainerInstances(
      ecs,
      call,
      fleetClusterArn,
      newContainerInstances,
    )) {
      instanceOf.set(arn, found);
    }
    const newInstanceIds = unique(
      round.flatMap((c) => {
        const found = instanceOf.get(c.containerInstanceArn);
        return found && 'instanceId' in found ? [found.instanceId] : [];
      }),
    ).filter((id) => !infoOf.has(id));
    for (const [id, info] of await managedNodes(newInstanceIds, { ssm, call, concurrency: CONCURRENCY }))
      infoOf.set(id, info);

    // 4. Host-level checks, per task.
    for (const candidate of round) {
      try {
        const found = instanceOf.get(candidate.containerInstanceArn);
        if (!found || 'error' in found) {
          throw found?.error ?? containerInstanceUnknownError(candidate.containerInstanceArn);
        }
        const info = checkManagedInstance(infoOf.get(found.instanceId), found.instanceId);
        checkPlatform(info, found.instanceId);
        targets.push(
          resolvedTarget({
            task: candidate.task,
            taskArn: candidate.taskArn,
            clusterArn: fleetClusterArn,
            container: candidate.container,
            containerInstanceArn: candidate.containerInstanceArn,
            instanceId: found.instanceId,
            info,
          }),
        );
      } catch (error) {
        skip(candidate.taskArn, error);
      }
    }
  }

  if (targets.length === 0) throw noTargetError(service, taskArns.length, skipped, errors);
  return {
    clusterArn: clusterArn ?? cluster,
    service,
    targets,
    skipped,
    listed: taskArns.length,
    maxTasks,
    leftOut: taskArns.length - targets.length - skipped.length,
    calls,
  };
}

type Call = <T>(
  name: FleetCall,
  send: () => Promise<T>,
  override?: Parameters<typeof awsCall>[2],
) => Promise<T>;

function checkInput(input: FleetInput): { cluster: string; service: string; maxTasks: number } {
  const { cluster, maxTasks = DEFAULT_MAX_TASKS } = input;
  if (!NAME.test(cluster) && !CLUSTER_ARN.test(cluster)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `--cluster ${quoted(cluster)} is neither a cluster name nor a cluster ARN.`,
      {
        hint: 'Give the cluster name (e.g. prod-web) or its ARN (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME).',
        details: { cluster },
      },
    );
  }
  const arn = SERVICE_ARN.exec(input.service);
  if (!arn && !NAME.test(input.service)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `--service ${quoted(input.service)} is neither a service name nor a service ARN.`,
      {
        hint: 'Give the service name (e.g. web) or its ARN (arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME).',
        details: { service: input.service },
      },
    );
  }
  if (arn?.[1] && arn[1] !== clusterNameOf(cluster)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `The service ARN names cluster ${quoted(arn[1])} but --cluster says ${quoted(cluster)}.`,
      { hint: 'Give the cluster the service runs in.', details: { arnCluster: arn[1], cluster } },
    );
  }
  if (!Number.isInteger(maxTasks) || maxTasks < 1 || maxTasks > MAX_FLEET_TASKS) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `--max-tasks ${maxTasks} is out of range: give a whole number from 1 to ${MAX_FLEET_TASKS}.`,
      { details: { received: maxTasks, max: MAX_FLEET_TASKS } },
    );
  }
  return { cluster, service: arn ? arn[2] : input.service, maxTasks };
}

async function listServiceTasks(
  ecs: ECSClient,
  call: Call,
  cluster: string,
  service: string,
): Promise<string[]> {
  const arns: string[] = [];
  const seenTokens = new Set<string>();
  let nextToken: string | undefined;
  do {
    const token = nextToken;
    const out = await call(
      'ecs:ListTasks',
      () =>
        ecs.send(
          new ListTasksCommand({
            cluster,
            serviceName: service,
            desiredStatus: 'RUNNING',
            maxResults: FLEET_LIMITS.listTasksPage,
            ...(token && { nextToken: token }),
          }),
        ),
      (info) => fleetNotFound(info.name, cluster, service),
    );
    arns.push(...(out.taskArns ?? []));
    nextToken = out.nextToken || undefined;
    // A token seen before would loop forever: stop (what we have is still every task listed so far).
    if (nextToken && seenTokens.has(nextToken)) break;
    if (nextToken) seenTokens.add(nextToken);
  } while (nextToken);
  return unique(arns);
}

function fleetNotFound(name: string, cluster: string, service: string): DebugTaskError | undefined {
  const region = `region ${process.env.AWS_REGION ?? '(unset)'}`;
  const clusterName = clusterNameOf(cluster);
  if (name === 'ClusterNotFoundException') {
    return new DebugTaskError(
      'TASK_NOT_FOUND',
      `Cluster "${clusterName}" does not exist in ${region}, so service "${service}" has no tasks there.`,
      { hint: 'Check --cluster (and AWS_REGION).', details: { cluster, service } },
    );
  }
  if (name === 'ServiceNotFoundException') {
    return new DebugTaskError(
      'TASK_NOT_FOUND',
      `Service "${service}" does not exist in cluster "${clusterName}" (${region}).`,
      {
        hint: `List the cluster's services: \`aws ecs list-services --cluster ${clusterName}\`.`,
        details: { cluster, service },
      },
    );
  }
  return undefined;
}

async function describeTasks(
  ecs: ECSClient,
  call: Call,
  cluster: string,
  arns: string[],
): Promise<{ tasks: Map<string, Task>; failures: Map<string, Failure> }> {
  const tasks = new Map<string, Task>();
  const failures = new Map<string, Failure>();
  const pages = await mapLimit(chunk(arns, FLEET_LIMITS.describeTasks), CONCURRENCY, (ids) =>
    call('ecs:DescribeTasks', () =>
      ecs.send(new DescribeTasksCommand({ cluster, tasks: ids, include: ['TAGS'] })),
    ),
  );
  for (const out of pages) {
    for (const task of out.tasks ?? []) if (task.taskArn) tasks.set(task.taskArn, task);
    for (const failure of out.failures ?? []) if (failure.arn) failures.set(failure.arn, failure);
  }
  return { tasks, failures };
}

async function describeContainerInstances(
  ecs: ECSClient,
  call: Call,
  cluster: string,
  arns: string[],
): Promise<Map<string, { instanceId: string } | { error: DebugTaskError }>> {
  const found = new Map<string, { instanceId: string } | { error: DebugTaskError }>();
  const pages = await mapLimit(chunk(arns, FLEET_LIMITS.describeContainerInstances), CONCURRENCY, (ids) =>
    call('ecs:DescribeContainerInstances', () =>
      ecs.send(new DescribeContainerInstancesCommand({ cluster, containerInstances: ids })),
    ),
  );
  const reasons = new Map<string, string | undefined>();
  for (const out of pages) {
    for (const ci of out.containerInstances ?? []) {
      if (ci.containerInstanceArn && ci.ec2InstanceId) {
        found.set(ci.containerInstanceArn, { instanceId: ci.ec2InstanceId });
      }
    }
    for (const failure of out.failures ?? []) if (failure.arn) reasons.set(failure.arn, failure.reason);
  }
  for (const arn of arns) {
    if (!found.has(arn)) found.set(arn, { error: containerInstanceUnknownError(arn, reasons.get(arn)) });
  }
  return found;
}

/** Nothing in the service can be debugged: the most frequent reason, with the counts of all. */
function noTargetError(
  service: string,
  listed: number,
  skipped: SkippedTask[],
  errors: DebugTaskError[],
): DebugTaskError {
  const counts = new Map<ErrorCode, number>();
  for (const s of skipped) counts.set(s.code, (counts.get(s.code) ?? 0) + 1);
  const [code] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
  const example = errors.find((e) => e.code === code) as DebugTaskError;
  const summary = [...counts.entries()].map(([c, n]) => `${n} ${c}`).join(', ');
  return new DebugTaskError(
    code,
    `None of the ${listed} running tasks of service "${service}" can be debugged (${summary}); for example: ${example.message}`,
    {
      hint: example.hint,
      details: { service, listed, reasons: Object.fromEntries(counts), skipped: skipped.slice(0, 20) },
    },
  );
}

function refOf(taskArn: string, cluster: string): TaskRefLike {
  return { task: taskArn, taskId: taskArn.slice(taskArn.lastIndexOf('/') + 1), cluster };
}

function roundUp(n: number, step: number): number {
  return Math.ceil(n / step) * step;
}

function unique<T>(list: readonly T[]): T[] {
  return [...new Set(list)];
}
