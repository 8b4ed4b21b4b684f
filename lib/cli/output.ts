import { isAbsolute, relative } from 'node:path';
import type { DoctorReport } from '../domain/doctor';
import { DebugTaskError, EXIT } from '../domain/errors';
import type { SessionSummary } from '../domain/session';
import type { FollowOutcome } from './follow';
import type { RingOutcome, SessionOutcome } from './session-runner';
import { formatBytes, formatDuration, formatSize } from './units';

/**
 * All printing happens here. With --json the last line on stdout is one JSON object; without it,
 * a short human summary. Errors go to stderr for humans, to stdout as {"error": ...} for --json.
 */
export interface Output {
  json: boolean;
  debug: boolean;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

export function defaultOutput(json: boolean, debug: boolean): Output {
  return { json, debug, out: process.stdout, err: process.stderr };
}

export function printJson(output: Output, value: unknown): void {
  output.out.write(`${JSON.stringify(value)}\n`);
}

/**
 * `debug-task list`: id, status, started, target, caller; '-' where an older API gives none. A session
 * a declared trigger started shows `trigger:<name>` as its caller (its principal is the trigger's
 * rule ARN, which `--json` gives as `caller`, with `trigger`).
 */
export function renderSessionList(sessions: readonly SessionSummary[]): string {
  if (sessions.length === 0) return 'no sessions\n';
  const rows = sessions.map((s) => [
    s.sessionId,
    s.status,
    s.startedAt ? s.startedAt.replace(/\.\d+Z$/, 'Z') : '-',
    s.target ? printable(s.target) : '-',
    s.trigger ? printable(`trigger:${s.trigger}`) : s.caller ? printable(shortCaller(s.caller)) : '-',
  ]);
  return `${table(['id', 'status', 'started', 'target', 'caller'], rows).join('\n')}\n`;
}

/** arn:aws:sts::123456789012:assumed-role/Admin/alice -> assumed-role/Admin/alice (the account is yours). */
function shortCaller(caller: string): string {
  const match = /^arn:aws[a-z-]*:(?:iam|sts)::\d{12}:(.+)$/.exec(caller);
  return match ? match[1] : caller;
}

export function printOutcome(output: Output, outcome: SessionOutcome): void {
  if (output.json) {
    // A result, not a failure: `warnings` says what a script should not take for a good capture.
    const warnings = captureWarnings(outcome);
    return printJson(output, warnings.length > 0 ? { ...outcome, warnings } : outcome);
  }
  const a = outcome.artifact;
  const t = outcome.timings;
  const tool = outcome.tool;
  const lines = [
    `session   ${outcome.sessionId}  ${outcome.status}`,
    outcome.target.clusterArn === 'local'
      ? `target    container ${outcome.target.container} on the local Docker engine`
      : `target    ${outcome.target.taskArn} (container ${outcome.target.container} on ${outcome.target.instanceId})`,
    `tool      ${tool.name}, exit ${tool.exitCode ?? '-'}${tool.packets != null ? `, ${tool.packets} packets` : ''}${
      tool.dropped != null ? `, ${tool.dropped} dropped by kernel` : ''
    }`,
    `artifact  ${a.path}`,
    `          ${formatBytes(a.bytes)} ${a.format}${a.linkType ? ` (${a.linkType})` : ''}${
      a.truncated ? ', truncated at --max-size' : ''
    }, sha256 ${a.sha256} verified`,
    ...(a.s3Uri ? [`          ${a.s3Uri}`] : []),
    ...openWith(a),
    ...(outcome.reupload
      ? [
          `from      ${outcome.reupload.hostPath ?? 'the kept artifact'} on ${outcome.reupload.instanceId}, uploaded again after the session's upload failed`,
        ]
      : []),
    `time      ${t.totalSeconds}s in all: ${t.captureSeconds}s capture, ${t.overheadSeconds}s overhead`,
    ...(outcome.stoppedEarly ? [`stopped   ${stoppedEarlyText(outcome.stoppedEarly)}`] : []),
    ...(outcome.ring ? [`ring      ${ringText(outcome.ring)}`] : []),
    ...(outcome.follow ? [`follow    ${followText(outcome.follow)}`] : []),
    ...emptyCaptureWarning(outcome),
  ];
  output.out.write(`${lines.join('\n')}\n`);
}

/** "12 chunks streamed while it ran, the stream verified": a followed capture's line. */
export function followText(follow: FollowOutcome): string {
  const streamed = `${follow.chunks} chunk${follow.chunks === 1 ? '' : 's'} streamed while it ran`;
  if (follow.cutPacketBytes !== undefined) {
    return `${streamed}; the stream is the artifact, verified, then ${formatBytes(follow.cutPacketBytes)} of the packet --max-size cut (the artifact drops it)`;
  }
  if (follow.completedFromArtifactBytes === 0) return `${streamed}; the stream is the artifact, verified`;
  const why = follow.gapAtChunk !== undefined ? ` after a gap at chunk ${follow.gapAtChunk}` : '';
  return `${streamed}; the last ${formatBytes(follow.completedFromArtifactBytes)} came from the artifact${why}; the stream is the artifact, verified`;
}

/** "early, at 0:42 of 5:00; the capture so far is kept": a stopped capture's line, as tcpdump users read a clock. */
export function stoppedEarlyText(stopped: { atSeconds: number; ofSeconds: number }): string {
  return `early, at ${clock(stopped.atSeconds)} of ${clock(stopped.ofSeconds)}; the capture so far is kept`;
}

/**
 * "the last 5m kept: 5m3s from 09:31:02 UTC to the end, 14 older files rotated out, 52113 packets
 * captured in all": what a ring buffer's artifact holds, and what it let go.
 */
export function ringText(ring: RingOutcome): string {
  const window =
    ring.windowSeconds !== undefined ? formatDuration(ring.windowSeconds) : formatSize(ring.windowBytes ?? 0);
  const span =
    ring.firstPacketAt !== undefined
      ? `${ring.keptSeconds !== undefined ? `${ring.keptSeconds}s ` : ''}from ${ring.firstPacketAt.slice(11, 23)} UTC to the end`
      : 'no packet';
  const rotated = ring.rotatedOut
    ? `${ring.rotatedOut} older file${ring.rotatedOut === 1 ? '' : 's'} rotated out`
    : 'older packets dropped';
  const turned = ring.wrapped
    ? `${rotated}${ring.capturedPackets !== undefined ? `, ${ring.capturedPackets} packets captured in all` : ''}`
    : 'nothing dropped (the window never filled)';
  return `the last ${window} kept: ${span}; ${turned}`;
}

/** m:ss (h:mm:ss from an hour). */
export function clock(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/**
 * A capture of no packet is a result, not a failure (exit 0), but never a silent one: it says so,
 * with the likely reasons in the order they usually turn out to be the cause.
 */
export function emptyCaptureWarning(outcome: Pick<SessionOutcome, 'tool' | 'artifact'>): string[] {
  return captureWarnings(outcome).flatMap((warning) =>
    wrap(warning, 100).map((line, i) => `${i === 0 ? 'warning ' : '        '}  ${line}`),
  );
}

/** The capture's warnings, one sentence each: the summary's `warning` lines, `--json`'s `warnings`. */
export function captureWarnings(outcome: Pick<SessionOutcome, 'tool' | 'artifact'>): string[] {
  if (outcome.artifact.format !== 'pcap' || outcome.tool.packets !== 0) return [];
  return [
    "0 packets captured. Likely: the --filter matched nothing; the traffic is on another interface (--iface; the default is the task's first non-loopback one); the traffic runs over lo, between containers of one task (--iface lo); or nothing was sent during the capture.",
  ];
}

/** Words of `text` in lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const word of text.split(' ')) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + 1 + word.length <= width) lines[last] += ` ${word}`;
    else lines.push(word);
  }
  return lines;
}

/**
 * Where people look at packets: Wireshark, or tshark/tcpdump on a machine without a GUI. Nothing for
 * an artifact written to stdout (it went down a pipe) nor for text, which any pager shows.
 */
export function openWith(artifact: { path: string; format: string }, cwd = process.cwd()): string[] {
  if (artifact.format !== 'pcap' || artifact.path === '-') return [];
  // Relative to where the user is, when it is under it: the line is written three times.
  const relativePath = relative(cwd, artifact.path);
  const inside = relativePath !== '' && !relativePath.startsWith('..') && !isAbsolute(relativePath);
  const file = shellWord(inside ? relativePath : artifact.path);
  return [`open      wireshark ${file}   (no GUI: tshark -r ${file}, or tcpdump -nn -r ${file})`];
}

/** A path as one shell word: as it is when that is safe, else single-quoted. */
export function shellWord(text: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * `debug-task doctor`: one line per check (status, name, what was found or what is wrong), the fix
 * under each failure or warning, then a one-line verdict.
 */
export function printDoctorReport(output: Output, report: DoctorReport): void {
  if (output.json) return printJson(output, report);
  const width = Math.max(...report.checks.map((check) => check.name.length));
  const indent = ' '.repeat(9 + width + 2);
  const lines = report.checks.flatMap((check) => [
    `${check.status.padEnd(7)}  ${check.name.padEnd(width)}  ${check.code ? `${check.code}: ` : ''}${printable(check.detail)}`,
    ...(check.hint && check.status !== 'ok' ? [`${indent}fix: ${printable(check.hint)}`] : []),
  ]);
  const firstFailure = report.checks.find((check) => check.status === 'failed');
  lines.push(
    firstFailure
      ? `not ready: ${firstFailure.name} failed (fix it, then run doctor again)`
      : report.checks.some((check) => check.name === 'stack')
        ? 'ready: the deployment passed every check (doctor TASK checks a session on a task)'
        : 'ready: every precondition of a session holds',
  );
  output.out.write(`${lines.join('\n')}\n`);
}

/** Prints the error and returns the exit code it maps to. */
export function printError(output: Output, error: unknown): number {
  const typed =
    error instanceof DebugTaskError
      ? error
      : new DebugTaskError('AWS_ERROR', error instanceof Error ? error.message : String(error), {
          cause: error,
        });
  // Once a session exists, every error names it: the user needs the id to look, fetch or cancel.
  const sessionId = typeof typed.details?.sessionId === 'string' ? typed.details.sessionId : undefined;
  if (output.json) {
    printJson(output, { ...(sessionId && { sessionId }), error: typed.toJSON() });
  } else {
    output.err.write(
      `error ${typed.code}: ${printable(typed.message)}\n${sessionId ? `  session: ${printable(sessionId)}\n` : ''}  hint: ${printable(typed.hint)}\n`,
    );
  }
  if (output.debug) {
    output.err.write(`${typed.stack ?? ''}\n`);
    if (typed.cause) output.err.write(`caused by: ${(typed.cause as Error)?.stack ?? String(typed.cause)}\n`);
  }
  return typed.exitCode ?? EXIT.INFRA;
}

/**
 * Text from elsewhere (an API's answer, ECS's reasons, a value the user typed) as it may reach a
 * terminal: control characters escaped, so none can move the cursor, retitle the window or forge a line.
 */
export function printable(text: string): string {
  return [...text]
    .map((ch) => {
      const code = ch.charCodeAt(0);
      const control = code < 0x20 || (code >= 0x7f && code <= 0x9f);
      return control ? `\\u${code.toString(16).padStart(4, '0')}` : ch;
    })
    .join('');
}

/** Left-aligned columns, two spaces apart. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
