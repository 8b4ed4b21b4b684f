import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { GetCommandInvocationCommand, type GetCommandInvocationCommandOutput } from '@aws-sdk/client-ssm';
import { DebugTaskError } from '../domain/errors';
import { sessionKeys, type LaunchInfo, type PollResult } from '../domain/session';
import { isNotFound, translateAwsError } from './aws-errors';
import { s3Client, ssmClient } from './clients';
import type { LaunchState } from './launch';

/** State after Launch (and after earlier polls). */
export type PollState = LaunchState & { launch: LaunchInfo; poll?: PollResult };

/** The step of our SSM document whose invocation we follow (the document has exactly one). */
export const PLUGIN_NAME = 'runDebugTask';

const TERMINAL_STATUSES = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut']);
// More precise than Status (Failed/TimedOut) and also final; reported as the status when present.
export const TERMINAL_DETAILS = new Set([
  'DeliveryTimedOut',
  'ExecutionTimedOut',
  'Undeliverable',
  'Terminated',
  'InvalidPlatform',
  'AccessDenied',
]);

export const STDERR_TAIL_CHARS = 2000;

export interface PollDeps {
  /** Milliseconds since the epoch; injectable so tests can fix the time. */
  now?: () => number;
}

/**
 * Poll: has the session been cancelled, and has the command ended?
 *
 * Raises CANCELLED when the API's cancel marker is present (Cleanup then stops the command), and
 * SESSION_TIMED_OUT when the command is still running past the launch deadline. Otherwise tells
 * the Wait state how long to sleep before the next poll (`nextWaitSeconds`).
 */
export async function pollSession(state: PollState, deps: PollDeps = {}): Promise<PollResult> {
  const now = deps.now ?? Date.now;
  const { launch } = state;
  await checkNotCancelled(state.sessionId, launch.bucket);

  const invocation = await getInvocation(launch);
  if (invocation && isTerminal(invocation)) return finished(invocation);

  const nowMs = now();
  const status = invocation?.Status ?? 'Pending';
  if (nowMs / 1000 > launch.deadline) {
    throw new DebugTaskError(
      'SESSION_TIMED_OUT',
      `The command on ${launch.instanceId} is still ${status} past the session deadline (${new Date(launch.deadline * 1000).toISOString()}).`,
      {
        details: {
          commandId: launch.commandId,
          instanceId: launch.instanceId,
          status,
          deadline: launch.deadline,
        },
      },
    );
  }
  return {
    done: false,
    status,
    waitSeconds: nextWaitSeconds({
      nowMs,
      startedAtMs: Date.parse(launch.startedAt),
      durationSeconds: state.spec.durationSeconds,
      deadline: launch.deadline,
    }),
  };
}

export async function checkNotCancelled(sessionId: string, bucket: string): Promise<void> {
  const key = sessionKeys.cancel(sessionId);
  try {
    await s3Client().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  } catch (error) {
    if (isNotFound(error)) return;
    throw translateAwsError('s3:HeadObject', error);
  }
  throw new DebugTaskError('CANCELLED', `Session ${sessionId} was cancelled.`, { details: { marker: key } });
}

/** undefined while SSM does not know the invocation yet (Run Command is eventually consistent). */
async function getInvocation(launch: LaunchInfo): Promise<GetCommandInvocationCommandOutput | undefined> {
  try {
    return await ssmClient().send(
      new GetCommandInvocationCommand({
        CommandId: launch.commandId,
        InstanceId: launch.instanceId,
        PluginName: PLUGIN_NAME,
      }),
    );
  } catch (error) {
    const name = (error as { name?: string })?.name;
    if (name === 'InvocationDoesNotExist' || name === 'InvocationDoesNotExistException') return undefined;
    throw translateAwsError('ssm:GetCommandInvocation', error);
  }
}

export function isTerminal(invocation: GetCommandInvocationCommandOutput): boolean {
  return (
    TERMINAL_STATUSES.has(invocation.Status ?? '') || TERMINAL_DETAILS.has(invocation.StatusDetails ?? '')
  );
}

/** A terminal invocation as Collect reads it (also the api's re-upload). */
export function finished(invocation: GetCommandInvocationCommandOutput): PollResult {
  const details = invocation.StatusDetails ?? '';
  return {
    done: true,
    status: TERMINAL_DETAILS.has(details) ? details : (invocation.Status ?? 'Failed'),
    waitSeconds: 0,
    manifestLine: lastLine(invocation.StandardOutputContent ?? ''),
    ...(invocation.ResponseCode !== undefined && { responseCode: invocation.ResponseCode }),
    stderrTail: (invocation.StandardErrorContent ?? '').slice(-STDERR_TAIL_CHARS),
  };
}

/** The runner prints its manifest last; SSM may add a trailing newline or a truncation notice before it. */
export function lastLine(text: string): string | undefined {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  return lines.length ? lines[lines.length - 1].trim() : undefined;
}

/** Early failures (HOST_BUSY, a failed image pull) show within these first seconds: poll every second. */
export const EARLY_WINDOW_SECONDS = 5;
/**
 * Longest single sleep. A cancel (DELETE /sessions/{id}) is only seen at the next poll, so this is
 * also how long a cancelled capture may go on; 10 s keeps a 15-minute session at ~90 polls.
 */
export const MAX_WAIT_SECONDS = 10;

export interface WaitInput {
  nowMs: number;
  startedAtMs: number;
  durationSeconds: number;
  /** Unix seconds: past it the session times out, so never sleep beyond it. */
  deadline: number;
}

/**
 * Seconds to sleep before the next poll (integer >= 1, what a Wait state accepts): every second
 * during the first seconds, then long sleeps until ~1 s before the capture is expected to end
 * (capped at MAX_WAIT_SECONDS and at the deadline), then every second until the runner reports.
 */
export function nextWaitSeconds({ nowMs, startedAtMs, durationSeconds, deadline }: WaitInput): number {
  const now = nowMs / 1000;
  const started = startedAtMs / 1000;
  if (!Number.isFinite(started) || now - started < EARLY_WINDOW_SECONDS) return 1;
  const untilNearEnd = started + durationSeconds - 1 - now;
  const untilDeadline = deadline - now;
  return Math.max(1, Math.floor(Math.min(untilNearEnd, untilDeadline, MAX_WAIT_SECONDS)));
}
