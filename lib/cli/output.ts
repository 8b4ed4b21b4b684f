import type { DoctorReport } from '../domain/doctor';
import { DebugTaskError, EXIT } from '../domain/errors';
import type { SessionOutcome } from './session-runner';
import { formatBytes } from './units';

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

export function printOutcome(output: Output, outcome: SessionOutcome): void {
  if (output.json) return printJson(output, outcome);
  const a = outcome.artifact;
  const t = outcome.timings;
  const tool = outcome.tool;
  const lines = [
    `session   ${outcome.sessionId}  ${outcome.status}`,
    `target    ${outcome.target.taskArn} (container ${outcome.target.container} on ${outcome.target.instanceId})`,
    `tool      ${tool.name}, exit ${tool.exitCode ?? '-'}${tool.packets != null ? `, ${tool.packets} packets` : ''}${
      tool.dropped != null ? `, ${tool.dropped} dropped by kernel` : ''
    }`,
    `artifact  ${a.path}`,
    `          ${formatBytes(a.bytes)} ${a.format}${a.linkType ? ` (${a.linkType})` : ''}${
      a.truncated ? ', truncated at --max-size' : ''
    }, sha256 ${a.sha256} verified`,
    `          ${a.s3Uri}`,
    ...(outcome.reupload
      ? [
          `from      ${outcome.reupload.hostPath ?? 'the kept artifact'} on ${outcome.reupload.instanceId}, uploaded again after the session's upload failed`,
        ]
      : []),
    `time      ${t.totalSeconds}s in all: ${t.captureSeconds}s capture, ${t.overheadSeconds}s overhead`,
  ];
  output.out.write(`${lines.join('\n')}\n`);
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
  if (output.json) {
    printJson(output, { error: typed.toJSON() });
  } else {
    output.err.write(`error ${typed.code}: ${printable(typed.message)}\n  hint: ${printable(typed.hint)}\n`);
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
