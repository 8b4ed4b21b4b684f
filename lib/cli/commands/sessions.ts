import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { describeTarget } from '../../domain/session-spec';
import type { SessionView } from '../../domain/session';
import type { DebugTaskClient } from '../../client/api-client';
import { DebugTaskError, EXIT, errorFromBody } from '../../domain/errors';
import { clientFor } from '../api-discovery';
import type { SessionFlags } from '../options';
import {
  collectFleet,
  fleetExitCode,
  reuploadFailedChildren,
  renderFleetOutcome,
  renderFleetStatus,
} from '../fleet';
import { printJson, printOutcome, printable, renderSessionList, type Output } from '../output';
import { createProgress } from '../progress';
import { fetchSession } from '../session-runner';

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
  if (view.error) {
    text += `error ${view.error.code}: ${printable(view.error.message)}\n  hint: ${printable(view.error.hint)}\n`;
  }
  return text;
}

/** debug-task cancel <session> */
export async function cancelCommand(sessionId: string, flags: SessionFlags, output: Output): Promise<number> {
  const result = await (await sessionClient(sessionId, flags)).cancelSession(sessionId);
  if (output.json) printJson(output, result);
  else output.out.write(`${result.sessionId}  ${result.status}\n`);
  return EXIT.OK;
}

/** debug-task fetch <session>; `-o -` writes the artifact to stdout (see fetchToStdout). */
export async function fetchCommand(
  sessionId: string,
  flags: SessionFlags & { output?: string },
  output: Output,
): Promise<number> {
  const toStdout = flags.output === '-';
  if (toStdout && output.json) {
    throw new DebugTaskError('INVALID_ARGUMENT', '--json and -o - both write to stdout.', {
      hint: 'Drop --json (the summary goes to stderr with -o -), or give -o a file.',
    });
  }
  const client = await sessionClient(sessionId, flags);
  const view = await client.getSession(sessionId);
  if (view.status === 'SUCCEEDED' && view.result?.kind === 'service') {
    if (toStdout) {
      throw new DebugTaskError(
        'INVALID_ARGUMENT',
        `Session ${sessionId} captured a whole service: a folder of files, not one stream.`,
        {
          hint: 'Give -o a folder (default ./debug-task-<session>/).',
        },
      );
    }
    const progress = createProgress();
    // A child whose upload failed kept its artifact on its host: upload it again first.
    const complete = await reuploadFailedChildren(client, view, progress);
    const fleet = await collectFleet(complete, { folder: flags.output, progress });
    if (output.json) printJson(output, fleet);
    else output.out.write(renderFleetOutcome(fleet));
    return fleetExitCode(fleet);
  }
  if (toStdout) return fetchToStdout(client, sessionId, output);
  const outcome = await fetchSession(client, sessionId, { output: flags.output, progress: createProgress() });
  printOutcome(output, outcome);
  return EXIT.OK;
}

/**
 * `debug-task fetch <session> -o -`, for piping (`| tshark -r -`): the artifact is downloaded and both
 * sha256s checked in a scratch directory first, so nothing unverified ever reaches the pipe; then its
 * bytes go to stdout and the summary to stderr. A reader that stops early (`| head`) is not an error.
 */
async function fetchToStdout(client: DebugTaskClient, sessionId: string, output: Output): Promise<number> {
  const scratch = await mkdtemp(join(tmpdir(), 'debug-task-fetch-'));
  try {
    const outcome = await fetchSession(client, sessionId, {
      output: join(scratch, 'artifact'),
      progress: createProgress(),
    });
    try {
      await pipeline(createReadStream(outcome.artifact.path), output.out, { end: false });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EPIPE') throw error;
    }
    printOutcome(
      { ...output, out: output.err },
      { ...outcome, artifact: { ...outcome.artifact, path: '-' } },
    );
    return EXIT.OK;
  } finally {
    await rm(scratch, { recursive: true, force: true });
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
