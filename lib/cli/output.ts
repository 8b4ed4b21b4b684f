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
    `time      ${t.totalSeconds}s in all: ${t.captureSeconds}s capture, ${t.overheadSeconds}s overhead`,
  ];
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
    output.err.write(`error ${typed.code}: ${typed.message}\n  hint: ${typed.hint}\n`);
  }
  if (output.debug) {
    output.err.write(`${typed.stack ?? ''}\n`);
    if (typed.cause) output.err.write(`caused by: ${(typed.cause as Error)?.stack ?? String(typed.cause)}\n`);
  }
  return typed.exitCode ?? EXIT.INFRA;
}
