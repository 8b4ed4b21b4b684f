/**
 * Fleet plan (issue 5, "a whole service at once"): pure functions that turn a service's resolved
 * targets into batched control-plane calls. No AWS call is made here.
 *
 * Batching, per the ECS and SSM API references (each call's documented list limit; docs/AWS-ASSUMPTIONS.md):
 * - ecs:ListTasks                      pages of `maxResults` <= 100              -> ceil(N / 100) calls
 * - ecs:DescribeTasks                  `tasks` <= 100 ids a call                 -> ceil(N / 100)
 * - ecs:DescribeContainerInstances     `containerInstances` <= 100 a call        -> ceil(M / 100)
 * - ssm:DescribeInstanceInformation    `Filters` InstanceIds take up to 100 values, but one page
 *                                      holds `MaxResults` <= 50 (5..50, default 10): we send 50
 *                                      ids with MaxResults 50, one page each  -> ceil(M / 50)
 * - ssm:SendCommand                    `InstanceIds` <= 50 a call                -> ceil(M / 50)
 * (N tasks on M instances; the SDK models carry no length constraints, the Smithy models do.)
 * 1,000 tasks on 100 instances: 10 + 10 + 1 + 2 = 23 calls to resolve, + 2 SendCommand = 25.
 *
 * One SendCommand per group of <= 50 instances, not one per task: SendCommand sends the same
 * `Parameters` to every instance of a call, so a call cannot say "task A on host 1, task B on
 * host 2" through its parameters. Instead the per-host work list travels beside the command: one
 * plan object per batch in S3 (lib/domain/host-plan.ts), presigned for GET and passed as one parameter
 * to every host of the call; each host's runner keeps the lines of its own instance id (the SSM
 * agent's AWS_SSM_INSTANCE_ID) and starts one toolbox per line (one child per task).
 * A host that carries several targeted tasks runs several toolboxes at once: the runner's
 * per-host session cap (HOST_MAX_SESSIONS) has to count the plan's share, not one session.
 *
 * Plan (lib/session/plan.ts) and the service resolver (resolve-service.ts) use these;
 * docs/ARCHITECTURE.md, "A service's session".
 */

/** Per-call limits from the API models. */
export const FLEET_LIMITS = {
  /** ecs:ListTasks maxResults (1-100). */
  listTasksPage: 100,
  /** ecs:DescribeTasks tasks (up to 100). */
  describeTasks: 100,
  /** ecs:DescribeContainerInstances containerInstances (up to 100). */
  describeContainerInstances: 100,
  /** ssm:DescribeInstanceInformation MaxResults (5-50); also the InstanceIds we filter on per call. */
  describeInstanceInformation: 50,
  /** ssm:SendCommand InstanceIds (0-50). */
  sendCommand: 50,
} as const;

/** The calls a fleet run makes, keyed as `awsCall` names them. */
export type FleetCall =
  | 'ecs:ListTasks'
  | 'ecs:DescribeTasks'
  | 'ecs:DescribeContainerInstances'
  | 'ssm:DescribeInstanceInformation'
  | 'ssm:SendCommand';

export type FleetCallBudget = Record<FleetCall, number> & {
  /** Calls to resolve the fleet (everything before SendCommand). */
  resolve: number;
  /** Every control-plane call of the fan-out, SendCommand included. */
  total: number;
};

/** Splits `list` into consecutive slices of at most `size` items (the last one may be shorter). */
export function chunk<T>(list: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`chunk size must be a positive integer, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** The InstanceIds of each SendCommand: distinct ids, at most `size` (<= 50, the API's limit) a call. */
export function sendCommandBatches(
  instanceIds: readonly string[],
  size: number = FLEET_LIMITS.sendCommand,
): string[][] {
  if (size > FLEET_LIMITS.sendCommand) {
    throw new RangeError(
      `SendCommand takes at most ${FLEET_LIMITS.sendCommand} InstanceIds a call, got ${size}`,
    );
  }
  return chunk([...new Set(instanceIds)], size);
}

/**
 * The calls the design makes for `tasks` running tasks on `instances` hosts, when every task is
 * examined and every listed page is full but the last (ListTasks makes one call even for zero
 * tasks). What the fleet resolver's `calls` must not exceed on a healthy fleet.
 */
export function fleetCallBudget(tasks: number, instances: number): FleetCallBudget {
  for (const [name, value] of [
    ['tasks', tasks],
    ['instances', instances],
  ] as const) {
    if (!Number.isInteger(value) || value < 0)
      throw new RangeError(`${name} must be a whole number, got ${value}`);
  }
  const per = (n: number, size: number) => Math.ceil(n / size);
  const calls: Record<FleetCall, number> = {
    'ecs:ListTasks': Math.max(1, per(tasks, FLEET_LIMITS.listTasksPage)),
    'ecs:DescribeTasks': per(tasks, FLEET_LIMITS.describeTasks),
    'ecs:DescribeContainerInstances': per(instances, FLEET_LIMITS.describeContainerInstances),
    'ssm:DescribeInstanceInformation': per(instances, FLEET_LIMITS.describeInstanceInformation),
    'ssm:SendCommand': per(instances, FLEET_LIMITS.sendCommand),
  };
  const resolve =
    calls['ecs:ListTasks'] +
    calls['ecs:DescribeTasks'] +
    calls['ecs:DescribeContainerInstances'] +
    calls['ssm:DescribeInstanceInformation'];
  return { ...calls, resolve, total: resolve + calls['ssm:SendCommand'] };
}
