import { audit } from '../audit/audit';
import { endedEvent } from '../audit/session-events';
import { fromStepFunctionsFailure, type DebugTaskError } from '../domain/errors';
import { mapLimit } from '../domain/map-limit';
import {
  runKeys,
  type ChildResult,
  type ExecutionInput,
  type PlanInfo,
  type PlanRecord,
} from '../domain/session';
import { logger } from '../log';
import { cleanupValues, pinnedDocument, sendRunner, sessionComment } from '../session/host-command';
import { sessionResult, writeSessionRecord } from '../session/record';
import { getJson } from '../session/store';

/** What Catch hands to Cleanup: the state when a step failed (`plan` once Plan ran), plus the failure. */
export type CleanupState = ExecutionInput & {
  plan?: PlanInfo;
  error: { Error: string; Cause: string };
};

export interface CleanupDeps {
  now?: () => number;
}

/**
 * Cleanup, on every failure, cancel or timeout after Plan: `action=cleanup` with the session's id to
 * every host of the plan, 50 a call (the runner stops the session's runners on the host and removes
 * every child's container, watchdog and work dir; a kept artifact stays until its keep-until). Then
 * the session's record, when Collect did not write one (a cancel, a timeout), and the error that
 * brought us here, re-raised so the execution ends with it.
 *
 * Best effort: a failing call is logged and never replaces the original error, which is what the
 * user needs (CANCELLED, HOST_BUSY, ...). The hosts' watchdogs and the sweeper remove what this misses.
 */
export async function cleanupSession(state: CleanupState, deps: CleanupDeps = {}): Promise<never> {
  const original: DebugTaskError = fromStepFunctionsFailure(state.error?.Error, state.error?.Cause);
  logger.info('cleaning up after failure', { code: original.code });
  // Every session that fails ends here (a failure in Collect included): its end is recorded once,
  // with the error every child ended with.
  audit.session(
    endedEvent(state.sessionId, original.code === 'CANCELLED' ? 'CANCELLED' : 'FAILED', [], {
      errorCode: original.code,
      reuploadId: state.reupload?.id,
    }),
  );
  const { plan } = state;
  if (!plan) throw original;
  const nowMs = (deps.now ?? Date.now)();

  try {
    // Inside the try: a deployment error here (no DOCUMENT_NAME or pinned version) must not hide
    // the original error.
    pinnedDocument();
  } catch (error) {
    logger.warn('cleanup: the pinned document is not set; the original error is reported instead', { error });
    throw original;
  }
  await mapLimit(plan.batches, 4, async (batch) => {
    try {
      await sendRunner({
        instanceIds: batch.instanceIds,
        values: cleanupValues(state.sessionId, plan.expiresAt),
        comment: sessionComment(state.sessionId, 'cleanup'),
        call: 'ssm:SendCommand (cleanup)',
      });
    } catch (error) {
      logger.warn('cleanup: ssm:SendCommand (cleanup) failed; the original error is reported instead', {
        batch: batch.batch,
        error,
      });
    }
  });
  if (!state.reupload) {
    await recordFailure(state, plan, original, nowMs).catch((error: unknown) =>
      logger.warn('cleanup: the session record could not be written', { error }),
    );
  }
  throw original;
}

/** The record of a session that ended before Collect: every child ended with the session's error. */
async function recordFailure(state: CleanupState, plan: PlanInfo, error: DebugTaskError, nowMs: number) {
  const record = await getJson<PlanRecord>(plan.bucket, runKeys(state).plan);
  const body = error.toJSON();
  const children: ChildResult[] = record.targets.map((t) => ({
    index: t.index,
    sessionId: t.sessionId,
    taskArn: t.taskArn,
    clusterArn: t.clusterArn,
    container: t.container,
    instanceId: t.instanceId,
    status: 'FAILED',
    error: body,
  }));
  const result = sessionResult(state, record, children, plan.bucket, {
    ...(plan.startAt !== undefined && { startAt: plan.startAt }),
    collectedAt: new Date(nowMs).toISOString(),
  });
  await writeSessionRecord(plan.bucket, state, result, {
    status: error.code === 'CANCELLED' ? 'CANCELLED' : 'FAILED',
    error: body,
    calls: record.calls,
  });
}
