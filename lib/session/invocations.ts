import {
  CancelCommandCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  type CommandInvocation,
} from '@aws-sdk/client-ssm';
import type { HostOutcome } from '../domain/session';
import { awsCall, sdkErrorInfo, translateAwsError } from '../aws/errors';
import { ssmClient } from '../aws/ssm';

/**
 * Following a command on its hosts: when has an invocation ended, what did it print, how long to
 * wait before looking again. One definition for every step that waits on a host.
 */

/** The step of our SSM document whose invocation we follow (the document has exactly one). */
export const PLUGIN_NAME = 'runDebugTask';

/** Final statuses. `Cancelling` is not one: the runner may still be removing what it started. */
const TERMINAL_STATUSES = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut']);
/** More precise than Status (Failed/TimedOut) and also final; reported as the status when present. */
const TERMINAL_DETAILS = new Set([
  'DeliveryTimedOut',
  'ExecutionTimedOut',
  'Undeliverable',
  'Terminated',
  'InvalidPlatform',
  'AccessDenied',
]);

export const STDERR_TAIL_CHARS = 2000;

/** SSM's view of one host's invocation. */
export interface InvocationStatus {
  Status?: string;
  StatusDetails?: string;
}

export function hasEnded(invocation: InvocationStatus | undefined): boolean {
  return (
    !!invocation &&
    (TERMINAL_STATUSES.has(invocation.Status ?? '') || TERMINAL_DETAILS.has(invocation.StatusDetails ?? ''))
  );
}

/** The most precise final status: the detail when it is a final one (DeliveryTimedOut, ...), else Status. */
export function endStatus(invocation: InvocationStatus | undefined): string {
  const details = invocation?.StatusDetails ?? '';
  return TERMINAL_DETAILS.has(details) ? details : (invocation?.Status ?? 'Failed');
}

/** Every host's invocation of a command, by instance id (pages of 50: a batch is one page). */
export async function listInvocations(commandId: string): Promise<Map<string, CommandInvocation>> {
  const byInstance = new Map<string, CommandInvocation>();
  let token: string | undefined;
  do {
    const page = await awsCall('ssm:ListCommandInvocations', () =>
      ssmClient().send(
        new ListCommandInvocationsCommand({ CommandId: commandId, MaxResults: 50, NextToken: token }),
      ),
    );
    for (const inv of page.CommandInvocations ?? []) if (inv.InstanceId) byInstance.set(inv.InstanceId, inv);
    token = page.NextToken;
  } while (token);
  return byInstance;
}

/**
 * How a host's invocation ended, with the last line of its stdout (the runner's summary) and the
 * end of its stderr. GetCommandInvocation, whose stdout holds 24,000 characters where the list's
 * holds 2,500. An undelivered command has no plugin invocation to read: its listed status says it all.
 */
export async function hostOutcome(
  commandId: string,
  instanceId: string,
  listed: InvocationStatus | undefined,
): Promise<HostOutcome> {
  try {
    const inv = await ssmClient().send(
      new GetCommandInvocationCommand({
        CommandId: commandId,
        InstanceId: instanceId,
        PluginName: PLUGIN_NAME,
      }),
    );
    const summaryLine = lastLine(inv.StandardOutputContent ?? '');
    const stderrTail = (inv.StandardErrorContent ?? '').slice(-STDERR_TAIL_CHARS);
    return {
      instanceId,
      status: endStatus(inv),
      ...(inv.ResponseCode !== undefined && { responseCode: inv.ResponseCode }),
      ...(summaryLine !== undefined && { summaryLine }),
      ...(stderrTail && { stderrTail }),
    };
  } catch (error) {
    if (sdkErrorInfo(error).name.startsWith('InvocationDoesNotExist')) {
      return { instanceId, status: endStatus(listed) };
    }
    throw translateAwsError('ssm:GetCommandInvocation', error);
  }
}

/** Best effort: hosts still running past the deadline are told to stop (their watchdogs remain). */
export async function cancelInvocations(commandId: string, instanceIds: string[]): Promise<void> {
  await awsCall('ssm:CancelCommand', () =>
    ssmClient().send(new CancelCommandCommand({ CommandId: commandId, InstanceIds: instanceIds })),
  );
}

/** The runner prints its summary last; SSM may add a trailing newline or a truncation notice before it. */
export function lastLine(text: string): string | undefined {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  return lines.length ? lines[lines.length - 1].trim() : undefined;
}

/** Early failures (HOST_BUSY, a failed image pull) show within these first seconds: poll every second. */
export const EARLY_WINDOW_SECONDS = 5;
/**
 * Longest single sleep. A cancel is only seen at the next poll, so this is also how long a
 * cancelled capture may go on; 10 s keeps a 15-minute session at ~90 polls.
 */
export const MAX_WAIT_SECONDS = 10;
/**
 * Near the expected end the Poll function keeps looking (`lingerIntervalMs`) from LINGER_SECONDS
 * before it, before it returns: a Wait state sleeps whole seconds, and the end of a capture is
 * what its user waits for (end detection <= 1 s, BENCHMARKS.md). A few seconds of a function per
 * session, never the capture itself (a Lambda never waits for a capture: the state machine does).
 */
export const LINGER_SECONDS = 4;
/** The pace of the looks from LINGER_CLOSE_SECONDS after the expected end on. */
export const LINGER_INTERVAL_MS = 250;
/**
 * Before the expected end a capture cannot have ended (an early failure can, and is seen within a
 * second, as at the Wait state's pace): one look a second, waking right at the expected end.
 */
export const LINGER_BEFORE_END_INTERVAL_MS = 1000;
/**
 * For LINGER_CLOSE_SECONDS after the expected end, where a host ends (its finish: the toolbox's
 * removal, gzip, the uploads; ~1-2 s after a short capture's expected end in the sandbox), a batch
 * looks every LINGER_CLOSE_INTERVAL_MS times the session's number of batches, at most
 * LINGER_INTERVAL_MS: a session asks ListCommandInvocations at most 10 times a second there (a
 * quarter-second pace left 125 ms of the end detection on average), and a service of three batches
 * or more no more often than before. Fewer looks before the end pay for them: a 3 s capture
 * ending 2 s after its expected end takes 24 looks, as at the quarter-second pace (20).
 */
export const LINGER_CLOSE_INTERVAL_MS = 100;
export const LINGER_CLOSE_SECONDS = 5;
/**
 * How long one Poll keeps looking before it leaves the rest to the Wait state: longer than
 * LINGER_SECONDS, because a host ends after its capture's expected end plus its finish (the
 * toolbox's removal, gzip, the uploads: ~1-2 s for a short capture). A Poll that gave up at the
 * expected end left that end to fall in the Wait state's whole second, most of the end detection's
 * 0.67 s in the 2026-12-06 full run (BENCHMARKS.md). Within the Poll function's 30 s timeout.
 */
export const LINGER_INVOCATION_SECONDS = 10;
/**
 * How long past the expected end polls still linger: the upload of a large artifact takes longer,
 * and past this a host that has not ended is polled at the Wait state's pace again (ListCommandInvocations
 * shares the account's SSM request rate with every other batch and session).
 */
export const LINGER_AFTER_END_SECONDS = 15;

export interface WaitInput {
  nowMs: number;
  /** When the command was sent (ms). */
  sentAtMs: number;
  /** Unix seconds the captures start at; absent: when the command was sent. */
  startAt?: number;
  durationSeconds: number;
  /** Unix seconds: past it the session gives up on its hosts, so never sleep beyond it. */
  deadline: number;
}

/** Seconds until the captures are expected to have ended (negative once past). */
export function secondsToExpectedEnd({ nowMs, sentAtMs, startAt, durationSeconds }: WaitInput): number {
  const start = startAt ?? sentAtMs / 1000;
  return start + durationSeconds - nowMs / 1000;
}

/**
 * Seconds the Wait state sleeps before the next poll (integer >= 1, what a Wait state accepts):
 * every second during the first seconds, then long sleeps until the capture is about to end
 * (capped at MAX_WAIT_SECONDS and at the deadline), then every second until the hosts report.
 */
export function nextWaitSeconds(input: WaitInput): number {
  const now = input.nowMs / 1000;
  const sent = input.sentAtMs / 1000;
  if (!Number.isFinite(sent) || now - sent < EARLY_WINDOW_SECONDS) return 1;
  const untilNearEnd = secondsToExpectedEnd(input) - LINGER_SECONDS;
  const untilDeadline = input.deadline - now;
  return Math.max(1, Math.floor(Math.min(untilNearEnd, untilDeadline, MAX_WAIT_SECONDS)));
}

/**
 * How long a lingering poll sleeps before its next look (see LINGER_BEFORE_END_INTERVAL_MS and
 * LINGER_CLOSE_INTERVAL_MS): seldom while the capture runs, closely where its hosts end.
 */
export function lingerIntervalMs(input: WaitInput, batches: number): number {
  const toEndMs = secondsToExpectedEnd(input) * 1000;
  if (toEndMs > 0) return Math.ceil(Math.min(LINGER_BEFORE_END_INTERVAL_MS, toEndMs));
  if (toEndMs > -LINGER_CLOSE_SECONDS * 1000) {
    return Math.min(LINGER_INTERVAL_MS, LINGER_CLOSE_INTERVAL_MS * Math.max(1, batches));
  }
  return LINGER_INTERVAL_MS;
}

/** True when this poll should keep looking for a while before it returns (the end is near). */
export function shouldLinger(input: WaitInput): boolean {
  const toEnd = secondsToExpectedEnd(input);
  return toEnd <= LINGER_SECONDS && toEnd >= -LINGER_AFTER_END_SECONDS && input.nowMs / 1000 < input.deadline;
}
