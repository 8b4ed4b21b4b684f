/**
 * What a session debugs: one task, or every running task of a service. Apart from
 * lib/domain/session-spec.ts (which re-exports them) so that modules which only describe a target
 * (the session record, in Collect and Cleanup) do not load the request's zod schema with it.
 */

/** One task to debug: its ARN or id (`cluster` for a bare id or an old-format ARN). */
export interface TaskTarget {
  task: string;
  cluster?: string;
  container?: string;
}

/** Every running task of a service (a service's session, lib/session/resolve-service.ts). */
export interface ServiceTarget {
  service: string;
  cluster: string;
  container?: string;
  maxTasks: number;
}

export function isServiceTarget(target: TaskTarget | ServiceTarget): target is ServiceTarget {
  return 'service' in target;
}

/** A target in a few words, for humans: the task, or `service S (cluster C)`. */
export function describeTarget(target: TaskTarget | ServiceTarget): string {
  return isServiceTarget(target) ? `service ${target.service} (cluster ${target.cluster})` : target.task;
}
