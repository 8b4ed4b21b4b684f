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
import { hasEnded, listInvocations } from '../session/invocations';
import { sessionResult, writeSessionRecord } from '../session/record';
import { getJson } from '../session/store';

/** What Catch hands to Cleanup: the state when a step failed (`plan` once Plan ran), plus the failure. */
export type CleanupState = ExecutionInput & {
  plan?: PlanInfo;
  error: { Error: string; Cause: string };
};

export interface CleanupDeps {
  now?: () => number;
  /** Waits between two looks at the cleanup commands (tests pass a fast one). */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * How long Cleanup waits for the hosts to confirm their cleanup (the command ended). A cancel is
 * reported CANCELLED only once its hosts have removed what the session started, or this has passed
 * (the record then says how many hosts had not confirmed; their watchdogs remove the rest by the
 * session's deadline). The host's cleanup stops a running capture first (up to ~35 s for a plan
 * whose children ignore SIGTERM, PLAN_STOP_SECONDS + 5); usually it takes a second or two.
 */
export const CLEANUP_CONFIRM_SECONDS = 20;
const CLEANUP_CONFIRM_INTERVAL_MS = 500;

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
  const sent: Array<{ commandId: string; instanceIds: string[] }> = [];
  await mapLimit(plan.batches, 4, async (batch) => {
    try {
      const commandId = await sendRunner({
        instanceIds: batch.instanceIds,
        values: cleanupValues(state.sessionId, plan.expiresAt),
        comment: sessionComment(state.sessionId, 'cleanup'),
        call: 'ssm:SendCommand (cleanup)',
      });
      sent.push({ commandId, instanceIds: [...batch.instanceIds] });
    } catch (error) {
      logger.warn('cleanup: ssm:SendCommand (cleanup) failed; the original error is reported instead', {
        batch: batch.batch,
        error,
      });
    }
  });
  const hosts = plan.batches.reduce((sum, batch) => sum + batch.instanceIds.length, 0);
  const confirmed = await confirmedHosts(sent, deps);
  if (confirmed < hosts) {
    logger.warn('cleanup: not every host confirmed its cleanup in time; their watchdogs remove the rest', {
      hosts,
      confirmed,
    });
  }
  if (!state.reupload) {
    await recordFailure(state, plan, original, nowMs, { hosts, confirmed }).catch((error: unknown) =>
      logger.warn('cleanup: the session record could not be written', { error }),
    );
  }
  throw original;
}

/** The record of a session that ended before Collect: every child ended with the session's error. */
async function recordFailure(
  state: CleanupState,
  plan: PlanInfo,
  error: DebugTaskError,
  nowMs: number,
  cleanup: { hosts: number; confirmed: number },
) {
  const record = await getJson<PlanRecord>(plan.bucket, runKeys(state).plan);
  const json = error.toJSON();
  // What the session's end can promise: how many of its hosts confirmed their cleanup.
  const body = { ...json, details: { ...json.details, cleanup } };
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

/**
 * How many hosts ran their cleanup to its end (any final status: a host that failed it has
 * nothing more to do with it either), looking every half second for CLEANUP_CONFIRM_SECONDS at
 * most. A failing look is logged and counts no host.
 */
async function confirmedHosts(
  sent: ReadonlyArray<{ commandId: string; instanceIds: string[] }>,
  deps: CleanupDeps,
): Promise<number> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const deadline = now() + CLEANUP_CONFIRM_SECONDS * 1000;
  let confirmed = 0;
  for (;;) {
    try {
      const counts = await Promise.all(
        sent.map(async ({ commandId, instanceIds }) => {
          const listed = await listInvocations(commandId);
          return instanceIds.filter((id) => hasEnded(listed.get(id))).length;
        }),
      );
      confirmed = counts.reduce((sum, n) => sum + n, 0);
    } catch (error) {
      logger.warn('cleanup: the cleanup commands could not be read', { error });
      return confirmed;
    }
    const all = sent.reduce((sum, s) => sum + s.instanceIds.length, 0);
    if (confirmed >= all || now() >= deadline) return confirmed;
    await sleep(CLEANUP_CONFIRM_INTERVAL_MS);
  }
}
