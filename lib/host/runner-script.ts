import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ERROR_CODES, EXIT, exitCodeFor } from '../domain/errors';
import { INSTANCE_ID_PATTERN, NO_CONTAINER, PLAN_HEADER } from '../domain/host-plan';
import { HOST_PARAMS, isValidHostParam, type HostParamName } from '../domain/params';
import { TOOLS, TOOL_NAMES } from '../domain/tools';

/**
 * The host runner as SSM runs it: one plain bash file built from the parts under lib/host/runner/
 * (in RUNNER_PARTS order) with a generated block (the parameter patterns of params.ts) after the
 * header, wrapped in our own Command document.
 */

/** SSM's document size limit (MaxDocumentSizeExceeded). */
export const MAX_DOCUMENT_BYTES = 64 * 1024;
export const RUNNER_STEP_NAME = 'runDebugTask';
/** Where shellParameterBlock() goes among RUNNER_PARTS. */
const GENERATED_BLOCK = '@generated';

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
      throw new Error(`No package.json above ${start}: cannot find lib/host/runner/.`);
  }
}

/** The directory of the runner's parts. */
export function runnerSourceDir(): string {
  return join(packageRoot(), 'lib', 'host', 'runner');
}

/**
 * The runner's parts, in the order of the built file. The header comes first (what the file is,
 * and the sh -> bash switch), then the generated block, then the library (settings first: every
 * other part reads what it declares), the actions, and main.sh last: it calls main unless sourced.
 */
export const RUNNER_PARTS = [
  'header.sh',
  GENERATED_BLOCK,
  'lib/settings.sh',
  'lib/util.sh',
  'lib/json.sh',
  'lib/params.sh',
  'lib/target.sh',
  'lib/image.sh',
  'lib/toolbox.sh',
  'lib/artifact.sh',
  'lib/watchdog.sh',
  'lib/workdir.sh',
  'lib/sweep.sh',
  'lib/exit.sh',
  'actions/run.sh',
  'actions/plan.sh',
  'actions/cleanup.sh',
  'actions/reupload.sh',
  'actions/sweep.sh',
  'main.sh',
] as const;

/** A bash single-quoted word; our patterns and defaults never contain a quote (asserted). */
function shellQuote(name: string, value: string): string {
  if (value.includes("'") || value.includes('\n')) {
    throw new Error(`Parameter ${name}: a quote or newline cannot go into the runner's generated block.`);
  }
  return `'${value}'`;
}

/**
 * What the runner takes from the TypeScript definitions, so the two cannot drift: PARAM_NAMES,
 * PATTERN_<name>, MAXCHARS_<name> and DEFAULT_<name> for every host parameter (params.ts); the
 * plan's header, instance id pattern and empty container (fleet.ts: PLAN_HEADER, PATTERN_instanceId,
 * NO_CONTAINER);
 * the exit status of every error code (errors.ts: EXIT_STATUS, and EXIT_STATUS_HOST for a code
 * missing there); each tool's capabilities (tools.ts: TOOL_CAPABILITIES, space-separated).
 */
export function shellParameterBlock(): string {
  // params.ts keeps every pattern valid POSIX ERE, so bash's [[ =~ ]] takes it as it is.
  const lines = [
    '# Generated from lib/domain/params.ts, fleet.ts, errors.ts and tools.ts by lib/host/runner-script.ts: do not edit.',
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
  lines.push(`readonly PLAN_HEADER=${shellQuote('PLAN_HEADER', PLAN_HEADER)}`);
  lines.push(`readonly NO_CONTAINER=${shellQuote('NO_CONTAINER', NO_CONTAINER)}`);
  lines.push(`readonly PATTERN_instanceId=${shellQuote('instanceId', INSTANCE_ID_PATTERN)}`);
  lines.push('declare -rA EXIT_STATUS=(');
  for (const code of ERROR_CODES) lines.push(`  [${code}]=${exitCodeFor(code)}`);
  lines.push(')');
  lines.push(`readonly EXIT_STATUS_HOST=${EXIT.HOST}`);
  lines.push('declare -rA TOOL_CAPABILITIES=(');
  for (const tool of TOOL_NAMES) lines.push(`  [${tool}]='${TOOLS[tool].capabilities.join(' ')}'`);
  lines.push(')');
  lines.push('}');
  return lines.join('\n');
}

let cachedScript: string | undefined;

/**
 * The runner as hosts run it: RUNNER_PARTS joined, each part as written (comments and all), each
 * after a line naming it, so a reviewer reading the built file knows where to change it.
 */
export function buildRunnerScript(): string {
  if (cachedScript) return cachedScript;
  const dir = runnerSourceDir();
  const parts = RUNNER_PARTS.map((part) => {
    if (part === GENERATED_BLOCK) return shellParameterBlock();
    // Each part names its shell for editors and shellcheck; the built file has its shebang.
    const text = readFileSync(join(dir, part), 'utf8')
      .replace(/^# shellcheck shell=bash\n/, '')
      .trimEnd();
    if (part === 'header.sh') return text;
    return `# --- lib/host/runner/${part} ${'-'.repeat(Math.max(3, 78 - part.length))}\n${text}`;
  });
  const script = parts.join('\n\n') + '\n';
  // SSM would read a double brace as a parameter reference: values come only as SSM_<name>.
  if (script.includes('{{')) throw new Error('The runner script must not contain "{{".');
  cachedScript = script;
  return script;
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
    `# debug-task host runner: lib/host/runner/ as built by lib/host/runner-script.ts (sha256 ${sha256}), gzip + base64 (SSM caps a document at 64 KB).`,
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
