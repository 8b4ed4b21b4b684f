import { audit } from '../audit/audit';
import { endedEvent } from '../audit/session-events';
import {
  DebugTaskError,
  errorFromBody,
  fromStepFunctionsFailure,
  type ErrorBody,
  type ErrorCode,
} from '../domain/errors';
import { mapLimit } from '../domain/map-limit';
import {
  runKeys,
  sessionKeys,
  type BatchOutcome,
  type ChildResult,
  type ExecutionInput,
  type HostOutcome,
  type PlanInfo,
  type PlanRecord,
  type PlanTarget,
  type SessionResult,
} from '../domain/session';
import { TOOLS } from '../domain/tools';
import { executionOutput, readSessionRecord, sessionResult, writeSessionRecord } from '../session/record';
import { getJson, getText, objectSizes, putJsonOnce } from '../session/store';
import { childVerdict, parseManifest } from '../session/verdict';

/** State after the Map: the execution input, the plan summary, and each batch's outcome. */
export type CollectState = ExecutionInput & { plan: PlanInfo; batchResults: BatchOutcome[] };

export interface CollectDeps {
  now?: () => number;
}

/** Manifests read at once. */
const READ_CONCURRENCY = 16;

/**
 * Collect: the verdict on every child, from the manifest its host wrote next to its artifact, its
 * host's outcome and the objects in S3 (one ListObjectsV2 page per 1,000 keys, not a HeadObject
 * each); then the session's record, written once. The execution output is the result (without the
 * children when there are many: GET /sessions/{id} reads them from the record).
 *
 * A one-task session whose child failed ends FAILED with the child's own error, as its user expects
 * (HOST_BUSY, UPLOAD_FAILED with where the artifact is kept, ...). A service's session fails only
 * when not one child succeeded, with the most frequent error.
 */
export async function collectSession(state: CollectState, deps: CollectDeps = {}): Promise<SessionResult> {
  const collectedAt = new Date((deps.now ?? Date.now)()).toISOString();
  const { plan } = state;
  // Three reads that do not depend on each other, at once: the plan record, the hosts' outcomes
  // (Poll wrote them) and the listing of the children's objects (every host has ended by now).
  const [record, hosts, objects] = await Promise.all([
    getJson<PlanRecord>(plan.bucket, runKeys(state).plan),
    hostOutcomes(state),
    objectSizes(plan.bucket, sessionKeys.childrenPrefix(state.sessionId)),
  ]);
  const children = await verdicts(state, record, hosts, objects);

  if (state.reupload) return collectReupload(state, record, children, collectedAt);

  const result = sessionResult(state, record, children, plan.bucket, {
    ...(plan.startAt !== undefined && { startAt: plan.startAt }),
    collectedAt,
  });
  const failure = sessionFailure(result);
  await writeSessionRecord(plan.bucket, state, result, {
    status: failure ? 'FAILED' : 'SUCCEEDED',
    ...(failure && { error: failure.toJSON() }),
    calls: record.calls,
  });
  // A failure goes on to Cleanup, which records the end of every session that failed.
  if (failure) throw failure;
  audit.session(endedEvent(state.sessionId, 'SUCCEEDED', children));
  return executionOutput(result);
}

/** Every child's verdict, in plan order. */
async function verdicts(
  state: CollectState,
  record: PlanRecord,
  hosts: Map<string, HostOutcome | ErrorBody>,
  objects: Map<string, number>,
): Promise<ChildResult[]> {
  const { plan, sessionId } = state;
  const extension = TOOLS[state.spec.tool].extension;
  const manifestKey = (t: PlanTarget) =>
    state.reupload
      ? sessionKeys.childReuploadManifest(t.sessionId, state.reupload.id)
      : sessionKeys.childManifest(t.sessionId);
  return mapLimit(record.targets, READ_CONCURRENCY, async (target) => {
    const key = sessionKeys.childArtifact(target.sessionId, extension);
    const text = objects.has(manifestKey(target))
      ? await getText(plan.bucket, manifestKey(target))
      : undefined;
    const manifest = text === undefined ? undefined : parseManifest(text, target.sessionId);
    return childVerdict({
      target,
      bucket: plan.bucket,
      key,
      ...(manifest && { manifest }),
      ...(hosts.has(target.instanceId) && { host: hosts.get(target.instanceId) }),
      ...(objects.has(key) && { objectBytes: objects.get(key) }),
      fetchId: record.kind === 'task' ? sessionId : target.sessionId,
    });
  });
}

/** Each host's outcome; a batch that could not be sent gives its hosts that error. */
async function hostOutcomes(state: CollectState): Promise<Map<string, HostOutcome | ErrorBody>> {
  const out = new Map<string, HostOutcome | ErrorBody>();
  const failed = new Map(state.batchResults.filter((b) => b.error).map((b) => [b.batch, b.error]));
  const keys = runKeys(state);
  await mapLimit(state.plan.batches, READ_CONCURRENCY, async (batch) => {
    const error = failed.get(batch.batch);
    if (error) {
      const body = fromStepFunctionsFailure(error.Error, error.Cause).toJSON();
      for (const id of batch.instanceIds) out.set(id, body);
      return;
    }
    const outcomes = await getJson<HostOutcome[]>(state.plan.bucket, keys.batch(batch.batch), () => []);
    for (const o of outcomes) out.set(o.instanceId, o);
  });
  return out;
}

/** The error a finished session ends with, if any (see collectSession). */
function sessionFailure(result: SessionResult): DebugTaskError | undefined {
  if (result.kind === 'task') {
    const [child] = result.children;
    return child?.status === 'FAILED' && child.error ? errorFromBody(child.error) : undefined;
  }
  if (result.counts.succeeded > 0) return undefined;
  return noneSucceeded(result);
}

function noneSucceeded(result: SessionResult): DebugTaskError {
  const counts = new Map<ErrorCode, number>();
  for (const c of result.children) {
    if (c.error) counts.set(c.error.code, (counts.get(c.error.code) ?? 0) + 1);
  }
  const [code] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0] ?? ['CAPTURE_FAILED'];
  const first = result.children.find((c) => c.error?.code === code);
  const what = result.target.service ?? result.target.task ?? result.sessionId;
  return new DebugTaskError(
    code,
    `None of the ${result.children.length} targets of ${what} succeeded; most failed with ${code}: ${first?.error?.message ?? ''}`.slice(
      0,
      1000,
    ),
    {
      hint: `The session's record ${result.recordUri} has every target's error.`,
      details: { reasons: Object.fromEntries(counts), recordUri: result.recordUri },
    },
  );
}

/**
 * A re-upload: its own record beside the session's (which is never overwritten); the result is the
 * session's, with the children that were uploaded again as they are now.
 */
async function collectReupload(
  state: CollectState,
  plan: PlanRecord,
  uploaded: ChildResult[],
  collectedAt: string,
): Promise<SessionResult> {
  const bucket = state.plan.bucket;
  const session = await readSessionRecord(bucket, state.sessionId);
  if (!session) {
    throw new DebugTaskError(
      'AWS_ERROR',
      `The record of session ${state.sessionId} disappeared during its re-upload.`,
    );
  }
  await putJsonOnce(bucket, runKeys(state).record, {
    v: 2,
    sessionId: state.sessionId,
    reuploadId: state.reupload?.id,
    caller: state.caller,
    requestedAt: state.requestedAt,
    children: uploaded,
    collectedAt,
  });
  const again = new Map(uploaded.map((c) => [c.sessionId, c]));
  const children = session.children.map((c) => again.get(c.sessionId) ?? c);
  const result = sessionResult(
    state,
    {
      ...plan,
      kind: session.kind,
      listed: session.counts.listed,
      leftOut: session.counts.leftOut,
      skipped: session.skipped,
      clusterArn: session.target.clusterArn,
      ...(session.target.service !== undefined && { service: session.target.service }),
    },
    children,
    bucket,
    {
      ...(session.startAt !== undefined && { startAt: session.startAt }),
      collectedAt,
    },
  );
  const failed = uploaded.filter((c) => c.status === 'FAILED');
  if (failed.length === uploaded.length && failed[0]?.error) throw errorFromBody(failed[0].error);
  audit.session(endedEvent(state.sessionId, 'SUCCEEDED', uploaded, { reuploadId: state.reupload?.id }));
  return executionOutput(result);
}
