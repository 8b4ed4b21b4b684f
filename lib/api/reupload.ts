import type { DescribeExecutionCommandOutput } from '@aws-sdk/client-sfn';
import { DebugTaskError, errorFromBody, fromStepFunctionsFailure } from '../domain/errors';
import {
  parseChildId,
  type ChildResult,
  type ExecutionInput,
  type ReuploadStarted,
  type ReuploadView,
  type SessionResult,
} from '../domain/session';
import { readSessionRecord, type SessionRecord } from '../session/record';
import { getJson, objectSizes } from '../session/store';
import {
  assertSessionId,
  currentPhase,
  describe,
  downloadUrls,
  executionArnOf,
  parseInput,
  startExecution,
  type ApiConfig,
} from './sessions';

/**
 * Re-upload (`debug-task fetch` of a session that ended UPLOAD_FAILED): the artifacts its hosts kept
 * are uploaded again by an execution of the same state machine, named `<session>-<reupload id>`:
 * Plan takes the children from the session's record, Launch sends `action=reupload` to their hosts,
 * Poll follows, Collect checks the objects and writes the re-upload's own record beside the
 * session's. So every child of a service can be fetched again too, and no route sends a command.
 */

export function assertReuploadId(reuploadId: string): string {
  if (!/^r[0-9a-z]{1,12}$/.test(reuploadId)) {
    throw new DebugTaskError('INVALID_ARGUMENT', `"${reuploadId.slice(0, 40)}" is not a re-upload id.`);
  }
  return reuploadId;
}

/** The re-uploads of a session already done, child id -> its result. */
type Done = Map<string, { reuploadId: string; child: ChildResult }>;

/** POST /sessions/{id}/reupload: a session's id (every child whose upload failed) or a child's. */
export async function startReupload(
  id: string,
  caller: string,
  config: ApiConfig,
  described?: DescribeExecutionCommandOutput,
): Promise<ReuploadStarted | ReuploadView> {
  const sessionId = parseChildId(assertSessionId(id))?.sessionId ?? id;
  const execution = described ?? (await describe(executionArnOf(config.stateMachineArn, sessionId), id));
  if (execution.status === 'RUNNING') {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `Session ${id} cannot be uploaded again: it is still running.`,
      {
        hint: `Wait for it: \`debug-task status ${id}\`.`,
      },
    );
  }
  const input = parseInput(execution.input);
  const record = await readSessionRecord(config.bucket, sessionId);
  if (!input || !record) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `Session ${id} cannot be uploaded again: it left no record.`,
      {
        hint: 'Only a session whose capture ended with UPLOAD_FAILED keeps its artifact on its host.',
      },
    );
  }
  const wanted = record.children.filter((c) => c.sessionId === id || sessionId === id);
  const failed = wanted.filter((c) => c.error?.code === 'UPLOAD_FAILED');
  if (failed.length === 0) {
    const why = wanted.every((c) => c.status === 'SUCCEEDED')
      ? 'its upload worked: just fetch it'
      : `it ended ${wanted.find((c) => c.error)?.error?.code ?? 'FAILED'}, with no artifact kept`;
    throw new DebugTaskError('INVALID_ARGUMENT', `Session ${id} cannot be uploaded again: ${why}.`);
  }

  const done = await reuploadsDone(config.bucket, sessionId);
  const pending = failed.filter((c) => !done.has(c.sessionId));
  if (pending.length === 0) {
    // Uploaded again earlier: nothing to send, the artifacts are in S3.
    const children = failed.map((c) => done.get(c.sessionId)!.child);
    return {
      sessionId: id,
      reuploadId: done.get(failed[0].sessionId)!.reuploadId,
      status: 'SUCCEEDED',
      result: resultOf(record, children, sessionId),
      downloadUrls: await downloadUrls(children, caller),
    };
  }
  const reuploadId = `r${Date.now().toString(36)}`;
  const reuploadInput: ExecutionInput = {
    ...input,
    caller,
    requestedAt: new Date().toISOString(),
    reupload: { id: reuploadId, children: pending.map((c) => c.sessionId) },
  };
  await startExecution(config, `${sessionId}-${reuploadId}`, reuploadInput);
  return { sessionId: id, reuploadId, children: reuploadInput.reupload!.children, status: 'RUNNING' };
}

/** GET /sessions/{id}/reupload/{reuploadId}: how the re-upload goes; a failed one is its typed error. */
export async function getReupload(
  id: string,
  reuploadId: string,
  config: ApiConfig,
  caller = 'unknown',
): Promise<ReuploadView> {
  const child = parseChildId(assertSessionId(id));
  const sessionId = child?.sessionId ?? id;
  assertReuploadId(reuploadId);
  const arn = executionArnOf(config.stateMachineArn, `${sessionId}-${reuploadId}`);
  const execution = await describe(arn, `${id} (re-upload ${reuploadId})`);
  if (execution.status === 'RUNNING') {
    const phase = await currentPhase(arn);
    return { sessionId: id, reuploadId, status: 'RUNNING', ...(phase && { phase }) };
  }
  if (execution.status !== 'SUCCEEDED' || !execution.output) {
    throw execution.status === 'FAILED'
      ? fromStepFunctionsFailure(execution.error, execution.cause)
      : new DebugTaskError('UPLOAD_FAILED', `The re-upload of ${id} ended ${execution.status}.`);
  }
  const result = JSON.parse(execution.output) as SessionResult;
  const children = result.children.filter((c) => c.sessionId === id || sessionId === id);
  const uploaded = children.filter((c) => c.status === 'SUCCEEDED');
  if (child && uploaded.length === 0 && children[0]?.error) throw errorFromBody(children[0].error);
  return {
    sessionId: id,
    reuploadId,
    status: 'SUCCEEDED',
    result: child ? { ...result, kind: 'task', children, skipped: [] } : result,
    downloadUrls: await downloadUrls(uploaded, caller),
  };
}

/** Children uploaded again by earlier re-uploads (their records under `reuploads/`). */
async function reuploadsDone(bucket: string, sessionId: string): Promise<Done> {
  const done: Done = new Map();
  const prefix = `sessions/${sessionId}/reuploads/`;
  const records = [...(await objectSizes(bucket, prefix)).keys()].filter((k) => k.endsWith('/record.json'));
  for (const key of records.sort()) {
    const record = await getJson<{ reuploadId: string; children: ChildResult[] }>(bucket, key);
    for (const c of record.children) {
      if (c.status === 'SUCCEEDED') done.set(c.sessionId, { reuploadId: record.reuploadId, child: c });
    }
  }
  return done;
}

function resultOf(record: SessionRecord, children: ChildResult[], sessionId: string): SessionResult {
  const again = new Map(children.map((c) => [c.sessionId, c]));
  const all = record.children.map((c) => again.get(c.sessionId) ?? c);
  const succeeded = all.filter((c) => c.status === 'SUCCEEDED').length;
  return {
    sessionId,
    status: 'SUCCEEDED',
    kind: record.kind,
    target: record.target,
    tool: record.tool,
    counts: { ...record.counts, succeeded, failed: all.length - succeeded },
    ...(record.startAt !== undefined && { startAt: record.startAt }),
    children: all,
    skipped: record.skipped,
    recordUri: record.recordUri,
    timings: record.timings,
  };
}
