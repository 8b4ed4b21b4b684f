import { type Command, Option } from 'commander';
import { SNAPLEN } from '../domain/params';
import { TOOL_ARGUMENTS, TOOL_NAMES, toolsTaking } from '../domain/tools';

/**
 * The CLI's flags: their types and the commander options that declare them, once. The commands
 * (./commands) import their flag types from here, and main.ts builds the program from here, so no
 * command depends on the program that loads it.
 */

export interface CaptureFlags {
  tool: string;
  duration?: string;
  filter?: string;
  maxSize?: string;
  /** Bytes kept of each packet (tcpdump -s). */
  snaplen?: string;
  /** tcpdump: a ring buffer of the most recent time (10m) or size (200MB). */
  ring?: string;
  output?: string;
  /** tcpdump's name for --output. */
  write?: string;
  iface?: string;
  /** ngrep's match expression. */
  match?: string;
  /** strace -e trace=LIST. */
  syscalls?: string;
  /** strace: the pid to trace in the task's pid namespace. */
  pid?: string;
  allowHostNetwork?: boolean;
  allowHostPid?: boolean;
  json?: boolean;
  /** Stream the capture while it runs to -o - or -o FILE (lib/cli/follow.ts). */
  follow?: boolean;
  /** Follow into `wireshark -k -i -`. */
  wireshark?: boolean;
}

export interface RunFlags extends CaptureFlags {
  cluster?: string;
  service?: string;
  maxTasks?: string;
  yes?: boolean;
  dryRun?: boolean;
  merge?: boolean;
  container?: string;
  reason?: string;
  wait: boolean;
  apiUrl?: string;
  stackName: string;
  region?: string;
  profile?: string;
}

export interface DemoFlags extends Omit<CaptureFlags, 'tool'> {
  tool: string;
  image?: string;
  keep?: boolean;
  /** The SSM agent version the sandbox's host reports and its SSM stand-in emulates. */
  agentVersion?: string;
  /** Tasks of one demo service, captured by one service-wide session (absent: one task, one session). */
  replicas?: string;
  merge?: boolean;
}

export interface SandboxFlags {
  /** A Cedar policy file, checked before anything starts. */
  policy?: string;
  /** Tasks of the demo service. */
  replicas?: string;
  image?: string;
  json?: boolean;
  /** A JSON file of triggers (the stack's `triggers`), checked before anything starts. */
  triggers?: string;
}

export interface LocalFlags extends CaptureFlags {
  image?: string;
}

export interface ApiFlags {
  json?: boolean;
  apiUrl?: string;
  stackName: string;
  region?: string;
  profile?: string;
}

/** status, cancel, fetch, list: a session's cluster, when the caller knows it (else asked of the API). */
export interface SessionFlags extends ApiFlags {
  cluster?: string;
}

export interface DoctorFlags extends ApiFlags {
  /** Check the deployment itself rather than a session on a task. */
  stack?: boolean;
  cluster?: string;
  container?: string;
  tool?: string;
}

/**
 * The capture flags, the same on the main command, `local` and `demo` (but --follow and
 * --wireshark: `local` keeps its artifact on this machine, it has no chunks to stream); `kind` words
 * their help for the command (a folder only where --service or --replicas makes one, the demo's own
 * defaults).
 */
export function captureOptions(command: Command, kind: 'run' | 'local' | 'demo'): Command {
  const tool = new Option('-t, --tool <name>', `tool of the catalog: ${TOOL_NAMES.join(', ')} (any case)`);
  if (kind === 'run') tool.makeOptionMandatory();
  else tool.default('tcpdump');
  const folder =
    kind === 'run'
      ? '; with --service a folder, default ./debug-task-<session>/'
      : kind === 'demo'
        ? '; with --replicas a folder, default ./debug-task-<session>/'
        : '';
  command
    .addOption(tool)
    .option(
      '-d, --duration <time>',
      `how long the tool runs: 90 (seconds), 90s, 1m30s, 1.5m, 2h (default: ${kind === 'demo' ? DEMO_DEFAULTS.duration : 'the tool’s, see `debug-task tools`'})`,
    )
    .option(
      '-f, --filter <expr>',
      `pcap-filter expression, e.g. 'tcp port 443'${kind === 'demo' ? ` (default for tcpdump and ngrep: '${DEMO_DEFAULTS.filter}', the demo's HTTP traffic)` : ''}`,
    )
    .option(
      '--max-size <size>',
      'largest artifact: 512k, 10M, 10MB, 10MiB, 1G (k, M, G: powers of 1000; default 100MB)',
    )
    .option(
      '--snaplen <bytes>',
      `bytes kept of each packet, as tcpdump -s: ${SNAPLEN.min} (whole packets) to ${SNAPLEN.max} (default ${SNAPLEN.max}); tcpdump and ngrep`,
    )
    .option(
      '--ring <window>',
      'tcpdump: keep only the most recent 10m (a time) or 200MB (a size, with its B), a ring buffer that runs until stopped (Ctrl-C, `debug-task stop`) or its --duration (default: the longest ring)',
    )
    .option('--iface <name>', "interface in the task's network namespace (default: the task's own)")
    .option(TOOL_ARGUMENTS.match.flag, toolArgumentHelp('match'))
    .option(TOOL_ARGUMENTS.syscalls.flag, toolArgumentHelp('syscalls'))
    .option(TOOL_ARGUMENTS.pid.flag, toolArgumentHelp('pid'))
    .option(
      '--allow-host-network',
      "debug a container in the host's network mode too (refused otherwise): the capture sees the whole host's traffic",
    )
    .option(
      '--allow-host-pid',
      "debug a container in the host's pid namespace too (refused otherwise): the toolbox sees every process of the host",
    )
    .option(
      '-o, --output <path>',
      `file to write the artifact to (default ./debug-task-<session>.<ext>; - for stdout, e.g. | tshark -r -${folder}); checked before anything starts`,
    )
    .option('-w, --write <file>', 'same as -o (tcpdump’s name for it)')
    .option('--json', JSON_HELP);
  if (kind === 'local') return command;
  return command
    .option(
      '--follow',
      'stream the capture while it runs, a chunk every 2 s: to -o - (e.g. | tcpdump -r -, | wireshark -k -i -) or to -o FILE, which grows; checked against the artifact at the end; one task only',
    )
    .option(
      '--wireshark',
      'with --follow: start `wireshark -k -i -` on the stream (Wireshark must be installed)',
    );
}

/** A tool argument's help: what it is and which tools take it (the catalog's `takes`), from one definition. */
function toolArgumentHelp(argument: 'match' | 'syscalls' | 'pid'): string {
  return `${toolsTaking(argument).join(', ')} only: ${TOOL_ARGUMENTS[argument].summary}`;
}

/** The demo's own defaults (its target serves HTTP on port 80). */
export const DEMO_DEFAULTS = { duration: '10s', filter: 'tcp port 80' } as const;

export function apiOptions(command: Command): Command {
  return command
    .option(
      '--api-url <url>',
      'the deployment API (default: $DEBUG_TASK_API_URL, else the stack output ApiUrl)',
    )
    .option('--stack-name <name>', 'CloudFormation stack to read the API URL from', 'DebugTask')
    .option(
      '--region <region>',
      'AWS region (default: the task ARN’s, else $AWS_REGION, $AWS_DEFAULT_REGION, the profile’s region)',
    )
    .option(
      '--profile <name>',
      'AWS profile of ~/.aws/config to use (default: $AWS_PROFILE, else the default chain)',
    );
}

/** What --json means, the same on every command. */
export const JSON_HELP = 'print one JSON object as the last line on stdout (an error: {"error": {...}})';
