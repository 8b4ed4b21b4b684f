import type { ChildResult, PlanRecord } from '../domain/session';
import type { SessionAuditEvent } from './events';

/**
 * The session events built from what the steps already hold, so each step records its event in one
 * line (lib/steps/plan.ts, launch.ts, collect.ts, cleanup.ts).
 */

/** Plan: the targets and the host each runs on, and the tasks left out with why. */
export function resolvedEvent(record: PlanRecord): SessionAuditEvent {
  return {
    type: 'session.resolved',
    sessionId: record.sessionId,
    targets: record.targets.map((t) => ({
      childId: t.sessionId,
      task: t.taskArn,
      container: t.container,
      instanceId: t.instanceId,
    })),
    skipped: record.skipped.map((s) => ({ task: s.taskArn, code: s.code })),
  };
}

/** Collect or Cleanup: how the session ended, each stored artifact with its sha256. */
export function endedEvent(
  sessionId: string,
  status: 'SUCCEEDED' | 'FAILED' | 'CANCELLED',
  children: readonly ChildResult[],
  options: { errorCode?: string; reuploadId?: string } = {},
): SessionAuditEvent {
  return {
    type: 'session.ended',
    sessionId,
    status,
    ...(options.errorCode !== undefined && { errorCode: options.errorCode }),
    ...(options.reuploadId !== undefined && { reuploadId: options.reuploadId }),
    artifacts: children.flatMap((c) =>
      c.status === 'SUCCEEDED' && c.artifact
        ? [
            {
              childId: c.sessionId,
              task: c.taskArn,
              s3Uri: c.artifact.s3Uri,
              bytes: c.artifact.bytes,
              sha256: c.artifact.sha256,
            },
          ]
        : [],
    ),
    failed: children
      .filter((c) => c.status === 'FAILED')
      .map((c) => ({ childId: c.sessionId, task: c.taskArn, code: c.error?.code ?? 'FAILED' })),
  };
}
