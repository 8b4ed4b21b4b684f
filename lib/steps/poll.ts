import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandInvocation } from '@aws-sdk/client-ssm';
import { sdkErrorInfo } from '../aws/errors';
import { DebugTaskError } from '../domain/errors';
import { mapLimit } from '../domain/map-limit';
import {
  runKeys,
  type BatchCommand,
  type BatchPoll,
  type BatchState,
  type HostOutcome,
} from '../domain/session';
import { logger } from '../log';
import {
  LINGER_INVOCATION_SECONDS,
  cancelInvocations,
  hasEnded,
  hostOutcome,
  lingerIntervalMs,
  listInvocations,
  nextWaitSeconds,
  shouldLinger,
  type WaitInput,
} from '../session/invocations';
import { sendRunner, sessionComment, stopValues } from '../session/host-command';
import { checkNotCancelled, isStopRequested, putJson } from '../session/store';

/** State of a Map iteration after Launch (and after earlier polls). */
export type PollState = BatchState & { command: BatchCommand; poll?: BatchPoll };

/** GetCommandInvocation calls at once when a batch ends (up to 50 hosts). */
const FETCH_CONCURRENCY = 8;

export interface PollDeps {
  /** Milliseconds since the epoch; injectable so tests can fix the time. */
  now?: () => number;
  /** Injectable so tests need not wait for real. */
  sleep?: (ms: number) => Promise<unknown>;
}

/**
 * Poll: has the session been cancelled (CANCELLED fails the Map: Cleanup runs), or stopped, and
 * have all hosts of this batch ended?
 *
 * A stop (the API's stop marker, `debug-task stop` or a first Ctrl-C) is sent once to the batch's
 * hosts still running, as action=stop: each capture ends as at the end of its duration and its
 * runner uploads it as usual, so the batch then ends the normal way, with every capture kept. From
 * then on the end is expected at the stop, so polls linger there instead of at the duration's end.
 *
 * One ListCommandInvocations page (a batch is at most 50 hosts, a page) tells every host's status.
 * Near the expected end of the capture it keeps looking (`shouldLinger`), for up to
 * LINGER_INVOCATION_SECONDS, past the hosts' usual finish: once a second until the expected end,
 * then every 100 ms (one batch) for a few seconds, then every quarter second (`lingerIntervalMs`),
 * so the end is seen within a tenth of a second instead of at the next whole-second Wait.
 * Once all have ended it fetches each host's summary line (GetCommandInvocation) and stores the
 * batch's HostOutcome[] in S3 for Collect. A host still running past the deadline is cancelled and
 * recorded as `GaveUp`; the others of the batch are kept. Nothing a host does fails the batch.
 */
export async function pollBatch(state: PollState, deps: PollDeps = {}): Promise<BatchPoll> {
  const now = deps.now ?? Date.now;
  const wait = deps.sleep ?? sleep;
  const { sessionId, plan, batch, command } = state;
  await checkNotCancelled(sessionId, plan.bucket);

  let listed = await listInvocations(command.commandId);
  const stopSentAt = state.poll?.stopSentAt ?? (await sendStopIfAsked(state, listed, now));
  const stopped = stopSentAt !== undefined ? { stopSentAt } : {};

  const schedule = (): WaitInput => {
    const sentAtMs = Date.parse(command.sentAt);
    const start = plan.startAt ?? sentAtMs / 1000;
    const full = plan.reupload ? 0 : state.spec.durationSeconds;
    // Once stopped, the captures end about when the stop reached them.
    const durationSeconds =
      stopSentAt !== undefined ? Math.min(full, Math.max(0, Date.parse(stopSentAt) / 1000 - start)) : full;
    return {
      nowMs: now(),
      sentAtMs,
      ...(plan.startAt !== undefined && { startAt: plan.startAt }),
      durationSeconds,
      deadline: plan.deadline,
    };
  };
  const lingerUntil = now() + LINGER_INVOCATION_SECONDS * 1000;
  while (!allEnded(batch.instanceIds, listed) && shouldLinger(schedule()) && now() < lingerUntil) {
    await wait(lingerIntervalMs(schedule(), plan.batches.length));
    const next = await listInvocations(command.commandId).catch((error: unknown) => {
      // A throttled look while lingering ends the linger, not the session: the Wait state's pace
      // takes over (the first look of a poll is not spared: it is the Wait state's own).
      if (error instanceof DebugTaskError && sdkErrorInfo(error.cause).throttling) return undefined;
      throw error;
    });
    if (!next) {
      logger.warn('ssm:ListCommandInvocations throttled while lingering: back to the Wait state', {
        batch: batch.batch,
      });
      break;
    }
    listed = next;
  }

  const ended = batch.instanceIds.filter((id) => hasEnded(listed.get(id)));
  const pastDeadline = now() / 1000 > plan.deadline;
  if (ended.length < batch.instanceIds.length && !pastDeadline) {
    return { done: false, ended: ended.length, waitSeconds: nextWaitSeconds(schedule()), ...stopped };
  }

  const running = batch.instanceIds.filter((id) => !hasEnded(listed.get(id)));
  if (running.length) {
    logger.warn('hosts still running past the session deadline: cancelling them', { running });
    await cancelInvocations(command.commandId, running).catch((error: unknown) =>
      logger.warn('ssm:CancelCommand failed', { error }),
    );
  }
  const outcomes = await mapLimit(batch.instanceIds, FETCH_CONCURRENCY, (instanceId) =>
    running.includes(instanceId)
      ? Promise.resolve<HostOutcome>({ instanceId, status: 'GaveUp' })
      : hostOutcome(command.commandId, instanceId, listed.get(instanceId)),
  );
  await putJson(plan.bucket, runKeys({ sessionId, reupload: plan.reupload }).batch(batch.batch), outcomes);
  return { done: true, ended: batch.instanceIds.length, waitSeconds: 0, ...stopped };
}

/**
 * When the session's stop marker is there: action=stop to the batch's hosts still running (a host
 * that ended has nothing to stop), once; the time it was sent. A failed send is logged and tried
 * again at the next poll (undefined): the captures then run to their duration at worst.
 */
async function sendStopIfAsked(
  state: PollState,
  listed: Map<string, CommandInvocation>,
  now: () => number,
): Promise<string | undefined> {
  const { sessionId, plan, batch } = state;
  if (plan.reupload || !(await isStopRequested(sessionId, plan.bucket))) return undefined;
  const running = batch.instanceIds.filter((id) => !hasEnded(listed.get(id)));
  const sentAt = new Date(now()).toISOString();
  if (running.length === 0) return sentAt;
  try {
    await sendRunner({
      instanceIds: running,
      values: stopValues(sessionId, plan.expiresAt),
      comment: sessionComment(sessionId, 'stop'),
      call: 'ssm:SendCommand (stop)',
    });
    logger.info('stop sent to the batch’s hosts', { batch: batch.batch, hosts: running.length });
    return sentAt;
  } catch (error) {
    logger.warn('ssm:SendCommand (stop) failed; trying again at the next poll', {
      batch: batch.batch,
      error,
    });
    return undefined;
  }
}

function allEnded(instanceIds: readonly string[], listed: Map<string, CommandInvocation>): boolean {
  return instanceIds.every((id) => hasEnded(listed.get(id)));
}
