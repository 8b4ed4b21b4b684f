import { DebugTaskError, type ErrorBody } from '../domain/errors';
import {
  INLINE_CHILDREN,
  sessionKeys,
  type ChildResult,
  type ExecutionInput,
  type PlanRecord,
  type SessionResult,
} from '../domain/session';
import { describeTarget } from '../domain/target';
import { getJson, putJsonOnce } from './store';

/**
 * The session's record (`sessions/<id>/manifest.json`): the audit of one session, written once
 * (S3 conditional write) by Collect, or by Cleanup when the session failed before Collect; never
 * overwritten. A re-upload writes a record of its own beside it.
 */
export interface SessionRecord extends Omit<SessionResult, 'status' | 'childrenInRecord'> {
  v: 2;
  status: 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
  /** Why the session failed (the error it ended with). */
  error?: ErrorBody;
  audit: {
    caller: string;
    reason: string | null;
    requestedAt: string;
    spec: ExecutionInput['spec'];
    /** `describeTarget` of the request. */
    requested: string;
  };
  /** Control-plane calls Plan made, per API. */
  calls: Record<string, number>;
}

/** The result of a session from its plan and its children's verdicts. */
export function sessionResult(
  input: ExecutionInput,
  plan: PlanRecord,
  children: ChildResult[],
  bucket: string,
  options: { startAt?: number; collectedAt: string },
): SessionResult {
  const succeeded = children.filter((c) => c.status === 'SUCCEEDED').length;
  const target = input.spec.target;
  return {
    sessionId: input.sessionId,
    status: 'SUCCEEDED',
    kind: plan.kind,
    target: {
      cluster: target.cluster ?? plan.clusterArn,
      clusterArn: plan.clusterArn,
      ...(plan.service !== undefined && { service: plan.service }),
      ...('task' in target && { task: target.task }),
    },
    tool: input.spec.tool,
    counts: {
      listed: plan.listed,
      targets: children.length,
      succeeded,
      failed: children.length - succeeded,
      skipped: plan.skipped.length,
      leftOut: plan.leftOut,
    },
    ...(options.startAt !== undefined && { startAt: options.startAt }),
    children,
    skipped: plan.skipped,
    recordUri: `s3://${bucket}/${sessionKeys.record(input.sessionId)}`,
    timings: { requestedAt: input.requestedAt, collectedAt: options.collectedAt },
  };
}

/** The execution output: the result, without its children when there are too many for a state. */
export function executionOutput(result: SessionResult): SessionResult {
  if (result.children.length <= INLINE_CHILDREN) return result;
  return { ...result, children: [], childrenInRecord: true, skipped: [] };
}

/** Writes the session's record unless one exists; false when it was there already. */
export async function writeSessionRecord(
  bucket: string,
  input: ExecutionInput,
  result: SessionResult,
  outcome: { status: SessionRecord['status']; error?: ErrorBody; calls: Record<string, number> },
): Promise<boolean> {
  const { status: _succeeded, childrenInRecord: _inline, ...rest } = result;
  const record: SessionRecord = {
    v: 2,
    ...rest,
    status: outcome.status,
    ...(outcome.error && { error: outcome.error }),
    audit: {
      caller: input.caller,
      reason: input.spec.reason ?? null,
      requestedAt: input.requestedAt,
      spec: input.spec,
      requested: describeTarget(input.spec.target),
    },
    calls: outcome.calls,
  };
  return putJsonOnce(bucket, sessionKeys.record(input.sessionId), record);
}

export async function readSessionRecord(
  bucket: string,
  sessionId: string,
): Promise<SessionRecord | undefined> {
  return getJson<SessionRecord | undefined>(bucket, sessionKeys.record(sessionId), () => undefined);
}

/** What a re-upload plans from: the session's children as its record has them. */
export async function sessionRecordChildren(
  bucket: string,
  sessionId: string,
): Promise<Pick<SessionRecord, 'kind' | 'children'> & { clusterArn: string; service?: string }> {
  const record = await readSessionRecord(bucket, sessionId);
  if (!record) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `Session ${sessionId} has no record yet: it has not ended.`,
      {
        hint: `Wait for it to end: \`debug-task status ${sessionId}\`.`,
      },
    );
  }
  return {
    kind: record.kind,
    children: record.children,
    clusterArn: record.target.clusterArn,
    ...(record.target.service !== undefined && { service: record.target.service }),
  };
}
