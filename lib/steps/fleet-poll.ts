import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  CancelCommandCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  type CommandInvocation,
} from '@aws-sdk/client-ssm';
import { fleetKeys, type HostOutcome } from '../domain/fleet';
import { logger } from '../log';
import { awsCall, translateAwsError } from './aws-errors';
import { s3Client, ssmClient } from './clients';
import type { BatchCommand, BatchState } from './fleet-launch';
import { mapLimit } from '../domain/map-limit';
import {
  MAX_WAIT_SECONDS,
  PLUGIN_NAME,
  STDERR_TAIL_CHARS,
  TERMINAL_DETAILS,
  checkNotCancelled,
  lastLine,
} from './poll';

/** State of a Map iteration after LaunchBatch (and after earlier polls). */
export type BatchPollState = BatchState & { command: BatchCommand; poll?: BatchPoll };

export interface BatchPoll {
  done: boolean;
  waitSeconds: number;
  /** Hosts of the batch that have ended, of `instanceIds.length`. */
  ended: number;
}

const TERMINAL = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut', 'Cancelling']);
/** GetCommandInvocation calls at once when a batch ends (up to 50 hosts). */
const FETCH_CONCURRENCY = 8;

/**
 * PollBatch: has the fleet been cancelled (CANCELLED ends every batch: the Map fails and
 * CleanupFleet runs), and have all hosts of this batch ended?
 *
 * One ListCommandInvocations page (a batch is at most 50 hosts, the page size) per poll tells every
 * host's status; only when all have ended does it fetch each host's output (GetCommandInvocation,
 * whose stdout holds 24,000 characters where the list's holds 2,500) and store the batch's
 * HostOutcome[] in S3 for CollectFleet. A host still running past the deadline is cancelled and
 * recorded as `GaveUp`; the others of the batch are kept. Nothing a host does fails the batch.
 */
export async function pollBatch(
  state: BatchPollState,
  deps: { now?: () => number } = {},
): Promise<BatchPoll> {
  const now = deps.now ?? Date.now;
  const { sessionId, fleet, batch, command } = state;
  await checkNotCancelled(sessionId, fleet.bucket);

  const listed = await listInvocations(command.commandId);
  const ended = batch.instanceIds.filter((id) => isEnded(listed.get(id)));
  const nowSeconds = now() / 1000;
  const pastDeadline = nowSeconds > fleet.deadline;
  if (ended.length < batch.instanceIds.length && !pastDeadline) {
    return { done: false, ended: ended.length, waitSeconds: waitSeconds(nowSeconds, state) };
  }

  const running = batch.instanceIds.filter((id) => !isEnded(listed.get(id)));
  if (running.length) {
    logger.warn('hosts still running past the fleet deadline: cancelling them', { running });
    await awsCall('ssm:CancelCommand', () =>
      ssmClient().send(new CancelCommandCommand({ CommandId: command.commandId, InstanceIds: running })),
    ).catch((error: unknown) => logger.warn('ssm:CancelCommand failed', { error }));
  }
  const outcomes = await mapLimit(batch.instanceIds, FETCH_CONCURRENCY, (instanceId) =>
    running.includes(instanceId)
      ? Promise.resolve<HostOutcome>({ instanceId, status: 'GaveUp' })
      : hostOutcome(command.commandId, instanceId, listed.get(instanceId)),
  );
  await awsCall('s3:PutObject', () =>
    s3Client().send(
      new PutObjectCommand({
        Bucket: fleet.bucket,
        Key: fleetKeys.batchResult(sessionId, batch.batch),
        Body: JSON.stringify(outcomes),
        ContentType: 'application/json',
      }),
    ),
  );
  return { done: true, ended: batch.instanceIds.length, waitSeconds: 0 };
}

/** Long sleeps while the captures run, every 2 s once they should be ending. */
function waitSeconds(nowSeconds: number, state: BatchPollState): number {
  const end = state.fleet.startAt + state.spec.durationSeconds;
  const untilEnd = end - 1 - nowSeconds;
  const untilDeadline = state.fleet.deadline - nowSeconds;
  return Math.max(2, Math.floor(Math.min(untilEnd, untilDeadline, MAX_WAIT_SECONDS)));
}

async function listInvocations(commandId: string): Promise<Map<string, CommandInvocation>> {
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

function isEnded(inv: CommandInvocation | undefined): boolean {
  return !!inv && (TERMINAL.has(inv.Status ?? '') || TERMINAL_DETAILS.has(inv.StatusDetails ?? ''));
}

async function hostOutcome(
  commandId: string,
  instanceId: string,
  listed: CommandInvocation | undefined,
): Promise<HostOutcome> {
  const listedStatus = TERMINAL_DETAILS.has(listed?.StatusDetails ?? '')
    ? (listed?.StatusDetails as string)
    : (listed?.Status ?? 'Failed');
  try {
    const inv = await ssmClient().send(
      new GetCommandInvocationCommand({
        CommandId: commandId,
        InstanceId: instanceId,
        PluginName: PLUGIN_NAME,
      }),
    );
    const details = inv.StatusDetails ?? '';
    const manifestLine = lastLine(inv.StandardOutputContent ?? '');
    return {
      instanceId,
      status: TERMINAL_DETAILS.has(details) ? details : (inv.Status ?? listedStatus),
      ...(inv.ResponseCode !== undefined && { responseCode: inv.ResponseCode }),
      ...(manifestLine !== undefined && { manifestLine }),
      stderrTail: (inv.StandardErrorContent ?? '').slice(-STDERR_TAIL_CHARS),
    };
  } catch (error) {
    const name = (error as { name?: string })?.name ?? '';
    // An undelivered command has no plugin invocation to read: its listed status says it all.
    if (name.startsWith('InvocationDoesNotExist')) return { instanceId, status: listedStatus };
    throw translateAwsError('ssm:GetCommandInvocation', error);
  }
}
