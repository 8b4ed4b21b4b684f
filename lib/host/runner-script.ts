import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { INSTANCE_ID_PATTERN, PLAN_HEADER } from '../domain/fleet';
import { HOST_PARAMS, isValidHostParam, type HostParamName } from '../domain/params';

/**
 * The host runner as SSM runs it: `lib/host/runner.sh` with the parameter patterns of params.ts
 * inserted, wrapped in our own Command document.
 */

/** The line of runner.sh after which the generated parameter block goes. */
const INSERT_MARKER = '# @generated-parameters@';
/** SSM's document size limit (MaxDocumentSizeExceeded). */
export const MAX_DOCUMENT_BYTES = 64 * 1024;
export const RUNNER_STEP_NAME = 'runDebugTask';

const PARAM_NAMES = Object.keys(HOST_PARAMS) as HostParamName[];

export interface CommandDocumentParameter {
  type: 'String';
  description: string;
  allowedPattern: string;
  maxChars: number;
  default?: string;
  interpolationType?: 'ENV_VAR';
}

export interface CommandDocument {
  schemaVersion: '2.2';
  description: string;
  parameters: Record<HostParamName, CommandDocumentParameter>;
  mainSteps: {
    action: 'aws:runShellScript';
    name: typeof RUNNER_STEP_NAME;
    precondition: { StringEquals: ['platformType', 'Linux'] };
    inputs: { timeoutSeconds: string; runCommand: string[] };
  }[];
}

/** The directory holding package.json, found from here: works from the sources and from dist/. */
export function packageRoot(start: string = __dirname): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir)
      throw new Error(`No package.json above ${start}: cannot find lib/host/runner.sh.`);
  }
}

export function runnerSourcePath(): string {
  return join(packageRoot(), 'lib', 'host', 'runner.sh');
}

/** A bash single-quoted word; our patterns and defaults never contain a quote (asserted). */
function shellQuote(name: string, value: string): string {
  if (value.includes("'") || value.includes('\n')) {
    throw new Error(`Parameter ${name}: a quote or newline cannot go into the runner's generated block.`);
  }
  return `'${value}'`;
}

/**
 * PARAM_NAMES, PATTERN_<name>, MAXCHARS_<name> and DEFAULT_<name> for every host parameter, and the
 * fleet plan's header and instance id pattern (lib/domain/fleet.ts: FLEET_PLAN_HEADER,
 * PATTERN_instanceId).
 */
export function shellParameterBlock(): string {
  // params.ts keeps every pattern valid POSIX ERE, so bash's [[ =~ ]] takes it as it is.
  const lines = [
    '# Generated from lib/domain/params.ts by lib/host/runner-script.ts: do not edit.',
    '# shellcheck disable=SC2034 # read through ${!PATTERN_name} indirection',
    '{',
    `readonly PARAM_NAMES=(${PARAM_NAMES.join(' ')})`,
  ];
  for (const name of PARAM_NAMES) {
    const param = HOST_PARAMS[name];
    lines.push(`readonly PATTERN_${name}=${shellQuote(name, param.pattern)}`);
    lines.push(`readonly MAXCHARS_${name}=${param.maxChars}`);
    if ('default' in param) {
      if (!isValidHostParam(name, param.default))
        throw new Error(`The default of ${name} fails its own pattern.`);
      lines.push(`readonly DEFAULT_${name}=${shellQuote(name, param.default)}`);
    }
  }
  lines.push(`readonly FLEET_PLAN_HEADER=${shellQuote('PLAN_HEADER', PLAN_HEADER)}`);
  lines.push(`readonly PATTERN_instanceId=${shellQuote('instanceId', INSTANCE_ID_PATTERN)}`);
  lines.push('}');
  return lines.join('\n');
}

let cachedScript: string | undefined;

/** runner.sh with the parameter block inserted after its header. */
export function buildRunnerScript(): string {
  if (cachedScript) return cachedScript;
  const source = readFileSync(runnerSourcePath(), 'utf8');
  const lines = source.split('\n');
  const at = lines.findIndex((line) => line.startsWith(INSERT_MARKER));
  if (at < 0 || lines.findIndex((line, i) => i > at && line.startsWith(INSERT_MARKER)) >= 0) {
    throw new Error(`runner.sh must hold exactly one "${INSERT_MARKER}" line.`);
  }
  // The marker is a comment, so it is swapped for a placeholder that survives the stripping.
  const placeholder = '__DEBUG_TASK_PARAMETER_BLOCK__';
  lines[at] = placeholder;
  const script = withoutCommentLines(lines)
    .map((line) => (line === placeholder ? shellParameterBlock() : line))
    .join('\n');
  // SSM would read a double brace as a parameter reference: values come only as SSM_<name>.
  if (script.includes('{{')) throw new Error('The runner script must not contain "{{".');
  cachedScript = script;
  return script;
}

/**
 * Drops whole-line comments and blank lines outside quoted strings, and the indentation of every
 * line that starts outside one: the SSM document is capped at 64 KB and runner.sh explains itself
 * at length. Lines inside a multi-line quoted string (the small scripts the runner writes for the
 * toolbox) are kept as they are; so are the shebang and shellcheck directives. Indentation means
 * nothing to bash there: runner.sh has no here-document (refused below), and a line continued by
 * a backslash must have a space before it (refused below), so no word is joined to the next.
 * The host tests run this stripped script, so any change of meaning would show there.
 */
export function withoutCommentLines(lines: string[]): string[] {
  const kept: string[] = [];
  let quote: "'" | '"' | undefined;
  lines.forEach((line, index) => {
    const trimmed = line.trim();
    const directive = trimmed.startsWith('# shellcheck '); // kept: the built script is linted too
    if (quote === undefined && index > 0 && !directive && (trimmed === '' || trimmed.startsWith('#'))) return;
    if (quote === undefined && /<<-?\s*['"]?[A-Za-z_]/.test(line)) {
      throw new Error(`runner.sh line ${index + 1}: no here-documents (the built script loses indentation).`);
    }
    if (/[^\s\\]\\$/.test(line)) {
      throw new Error(`runner.sh line ${index + 1}: put a space before a line-continuing backslash.`);
    }
    kept.push(quote === undefined ? line.trimStart() : line);
    quote = quoteStateAfter(line, quote);
  });
  if (quote !== undefined) throw new Error('runner.sh ends inside a quoted string.');
  return kept;
}

/** Tracks bash quoting across one line: open quotes, backslash escapes, and trailing comments. */
function quoteStateAfter(line: string, start: "'" | '"' | undefined): "'" | '"' | undefined {
  let quote = start;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote === "'") {
      if (ch === "'") quote = undefined;
    } else if (ch === '\\') {
      i++;
    } else if (quote === '"') {
      if (ch === '"') quote = undefined;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
    } else if (ch === '#' && (i === 0 || /\s/.test(line[i - 1]))) {
      break; // a comment: quotes in it mean nothing
    }
  }
  return quote;
}

/**
 * Content of our SSM Command document. Every script parameter is ENV_VAR, so the script reads
 * `$SSM_<name>` and no value is ever substituted into its text. `executionTimeout` is the
 * exception: it is not for the script but feeds the step's `timeoutSeconds` through `{{ }}` (the
 * agent's plain substitution, as in AWS-RunShellScript); its pattern admits digits only.
 */
export function buildCommandDocument(): CommandDocument {
  const parameters = {} as Record<HostParamName, CommandDocumentParameter>;
  for (const name of PARAM_NAMES) {
    const param = HOST_PARAMS[name];
    parameters[name] = {
      type: 'String',
      description: param.description,
      allowedPattern: param.pattern,
      maxChars: param.maxChars,
      ...('default' in param && { default: param.default }),
      ...(name !== 'executionTimeout' && { interpolationType: 'ENV_VAR' as const }),
    };
  }
  const document: CommandDocument = {
    schemaVersion: '2.2',
    description:
      'debug-task host runner: runs one time-boxed, resource-limited toolbox container (tcpdump, ngrep, strace, snapshot) next to a container of this host, uploads the artifact, prints a JSON manifest as the last line of stdout.',
    parameters,
    mainSteps: [
      {
        action: 'aws:runShellScript',
        name: RUNNER_STEP_NAME,
        precondition: { StringEquals: ['platformType', 'Linux'] },
        inputs: { timeoutSeconds: '{{ executionTimeout }}', runCommand: packedRunner(buildRunnerScript()) },
      },
    ],
  };
  const bytes = Buffer.byteLength(JSON.stringify(document));
  if (bytes > MAX_DOCUMENT_BYTES) {
    throw new Error(`The SSM document is ${bytes} bytes; SSM takes at most ${MAX_DOCUMENT_BYTES}.`);
  }
  return document;
}

/**
 * The runner as the document carries it: gzip + base64, unpacked by a few lines of bash and run in
 * that same shell (`eval`, so `$0` stays the agent's script file, which the fleet action runs again
 * for each child, and no process carries the whole script in its argv). The plain script is about
 * 55 KB, near SSM's 64 KB document cap; packed, about 23 KB. The header names the sha256 of the plain
 * script, so a reviewer can match the deployed document with `buildRunnerScript()` of a release.
 * Needs only base64 and gzip, which the runner needs anyway.
 */
export function packedRunner(script: string): string[] {
  const sha256 = createHash('sha256').update(script).digest('hex');
  const packed = gzipSync(Buffer.from(script, 'utf8'), { level: 9 }).toString('base64');
  return [
    '#!/bin/bash',
    `# debug-task host runner: lib/host/runner.sh as built by lib/host/runner-script.ts (sha256 ${sha256}), gzip + base64 (SSM caps a document at 64 KB).`,
    'if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi',
    `debug_task_runner=$(printf '%s' '${packed}' | base64 -d | gzip -dc) || { printf '%s\n' 'debug-task: the runner could not be unpacked (base64 -d | gzip -dc).' >&2; exit 4; }`,
    'eval "$debug_task_runner"',
  ];
}

/** The plain runner script inside a document's `runCommand` (`packedRunner` undone), for tests and audits. */
export function unpackRunner(runCommand: readonly string[]): string {
  const match = /printf '%s' '([A-Za-z0-9+/=]+)' \| base64 -d/.exec(runCommand.join('\n'));
  if (!match) throw new Error('runCommand holds no packed runner.');
  return gunzipSync(Buffer.from(match[1], 'base64')).toString('utf8');
}

// The control plane's SendCommand parameters are built in lib/domain/params.ts (one home).
export { assertValidHostParams, commandParameters } from '../domain/params';
