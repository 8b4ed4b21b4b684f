import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ERROR_CODES, EXIT, exitCodeFor } from '../domain/errors';
import { CHUNK_FORM_FIELDS, CHUNK_SEQ_DIGITS, FOLLOW_CHUNK_MAX_BYTES } from '../domain/follow';
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
  'lib/ring.sh',
  'lib/follow.sh',
  'lib/artifact.sh',
  'lib/watchdog.sh',
  'lib/workdir.sh',
  'lib/sweep.sh',
  'lib/stop.sh',
  'lib/exit.sh',
  'actions/run.sh',
  'actions/plan.sh',
  'actions/cleanup.sh',
  'actions/stop.sh',
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
 * the chunks of --follow (follow.ts: FOLLOW_CHUNK_MAX_BYTES, CHUNK_FORM_FIELDS, CHUNK_SEQ_DIGITS);
 * the exit status of every error code (errors.ts: EXIT_STATUS, and EXIT_STATUS_HOST for a code
 * missing there); each tool's capabilities and the arguments it takes (tools.ts: TOOL_CAPABILITIES,
 * TOOL_TAKES, space-separated).
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
  // --follow (follow.ts): the largest chunk (the POST policy's content-length-range), the fields of
  // the chunk form the runner sends, and the digits of a chunk's sequence number.
  lines.push(`readonly FOLLOW_CHUNK_MAX_BYTES=${FOLLOW_CHUNK_MAX_BYTES}`);
  lines.push(`readonly CHUNK_FORM_FIELDS=' ${CHUNK_FORM_FIELDS.join(' ')} '`);
  lines.push(`readonly CHUNK_SEQ_DIGITS=${CHUNK_SEQ_DIGITS}`);
  lines.push('declare -rA TOOL_TAKES=(');
  for (const tool of TOOL_NAMES) lines.push(`  [${tool}]='${TOOLS[tool].takes.join(' ')}'`);
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

/** sha256 (hex) of the runner file as hosts run it: the document names it, hosts check it. */
export function runnerSha256(script: string = buildRunnerScript()): string {
  return createHash('sha256').update(script).digest('hex');
}

/** Where hosts cache the runner, under their work root (the runner's DEBUG_TASK_HOME). */
export const RUNNER_CACHE_DIR = 'runner';

/**
 * What a deployment's document admits and names, beyond the runner's own generic checks:
 * - `patterns`: allowedPattern overrides, generated by lib/domain/params.ts for this deployment
 *   (only this deployment's toolbox image; only its buckets' endpoints for the URLs);
 * - `runnerSha256`: the hash of the runner file shipped with the stack;
 * - `fetchProtocols`: what curl may speak to fetch the runner (`https`; the local sandbox, whose
 *   S3 stand-in listens on loopback, `http`).
 */
export interface CommandDocumentOptions {
  readonly patterns?: Partial<Record<HostParamName, string>>;
  readonly runnerSha256?: string;
  readonly fetchProtocols?: 'https' | 'http';
}

/** The parameters the bootstrap hands to the runner (executionTimeout is the step's own). */
const RUNNER_PARAM_NAMES = PARAM_NAMES.filter((name) => name !== 'executionTimeout');

/**
 * Content of our SSM Command document: a short bootstrap that fetches the runner file, checks its
 * sha256 (written in the document), caches it on the host by that hash and runs it with bash.
 *
 * Parameters reach the runner as `SSM_<name>` in one of two modes (issue 17):
 * - env: agents 3.3.2746.0 and later set `SSM_<name>` themselves (`interpolationType: ENV_VAR`);
 *   the values never enter the script's text;
 * - text: older agents do not; the agent substitutes each `{{ name }}` reference textually, and
 *   the bootstrap takes it inside single quotes. Every allowedPattern refuses quotes, backslashes,
 *   line breaks and braces (test/unit/domain/params.test.ts), and SSM checks the value against it
 *   before substituting, so a value is one literal word.
 * The runner's manifest records the mode (`paramMode`). `executionTimeout` feeds the step's
 * `timeoutSeconds` through `{{ }}` in both modes (digits only).
 */
export function buildCommandDocument(options: CommandDocumentOptions = {}): CommandDocument {
  const parameters = {} as Record<HostParamName, CommandDocumentParameter>;
  for (const name of PARAM_NAMES) {
    const param = HOST_PARAMS[name];
    parameters[name] = {
      type: 'String',
      description: param.description,
      allowedPattern: options.patterns?.[name] ?? param.pattern,
      maxChars: param.maxChars,
      ...('default' in param && { default: param.default }),
      ...(name !== 'executionTimeout' && { interpolationType: 'ENV_VAR' as const }),
    };
  }
  const document: CommandDocument = {
    schemaVersion: '2.2',
    description:
      'debug-task: fetches the debug-task host runner (a plain bash file, sha256 in runCommand), checks and caches it, and runs it: one time-boxed, resource-limited toolbox container (tcpdump, ngrep, strace, snapshot) next to a container of this host; the artifact goes to S3.',
    parameters,
    mainSteps: [
      {
        action: 'aws:runShellScript',
        name: RUNNER_STEP_NAME,
        precondition: { StringEquals: ['platformType', 'Linux'] },
        inputs: {
          timeoutSeconds: '{{ executionTimeout }}',
          runCommand: bootstrapScript(
            options.runnerSha256 ?? runnerSha256(),
            options.fetchProtocols ?? 'https',
          ),
        },
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
 * The document's script, line by line: what SSM runs as root. Written to be read in the SSM
 * console: each block says what it does and why. POSIX sh until it hands over to bash.
 */
export function bootstrapScript(sha256: string, protocols: 'https' | 'http'): string[] {
  if (!/^[a-f0-9]{64}$/.test(sha256)) throw new Error(`Not a sha256: ${sha256}`);
  const exitStatus = exitCodeFor('RUNNER_UNAVAILABLE');
  const names = RUNNER_PARAM_NAMES;
  return [
    '#!/bin/sh',
    '# debug-task bootstrap, run as root by SSM Run Command. It does four things and nothing else:',
    "#  1. takes this command's parameters as the variables SSM_<name>;",
    '#  2. finds the debug-task runner in its cache on this host, or fetches it over HTTPS from runnerUrl',
    '#     (a presigned S3 GET made for this command) into the cache;',
    "#  3. checks, before every use, that the runner file's sha256 is RUNNER_SHA256 below;",
    '#  4. runs it with bash. The runner is a plain, commented bash file: lib/host/runner/ of the',
    '#     debug-task release that made this document, built by lib/host/runner-script.ts.',
    `# When the runner cannot be fetched or does not match, it prints one JSON line with the error`,
    `# RUNNER_UNAVAILABLE, exits ${exitStatus} and starts nothing. How to check the hash yourself:`,
    '# docs/ARCHITECTURE.md, "What runs on a host and how a reviewer checks it".',
    'set -u',
    `RUNNER_SHA256=${sha256}`,
    '',
    '# 1. Parameters. SSM agents 3.3.2746.0 and later pass each one as the environment variable',
    '# SSM_<name> (interpolationType ENV_VAR): the values never enter this text. Older agents set no',
    '# such variable and write each value into this text in place of its reference below, between',
    "# single quotes; SSM first checks every value against the parameter's allowedPattern, and none",
    '# of those admits a quote, a backslash, a line break or a brace: each value stays one literal word.',
    'if [ -n "${SSM_action+set}" ]; then',
    "  DEBUG_TASK_PARAM_MODE='env'",
    'else',
    "  DEBUG_TASK_PARAM_MODE='text'",
    ...names.map((name) => `  SSM_${name}='{{ ${name} }}'`),
    ...exportLines(names),
    'fi',
    'export DEBUG_TASK_PARAM_MODE',
    '',
    '# 2. and 3. The runner, from the cache or fetched: a root-only directory, one file per hash,',
    '# written under a temporary name and renamed into place once its hash is right.',
    `runner_dir=\${DEBUG_TASK_HOME:-/var/lib/debug-task}/${RUNNER_CACHE_DIR}`,
    'runner=$runner_dir/$RUNNER_SHA256.sh',
    'now_ms() { date +%s%3N; }',
    '',
    '# True when $1 is a regular file (not a link) whose sha256 is RUNNER_SHA256.',
    'runner_verified() {',
    '  [ -f "$1" ] && [ ! -L "$1" ] || return 1',
    '  set -- "$(sha256sum < "$1")"',
    '  [ "${1%% *}" = "$RUNNER_SHA256" ]',
    '}',
    '',
    "# The runner's usual last line, for the action asked for, with the error RUNNER_UNAVAILABLE, timed",
    '# from the start of the fetch (started_at). Every value printed is a constant or a checked',
    '# parameter (sessionId, instance id).',
    'runner_unavailable() {',
    '  rm -f -- "${fetched:-}"',
    '  message="The debug-task runner $RUNNER_SHA256 is unavailable on this host: $1; nothing was started."',
    '  printf "debug-task: %s\\n" "$message" >&2',
    '  instance_id=${AWS_SSM_INSTANCE_ID:-}',
    '  case $instance_id in *[!a-z0-9-]*) instance_id= ;; esac',
    '  session_id=${SSM_sessionId:-}',
    '  case $session_id in *[!a-z0-9-]*) session_id= ;; esac',
    '  error="\\"error\\":{\\"code\\":\\"RUNNER_UNAVAILABLE\\",\\"message\\":\\"$message\\"}"',
    '  timings="\\"timings\\":{\\"startedAt\\":$started_at,\\"endedAt\\":$(now_ms)}"',
    '  case ${SSM_action:-run} in',
    '    plan | reupload)',
    '      printf \'{"v":2,"action":"%s","sessionId":"%s","instanceId":"%s","status":"FAILED",%s,"children":0,"counts":{},"unreported":[],%s}\\n\' \\',
    '        "$SSM_action" "$session_id" "$instance_id" "$error" "$timings" ;;',
    '    sweep)',
    '      printf \'{"v":1,"action":"sweep","status":"FAILED",%s,%s}\\n\' "$error" "$timings" ;;',
    '    *)',
    '      printf \'{"v":1,"sessionId":"%s","status":"FAILED",%s,"tool":{"name":null,"exitCode":null},%s}\\n\' \\',
    '        "$session_id" "$error" "$timings" ;;',
    '  esac',
    `  exit ${exitStatus}`,
    '}',
    '',
    '# A cached runner is checked right before it runs (the cache is root-only, but a file can rot);',
    '# one that is missing or fails the check is fetched and checked before it is cached and run.',
    'if ! runner_verified "$runner"; then',
    '  started_at=$(now_ms) # stamped here: a cached runner (most sessions) costs no fork for it',
    '  [ -n "${SSM_runnerUrl:-}" ] || runner_unavailable "it is not in $runner_dir and no runnerUrl was given"',
    '  umask 077',
    '  { mkdir -p -- "$runner_dir" && chmod 700 -- "$runner_dir"; } ||',
    '    runner_unavailable "cannot create $runner_dir"',
    '  fetched=$(mktemp "$runner_dir/.fetch.XXXXXX") || runner_unavailable "cannot write to $runner_dir"',
    `  curl --fail --silent --show-error --location --proto '=${protocols}' --proto-redir '=${protocols}' \\`,
    '    --connect-timeout 10 --max-time 60 --retry 3 --retry-connrefused \\',
    '    --output "$fetched" -- "$SSM_runnerUrl" ||',
    '    runner_unavailable "fetching runnerUrl failed (curl exit status $?)"',
    '  runner_verified "$fetched" ||',
    '    runner_unavailable "the file fetched from runnerUrl has another sha256"',
    '  mv -f -- "$fetched" "$runner" || runner_unavailable "cannot write $runner"',
    '  fetched=',
    'fi',
    '',
    '# 4. Run it: its sha256 was checked just above, whichever way it came (once a run: hashing the',
    '# same file again a moment later would only cost every session a fork and a read).',
    'exec bash -- "$runner"',
  ];
}

/** `export SSM_a SSM_b ...`, a few names a line. */
function exportLines(names: readonly string[]): string[] {
  const lines: string[] = [];
  for (let i = 0; i < names.length; i += 6) {
    lines.push(
      `  export ${names
        .slice(i, i + 6)
        .map((name) => `SSM_${name}`)
        .join(' ')}`,
    );
  }
  return lines;
}
