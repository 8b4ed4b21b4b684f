import type { ResolvedTarget, SessionKind, SkippedTask } from '../domain/session';
import { isServiceTarget, type SessionSpec } from '../domain/session-spec';
import { resolveService, type FleetDeps } from './resolve-service';
import { resolveTarget, type ResolveObserver } from './resolve-task';

/**
 * Targets of a request: one task, or every running task of a service, each through the same checks
 * (target-checks.ts). A single task that cannot be debugged fails the request with its own error
 * (nothing was asked of any other task); a service's undebuggable tasks are skipped, each with
 * the code and message a single-task request would have got.
 */
export interface Resolution {
  kind: SessionKind;
  clusterArn: string;
  /** The service's name (a service target). */
  service?: string;
  targets: ResolvedTarget[];
  skipped: SkippedTask[];
  /** Tasks ListTasks returned (a service), or 1. */
  listed: number;
  /** The cap applied (a service's maxTasks), or 1. */
  maxTasks: number;
  /** Tasks the cap left out (= listed - targets - skipped). */
  leftOut: number;
  /** Control-plane calls made, per API. */
  calls: Record<string, number>;
}

export interface TargetDeps extends FleetDeps {
  /** `debug-task doctor`: each check of a single task as it passes or fails. */
  observer?: ResolveObserver;
}

export async function resolveTargets(
  spec: Pick<SessionSpec, 'target'>,
  deps: TargetDeps = {},
): Promise<Resolution> {
  const { target } = spec;
  if (isServiceTarget(target)) {
    const fleet = await resolveService(
      {
        cluster: target.cluster,
        service: target.service,
        maxTasks: target.maxTasks,
        ...(target.container !== undefined && { container: target.container }),
      },
      deps,
    );
    return { kind: 'service', ...fleet };
  }
  const resolved = await resolveTarget(target, deps.observer);
  return {
    kind: 'task',
    clusterArn: resolved.clusterArn,
    targets: [resolved],
    skipped: [],
    listed: 1,
    maxTasks: 1,
    leftOut: 0,
    // Resolve's three calls, always (resolve-task.ts): what `npm run bench` counts.
    calls: {
      'ecs:DescribeTasks': 1,
      'ecs:DescribeContainerInstances': 1,
      'ssm:DescribeInstanceInformation': 1,
    },
  };
}
