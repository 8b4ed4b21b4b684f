import { setTimeout as sleep } from 'node:timers/promises';
import { describeTarget } from '../../domain/session-spec';
import type { SessionView } from '../../domain/session';
import { DebugTaskError, EXIT, errorFromBody, inSession } from '../../domain/errors';
import { clientFor } from '../api-discovery';
import type { SessionFlags } from '../options';
import type { DebugTaskClient } from '../../client/api-client';
import {
  collectFleet,
  fleetExitCode,
  reuploadFailedChildren,
  renderFleetOutcome,
  renderFleetStatus,
} from '../fleet';
import { checkOutput, outputFlag, produceAndPrint } from '../output-path';
import { printJson, printable, renderSessionList, ringText, stoppedEarlyText, type Output } from '../output';
import { createProgress } from '../progress';
import { captureSecondsOf, fetchSession, ringOutcome, unconfirmedCleanup } from '../session-runner';

/** The API client, told the session's cluster when `--cluster` gives it. */
async function sessionClient(sessionId: string, flags: SessionFlags): Promise<DebugTaskClient> {
  const client = await clientFor(flags);
  if (flags.cluster) client.setSessionCluster(sessionId, flags.cluster);
  return client;
}

/** debug-task status <session> */
export async function statusCommand(sessionId: string, flags: SessionFlags, output: Output): Promise<number> {
  const view = await (await sessionClient(sessionId, flags)).getSession(sessionId);
  if (output.json) printJson(output, view);
  else output.out.write(renderSessionView(view));
  return view.error ? errorFromBody(view.error).exitCode : EXIT.OK;
}

/** `debug-task status` for humans; a fleet gets its counts and one line per task. */
export function renderSessionView(view: SessionView): string {
  const lines = [`${view.sessionId}  ${view.status}${view.phase ? `  (${printable(view.phase)})` : ''}`];
  if (view.input) {
    lines.push(`target  ${printable(describeTarget(view.input.spec.target))}  tool ${view.input.spec.tool}`);
  }
  let text = `${lines.join('\n')}\n`;
  if (view.result?.kind === 'service') text += renderFleetStatus(view.result);
  else if (view.result?.children[0]?.artifact)
    text += `artifact  ${view.result.children[0].artifact.s3Uri}\n`;
  const early = stoppedEarlyOf(view);
  if (early) text += `stopped  ${early}\n`;
  const ring = ringOf(view);
  if (ring) text += `ring  ${ring}\n`;
  if (view.error) {
    text += `error ${view.error.code}: ${printable(view.error.message)}\n  hint: ${printable(view.error.hint)}\n`;
  }
  return text;
}

/** How long `cancel` follows a cancel to its end: Poll sees the marker within ~15 s, Cleanup takes seconds. */
export const CANCEL_FOLLOW_MS = 90_000;

/**
 * debug-task cancel <session>: says what the session is, in the words of `status`, and waits (unless
 * --no-wait) until the cancel has gone through Cleanup. A session that already ended has nothing
 * to cancel: CANCELLED is the state asked for (exit 0); SUCCEEDED or FAILED is refused (exit 2)
 * with the command that does apply. See the README's table of session commands.
 */
export async function cancelCommand(
  sessionId: string,
  flags: SessionFlags & { wait?: boolean },
  output: Output,
  options: { pollMs?: number; followMs?: number } = {},
): Promise<number> {
  const client = await sessionClient(sessionId, flags);
  const before = await client.getSession(sessionId);
  const say = (status: string, words: string) => {
    if (output.json) printJson(output, { sessionId, status });
    else output.out.write(`${sessionId}  ${status}  (${words})\n`);
  };
  if (before.status === 'CANCELLED') {
    say('CANCELLED', 'already cancelled: nothing to do');
    return EXIT.OK;
  }
  if (before.status !== 'RUNNING') {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `Session ${sessionId} already ended ${before.status}: there is nothing to cancel.`,
      {
        hint:
          before.status === 'SUCCEEDED'
            ? `\`debug-task fetch ${sessionId}\` downloads its artifact.`
            : `\`debug-task status ${sessionId}\` shows why it ended.`,
        details: { sessionId, status: before.status },
      },
    );
  }
  await client.cancelSession(sessionId);
  if (flags.wait === false) {
    say(
      'CANCELLING',
      `the host removes the toolbox container; \`debug-task status ${sessionId}\` shows the end`,
    );
    return EXIT.OK;
  }
  const view = await followToEnd(client, sessionId, {
    followMs: options.followMs ?? CANCEL_FOLLOW_MS,
    pollMs: options.pollMs,
    doing: 'cancelling: removing the toolbox container',
    still: 'still cancelling',
    hint: `\`debug-task status ${sessionId}\` shows where it is; the host's watchdog removes the container at its deadline anyway.`,
  });
  if (view.status === 'CANCELLED') {
    const unconfirmed = unconfirmedCleanup(view);
    say(
      'CANCELLED',
      unconfirmed
        ? `the capture is discarded; ${unconfirmed} not confirmed their cleanup yet: their watchdog removes the toolbox container by the session's deadline`
        : 'the toolbox container was removed; the capture is discarded',
    );
    return EXIT.OK;
  }
  say(view.status, 'it ended before the cancel took effect');
  return view.error ? errorFromBody(view.error).exitCode : EXIT.OK;
}

/** How long `stop` follows a stop to the session's end: Poll sees the marker within ~10 s, then the upload. */
export const STOP_FOLLOW_MS = 120_000;

/**
 * debug-task stop <session>: ends the session's captures now and KEEPS them (every child of a
 * fleet): they are collected and verified as at the end of the duration, and `fetch` downloads
 * them. Waits (unless --no-wait) until the session has ended. A session that already succeeded is
 * the state asked for (exit 0); FAILED or CANCELLED has nothing to keep (exit 2). `cancel` is the
 * one that discards. See the README's table of session commands.
 */
export async function stopCommand(
  sessionId: string,
  flags: SessionFlags & { wait?: boolean },
  output: Output,
  options: { pollMs?: number; followMs?: number } = {},
): Promise<number> {
  const client = await sessionClient(sessionId, flags);
  const before = await client.getSession(sessionId);
  const say = (status: string, words: string) => {
    if (output.json) printJson(output, { sessionId, status });
    else output.out.write(`${sessionId}  ${status}  (${words})\n`);
  };
  const fetchHint = `\`debug-task fetch ${sessionId}\` downloads it`;
  if (before.status === 'SUCCEEDED') {
    say('SUCCEEDED', `already ended: nothing to stop; ${fetchHint}`);
    return EXIT.OK;
  }
  if (before.status !== 'RUNNING') {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `Session ${sessionId} already ended ${before.status}: there is nothing to stop or keep.`,
      {
        hint: `\`debug-task status ${sessionId}\` shows why it ended.`,
        details: { sessionId, status: before.status },
      },
    );
  }
  await client.stopSession(sessionId);
  if (flags.wait === false) {
    say(
      'STOPPING',
      `the capture so far is being collected; \`debug-task status ${sessionId}\` shows the end`,
    );
    return EXIT.OK;
  }
  const view = await followToEnd(client, sessionId, {
    followMs: options.followMs ?? STOP_FOLLOW_MS,
    pollMs: options.pollMs,
    doing: 'stopping: collecting the capture so far',
    still: 'still stopping',
    hint: `\`debug-task status ${sessionId}\` shows where it is; it ends at its duration anyway.`,
  });
  if (view.status === 'SUCCEEDED') {
    const early = stoppedEarlyOf(view);
    const words = early ? `stopped ${early}` : 'it ended at its duration before the stop took effect';
    const ring = ringOf(view);
    say('SUCCEEDED', `${words}; ${ring ? `ring: ${ring}; ` : ''}${fetchHint}`);
    return EXIT.OK;
  }
  say(view.status, view.error ? `${view.error.code}: ${printable(view.error.message)}` : 'it ended');
  return view.error ? errorFromBody(view.error).exitCode : EXIT.OK;
}

/**
 * Follows a session that was asked to end (cancel, stop) until it has: its last view. Past
 * `followMs` it gives up with AWS_ERROR "<id> is <still> after Ns" (the session goes on ending).
 */
async function followToEnd(
  client: DebugTaskClient,
  sessionId: string,
  follow: { followMs: number; pollMs?: number; doing: string; still: string; hint: string },
): Promise<SessionView> {
  const progress = createProgress();
  const startedAt = Date.now();
  try {
    for (;;) {
      const view = await client.getSession(sessionId);
      if (view.status !== 'RUNNING') return view;
      if (Date.now() - startedAt > follow.followMs) {
        throw new DebugTaskError(
          'AWS_ERROR',
          `Session ${sessionId} is ${follow.still} after ${Math.round(follow.followMs / 1000)}s.`,
          { hint: follow.hint, details: { sessionId } },
        );
      }
      progress.update(follow.doing);
      await sleep(follow.pollMs ?? 500);
    }
  } finally {
    progress.done();
  }
}

/** "early, at 0:42 of 5:00; the capture so far is kept" for a session stopped early (its longest child). */
function stoppedEarlyOf(view: SessionView): string | undefined {
  const stopped = view.result?.children.filter((c) => c.stoppedEarly) ?? [];
  const duration = view.input?.spec.durationSeconds;
  if (stopped.length === 0 || duration === undefined) return undefined;
  const atSeconds = Math.round(Math.max(...stopped.map(captureSecondsOf)));
  return stoppedEarlyText({ atSeconds, ofSeconds: duration });
}

/** What a one-task ring buffer kept (ringText), once it has ended. */
function ringOf(view: SessionView): string | undefined {
  const child = view.result?.kind === 'task' ? view.result.children[0] : undefined;
  return child?.ring ? ringText(ringOutcome(child.ring, child.timings?.captureEndedAt)) : undefined;
}

/** debug-task fetch <session>; `-o -` writes the artifact to stdout, checked first. */
export async function fetchCommand(
  sessionId: string,
  flags: SessionFlags & { output?: string; write?: string },
  output: Output,
): Promise<number> {
  const path = outputFlag(flags);
  const choice = await checkOutput(path, { expect: 'file-or-folder', json: output.json });
  const client = await sessionClient(sessionId, flags);
  try {
    const view = await client.getSession(sessionId);
    if (view.status === 'SUCCEEDED' && view.result?.kind === 'service') {
      if (choice.kind === 'stdout') await checkOutput('-', { expect: 'folder', json: output.json });
      if (choice.kind === 'file' && choice.path)
        await checkOutput(path, { expect: 'folder', json: output.json });
      const progress = createProgress();
      // A child whose upload failed kept its artifact on its host: upload it again first.
      const complete = await reuploadFailedChildren(client, view, progress);
      const fleet = await collectFleet(complete, { folder: path, progress });
      if (output.json) printJson(output, fleet);
      else output.out.write(renderFleetOutcome(fleet));
      return fleetExitCode(fleet);
    }
    if (choice.kind === 'folder' && choice.path) {
      await checkOutput(path, { expect: 'file', json: output.json }); // says which file to name
    }
    await produceAndPrint(choice, output, (to) =>
      fetchSession(client, sessionId, { output: to, progress: createProgress() }),
    );
    return EXIT.OK;
  } catch (error) {
    throw error instanceof DebugTaskError && error.code === 'SESSION_NOT_FOUND'
      ? error
      : inSession(error, sessionId);
  }
}

/** debug-task list */
export async function listCommand(
  flags: SessionFlags & { active?: boolean },
  output: Output,
): Promise<number> {
  const sessions = await (
    await clientFor(flags)
  ).listSessions({
    active: flags.active,
    ...(flags.cluster && { cluster: flags.cluster }),
  });
  if (output.json) {
    printJson(output, { sessions });
  } else {
    output.out.write(renderSessionList(sessions));
  }
  return EXIT.OK;
}
