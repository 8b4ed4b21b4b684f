import { mkdir, writeFile } from 'node:fs/promises';
import { mapLimit } from '../domain/map-limit';
import { join, resolve as resolvePath } from 'node:path';
import { createInterface } from 'node:readline';
import type { DebugTaskClient } from '../client/api-client';
import { DebugTaskError, EXIT, errorFromBody, inSession, type ErrorBody } from '../domain/errors';
import type { ChildResult, SessionResult, SessionView, SkippedTask, TargetsPreview } from '../domain/session';
import type { SessionRequest } from '../domain/session-spec';
import { TOOLS, isToolName } from '../domain/tools';
import { downloadArtifact } from './download';
import { printJson, printable, stoppedEarlyText, table, type Output } from './output';
import { assertMergecap, mergePcaps, type MergeOptions } from './pcap-merge';
import type { Progress } from './progress';
import { captureSecondsOf, followSession, ringOutcome, type RingOutcome } from './session-runner';
import { formatBytes } from './units';

/**
 * A service-wide ("fleet") session from the CLI: preview -> confirm -> start -> follow -> download
 * every child into one folder (both sha256s checked, as for one session) -> manifest.json ->
 * optional merge of the pcaps -> a per-task table. Exit 0 when every child succeeded, 4 when some
 * failed; a fleet that failed as a whole exits as a single session does.
 */

/** Above this many targets a human confirms (or --yes says so). */
export const CONFIRM_THRESHOLD = 5;
/** Children downloaded at once. */
export const DOWNLOAD_CONCURRENCY = 4;

export interface FleetOptions {
  yes?: boolean;
  dryRun?: boolean;
  merge?: boolean;
  /** Folder of the captures; default ./debug-task-<sessionId>/. */
  output?: string;
  /** Start and print the id, without waiting. */
  noWait?: boolean;
  progress: Progress;
  /** Aborted on a Ctrl-C that discards: the session is cancelled. */
  signal?: AbortSignal;
  /** Aborted on a first Ctrl-C: every child is stopped and its capture so far kept. */
  stop?: AbortSignal;
  /** Whether a human can answer a question (stdin and stderr are terminals). */
  interactive: boolean;
  /** Asks a yes/no question; default: a line from stdin. */
  ask?: (question: string) => Promise<boolean>;
  onStarted?: (sessionId: string) => void;
  mergeOptions?: MergeOptions;
  cancelTimeoutMs?: number;
}

/** One child as `--json` reports it. */
export interface FleetChildOutcome {
  sessionId: string;
  taskArn: string;
  status: 'SUCCEEDED' | 'FAILED';
  path?: string;
  sha256?: string;
  bytes?: number;
  packets?: number | null;
  error?: ErrorBody;
  /** Its capture was stopped early and kept. */
  stoppedEarly?: true;
  /** A ring buffer's capture: what it kept. */
  ring?: RingOutcome;
}

/** What `debug-task --service ...` prints as its last line with --json. */
export interface FleetOutcome {
  sessionId: string;
  status: 'SUCCEEDED';
  kind: 'fleet';
  target: { cluster: string; service: string };
  counts: SessionResult['counts'];
  children: FleetChildOutcome[];
  skipped: SkippedTask[];
  folder: string;
  merged?: { path: string; via: 'mergecap' };
  mergeError?: ErrorBody;
  /** Stopped early (`debug-task stop`, a first Ctrl-C): the longest child capture, of the duration. */
  stoppedEarly?: { atSeconds: number; ofSeconds: number };
}

/** The flags that only a service target takes, checked against the target given. */
export function checkFleetFlags(
  target: { task?: string; service?: string },
  flags: { dryRun?: boolean; merge?: boolean; maxTasks?: string; wait?: boolean },
): number | undefined {
  if (target.task !== undefined && target.service !== undefined) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `Give one task or --service, not both (task ${JSON.stringify(target.task)}, service ${JSON.stringify(target.service)}).`,
      {
        hint: 'debug-task <task> --tool T for one task; debug-task --service NAME --cluster C --tool T for every task of a service.',
      },
    );
  }
  if (target.task === undefined && target.service === undefined) {
    throw new DebugTaskError('INVALID_ARGUMENT', 'No task or --service was given.', {
      hint: 'Usage: debug-task <taskArn> --tool tcpdump (or a task id with --cluster), or debug-task --service NAME --cluster C --tool tcpdump; `debug-task --help` for more.',
    });
  }
  if (target.service === undefined) {
    for (const [flag, given] of [
      ['--dry-run', flags.dryRun],
      ['--merge', flags.merge],
      ['--max-tasks', flags.maxTasks !== undefined],
    ] as const) {
      if (given) {
        throw new DebugTaskError('INVALID_ARGUMENT', `${flag} applies to a service target only.`, {
          hint: `Drop ${flag}, or target every task of a service with --service NAME --cluster C.`,
        });
      }
    }
    return undefined;
  }
  if (flags.merge && flags.wait === false && !flags.dryRun) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      '--merge needs the captures, and --no-wait does not fetch them.',
      {
        hint: 'Drop --no-wait, or drop --merge.',
      },
    );
  }
  if (flags.maxTasks === undefined) return undefined;
  const text = flags.maxTasks.trim();
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `--max-tasks ${JSON.stringify(flags.maxTasks.slice(0, 40))} is not a whole number.`,
      { hint: 'Write it as a number of tasks, e.g. --max-tasks 20 (1 to 1000).' },
    );
  }
  return value;
}

const taskIdOf = (taskArn: string) => taskArn.slice(taskArn.lastIndexOf('/') + 1);
const shortInstance = (id: string) => id;

/** The preview, for humans: targets, skipped tasks, and the sum. */
export function renderPreview(preview: TargetsPreview): string {
  const { target, targets, skipped } = preview;
  const lines = [`service ${printable(target.service ?? '-')} (cluster ${printable(target.cluster)})`];
  if (targets.length > 0) {
    lines.push(
      ...table(
        ['task', 'container', 'instance'],
        targets.map((t) => [taskIdOf(t.taskArn), t.container, shortInstance(t.instanceId)]),
      ).map((l) => `  ${l}`),
    );
  }
  if (skipped.length > 0) {
    lines.push(`skipped ${skipped.length}:`);
    for (const s of skipped) lines.push(`  ${taskIdOf(s.taskArn)}  ${s.code}: ${printable(s.message)}`);
  }
  lines.push(previewSum(preview));
  return `${lines.join('\n')}\n`;
}

export function previewSum(preview: TargetsPreview): string {
  const hosts = preview.instances === 1 ? 'host' : 'hosts';
  return `${preview.targets.length} of ${preview.listed} tasks (cap ${preview.maxTasks}, ${preview.leftOut} left out), on ${preview.instances} ${hosts}`;
}

/**
 * Whether to go on: up to CONFIRM_THRESHOLD targets, or with --yes, yes; above it a human is asked
 * (a TTY), and without one the answer is INVALID_ARGUMENT telling to add --yes. A "no" ends with
 * CANCELLED (exit 130): nothing was started.
 */
export async function confirmFleet(
  targets: number,
  options: Pick<FleetOptions, 'yes' | 'interactive' | 'ask'>,
): Promise<void> {
  if (targets <= CONFIRM_THRESHOLD || options.yes) return;
  if (!options.interactive) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `This would capture on ${targets} tasks at once, and there is no terminal to confirm it on.`,
      {
        hint: `Add --yes to confirm (more than ${CONFIRM_THRESHOLD} tasks need it), or lower --max-tasks; --dry-run shows the tasks.`,
      },
    );
  }
  const ask = options.ask ?? askOnTerminal;
  if (!(await ask(`Capture on ${targets} tasks? [y/N] `))) {
    throw new DebugTaskError(
      'CANCELLED',
      `Nothing was started: the capture on ${targets} tasks was not confirmed.`,
      {
        hint: 'Run it again and answer y, or add --yes.',
      },
    );
  }
}

function askOnTerminal(question: string): Promise<boolean> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    let answered = false;
    const done = (yes: boolean) => {
      if (answered) return;
      answered = true;
      rl.close();
      resolve(yes);
    };
    rl.on('SIGINT', () => done(false));
    rl.on('close', () => done(false));
    rl.question(question, (answer) => done(/^\s*y(es)?\s*$/i.test(answer)));
  });
}

/** The whole flow; returns the exit code. */
export async function runFleet(
  client: DebugTaskClient,
  request: SessionRequest,
  output: Output,
  options: FleetOptions,
): Promise<number> {
  const format = isToolName(request.tool) ? TOOLS[request.tool].format : undefined;
  const merge = options.merge === true && format === 'pcap';
  // A local precondition: refused before anything is resolved or started.
  if (merge && !options.dryRun) await assertMergecap(options.mergeOptions);
  const preview = await client.previewTargets(request);
  // The preview is the result of --dry-run (stdout); otherwise it is context (stderr under --json).
  const text = renderPreview(preview);
  if (options.dryRun) {
    if (output.json) {
      output.err.write(text);
      printJson(output, preview);
    } else output.out.write(text);
    return EXIT.OK;
  }
  (output.json ? output.err : output.out).write(text);
  if (preview.targets.length === 0) {
    throw new DebugTaskError(
      'TASK_NOT_FOUND',
      `No task of service ${JSON.stringify(preview.target.service ?? '')} can be debugged now.`,
      {
        hint: 'See the skipped tasks above; `debug-task doctor <task>` explains one in detail.',
      },
    );
  }
  await confirmFleet(preview.targets.length, options);
  if (options.signal?.aborted || options.stop?.aborted) {
    throw new DebugTaskError('CANCELLED', 'Interrupted before the session started: nothing was started.');
  }
  if (options.merge && !merge) {
    options.progress.note(
      `--merge applies to pcaps only: ${request.tool} writes ${format ?? 'text'}; nothing will be merged.`,
    );
  }

  const startedAt = Date.now();
  const started = await client.startSession(request);
  options.onStarted?.(started.sessionId);
  if (options.noWait) {
    if (output.json) printJson(output, started);
    else output.out.write(`${started.sessionId}\n`);
    return EXIT.OK;
  }
  options.progress.note(`session ${started.sessionId} started on ${preview.targets.length} tasks`);
  let outcome: FleetOutcome;
  try {
    const view = await followSession(client, started.sessionId, request.durationSeconds, {
      progress: options.progress,
      signal: options.signal,
      stop: options.stop,
      cancelTimeoutMs: options.cancelTimeoutMs,
    });
    outcome = await collectFleet(view, {
      folder: options.output,
      merge,
      progress: options.progress,
      mergeOptions: options.mergeOptions,
    });
  } catch (error) {
    throw inSession(error, started.sessionId);
  }
  if (output.json) printJson(output, outcome);
  else output.out.write(renderFleetOutcome(outcome, (Date.now() - startedAt) / 1000));
  return fleetExitCode(outcome);
}

export function fleetExitCode(outcome: FleetOutcome): number {
  return outcome.children.length > 0 && outcome.children.every((c) => c.status === 'SUCCEEDED')
    ? EXIT.OK
    : EXIT.HOST;
}

/**
 * Downloads every child with a link into the folder (`<taskId>.<ext>`, both sha256s checked),
 * writes the FleetResult as manifest.json there, merges the pcaps when asked.
 */
export async function collectFleet(
  view: SessionView,
  options: { folder?: string; merge?: boolean; progress: Progress; mergeOptions?: MergeOptions },
): Promise<FleetOutcome> {
  if (view.status !== 'SUCCEEDED' || !view.result || view.result.kind !== 'service') {
    throw view.error
      ? errorFromBody(view.error)
      : new DebugTaskError(
          'AWS_ERROR',
          `Session ${view.sessionId} ended ${view.status} without a fleet result.`,
        );
  }
  const result = view.result;
  const folder = resolvePath(options.folder ?? `debug-task-${view.sessionId}`);
  await mkdir(folder, { recursive: true });
  const urls = view.downloadUrls ?? {};
  let done = 0;
  const withLinks = result.children.filter((c) => c.status === 'SUCCEEDED' && urls[c.sessionId]).length;
  const children = await mapLimit(result.children, DOWNLOAD_CONCURRENCY, async (child) => {
    const outcome = await downloadChild(child, urls[child.sessionId], folder);
    if (urls[child.sessionId]) options.progress.update(`downloading ${++done}/${withLinks}`);
    return outcome;
  });
  options.progress.done();
  await writeFile(join(folder, 'manifest.json'), `${JSON.stringify(result, null, 2)}\n`);
  const succeeded = children.filter((c) => c.status === 'SUCCEEDED').length;
  const outcome: FleetOutcome = {
    sessionId: view.sessionId,
    status: 'SUCCEEDED',
    kind: 'fleet',
    target: { cluster: result.target.cluster, service: result.target.service ?? '' },
    counts: { ...result.counts, succeeded, failed: children.length - succeeded },
    children,
    skipped: result.skipped,
    folder,
    ...stoppedEarlyOf(result, view.input?.spec.durationSeconds),
  };
  if (options.merge) {
    const inputs = children.filter((c) => c.path).map((c) => c.path as string);
    try {
      if (inputs.length === 0)
        throw new DebugTaskError('CAPTURE_FAILED', 'No capture was downloaded: nothing to merge.');
      options.progress.update(`merging ${inputs.length} captures`);
      const merged = await mergePcaps(inputs, join(folder, 'merged.pcap'), options.mergeOptions);
      outcome.merged = { path: merged.path, via: merged.via };
    } catch (error) {
      const typed =
        error instanceof DebugTaskError
          ? error
          : new DebugTaskError('CAPTURE_FAILED', `Merging failed: ${(error as Error).message}`, {
              cause: error,
            });
      outcome.mergeError = typed.toJSON();
    } finally {
      options.progress.done();
    }
  }
  return outcome;
}

/** A fleet stopped early: its longest kept capture, of the duration. */
function stoppedEarlyOf(
  result: SessionResult,
  durationSeconds: number | undefined,
): Pick<FleetOutcome, 'stoppedEarly'> {
  const stopped = result.children.filter((c) => c.stoppedEarly);
  if (stopped.length === 0 || durationSeconds === undefined) return {};
  const atSeconds = Math.round(Math.max(...stopped.map(captureSecondsOf)));
  return { stoppedEarly: { atSeconds, ofSeconds: durationSeconds } };
}

async function downloadChild(
  child: ChildResult,
  url: string | undefined,
  folder: string,
): Promise<FleetChildOutcome> {
  const base = { sessionId: child.sessionId, taskArn: child.taskArn };
  const packets = child.tool?.packets;
  if (child.status !== 'SUCCEEDED') {
    return {
      ...base,
      status: 'FAILED',
      error: child.error ?? new DebugTaskError('CAPTURE_FAILED', 'The task’s capture failed.').toJSON(),
    };
  }
  if (!child.artifact || !url) {
    return {
      ...base,
      status: 'FAILED',
      error: new DebugTaskError('UPLOAD_FAILED', 'The API gave no download link for this task’s artifact.', {
        hint: `\`debug-task fetch ${child.sessionId}\` downloads it again.`,
      }).toJSON(),
    };
  }
  const name = /^[A-Za-z0-9_-]{1,128}$/.test(taskIdOf(child.taskArn))
    ? taskIdOf(child.taskArn)
    : child.sessionId;
  const extension = isToolName(child.tool?.name ?? '')
    ? TOOLS[child.tool!.name].extension
    : child.artifact.format === 'pcap'
      ? 'pcap'
      : 'txt';
  const path = join(folder, `${name}.${extension}`);
  try {
    await downloadArtifact(url, child.artifact, path);
  } catch (error) {
    const typed =
      error instanceof DebugTaskError
        ? error
        : new DebugTaskError('AWS_ERROR', (error as Error).message, { cause: error });
    return { ...base, status: 'FAILED', error: typed.toJSON() };
  }
  return {
    ...base,
    status: 'SUCCEEDED',
    path,
    sha256: child.artifact.sha256,
    bytes: child.artifact.bytes,
    ...(packets !== undefined && { packets }),
    ...(child.stoppedEarly && { stoppedEarly: true }),
    ...(child.ring && { ring: ringOutcome(child.ring, child.timings?.captureEndedAt) }),
  };
}

/**
 * The children of a finished service session whose upload failed (their hosts kept the artifacts)
 * are uploaded again through one re-upload (`POST /sessions/{id}/reupload`), followed to its end;
 * the view then has them as they are now. A re-upload that fails leaves the view as it was, with
 * a note: the other children are still downloaded.
 */
export async function reuploadFailedChildren(
  client: DebugTaskClient,
  view: SessionView,
  progress: Progress,
  pollMs = 1000,
): Promise<SessionView> {
  const failed = view.result?.children.filter((c) => c.error?.code === 'UPLOAD_FAILED') ?? [];
  if (!view.result || failed.length === 0) return view;
  progress.note(`${failed.length} task(s) ended UPLOAD_FAILED: uploading again what their hosts kept`);
  try {
    let reupload = await client.startReupload(view.sessionId);
    while (reupload.status === 'RUNNING') {
      progress.update(`re-uploading ${failed.length} artifact(s)`);
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      reupload = await client.getReupload(view.sessionId, reupload.reuploadId);
    }
    progress.done();
    const again = new Map((reupload.result?.children ?? []).map((c) => [c.sessionId, c]));
    return {
      ...view,
      result: { ...view.result, children: view.result.children.map((c) => again.get(c.sessionId) ?? c) },
      downloadUrls: { ...view.downloadUrls, ...reupload.downloadUrls },
    };
  } catch (error) {
    progress.done();
    const typed = error instanceof DebugTaskError ? error : undefined;
    progress.note(
      `the re-upload failed${typed ? ` (${typed.code}: ${typed.message})` : ''}; the other tasks are downloaded`,
    );
    return view;
  }
}

/** The per-task table of a finished fleet, the counts, the folder. */
export function renderFleetOutcome(outcome: FleetOutcome, seconds?: number): string {
  const rows = outcome.children.map((c) => [
    taskIdOf(c.taskArn),
    c.status,
    c.packets == null ? '-' : String(c.packets),
    c.bytes === undefined ? '-' : formatBytes(c.bytes),
    c.error ? `${c.error.code}: ${printable(c.error.message)}` : '',
  ]);
  const lines = [
    `session   ${outcome.sessionId}  ${outcome.status}  service ${printable(outcome.target.service)} (cluster ${printable(outcome.target.cluster)})`,
    ...table(['task', 'status', 'packets', 'bytes', ''], rows).map((l) => `  ${l}`.trimEnd()),
    ...outcome.skipped.map((s) => `skipped   ${taskIdOf(s.taskArn)}  ${s.code}: ${printable(s.message)}`),
    `counts    ${countsLine(outcome.counts)}`,
    `folder    ${outcome.folder}/ (one file per task, sha256 verified; manifest.json)`,
  ];
  if (outcome.merged) {
    lines.push(`merged    ${outcome.merged.path} (merged with mergecap)`);
  }
  if (outcome.mergeError) {
    lines.push(`merge     not merged: ${outcome.mergeError.code}: ${printable(outcome.mergeError.message)}`);
  }
  if (seconds !== undefined) lines.push(`time      ${Math.round(seconds * 10) / 10}s in all`);
  if (outcome.stoppedEarly) lines.push(`stopped   ${stoppedEarlyText(outcome.stoppedEarly)}`);
  return `${lines.join('\n')}\n`;
}

export function countsLine(counts: SessionResult['counts']): string {
  return (
    `${counts.targets} tasks: ${counts.succeeded} succeeded, ${counts.failed} failed; ` +
    `${counts.skipped} skipped, ${counts.leftOut} left out (${counts.listed} listed)`
  );
}

/** `debug-task status` of a fleet: the counts and one line per child. */
export function renderFleetStatus(result: SessionResult): string {
  const rows = result.children.map((c) => [
    taskIdOf(c.taskArn),
    c.status,
    c.tool?.packets == null ? '-' : String(c.tool.packets),
    c.artifact ? formatBytes(c.artifact.bytes) : '-',
    c.error ? `${c.error.code}: ${printable(c.error.message)}` : (c.artifact?.s3Uri ?? ''),
  ]);
  return [
    `counts  ${countsLine(result.counts)}`,
    ...table(['task', 'status', 'packets', 'bytes', ''], rows).map((l) => `  ${l}`.trimEnd()),
    ...result.skipped.map((s) => `skipped ${taskIdOf(s.taskArn)}  ${s.code}: ${printable(s.message)}`),
    `record  ${result.recordUri}`,
  ]
    .join('\n')
    .concat('\n');
}
