import { type Command, Option } from 'commander';

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
  output?: string;
  iface?: string;
  allowHostNetwork?: boolean;
  allowHostPid?: boolean;
  json?: boolean;
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
}

export interface LocalFlags extends CaptureFlags {
  image?: string;
}

export interface ApiFlags {
  json?: boolean;
  apiUrl?: string;
  stackName: string;
  region?: string;
}

/** status, cancel, fetch, list: a session's cluster, when the caller knows it (else asked of the API). */
export interface SessionFlags extends ApiFlags {
  cluster?: string;
}

export interface DoctorFlags extends ApiFlags {
  cluster?: string;
  container?: string;
  tool?: string;
}

export function captureOptions(command: Command, defaultTool?: string): Command {
  const tool = new Option('-t, --tool <name>', 'tool of the catalog: tcpdump, ngrep, strace, snapshot');
  if (defaultTool) tool.default(defaultTool);
  else tool.makeOptionMandatory();
  return command
    .addOption(tool)
    .option('-d, --duration <time>', 'how long the tool runs, e.g. 30s, 5m (default: the tool’s default)')
    .option('-f, --filter <expr>', "pcap-filter expression, e.g. 'tcp port 443'")
    .option('--max-size <size>', 'largest artifact, e.g. 10MB (default 100MB)')
    .option('--iface <name>', "interface in the task's network namespace (default: the task's own)")
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
      'where to write the artifact (default ./debug-task-<session>.<ext>; with --service a folder, default ./debug-task-<session>/)',
    )
    .option('--json', 'print one JSON object as the last line on stdout');
}

export function apiOptions(command: Command): Command {
  return command
    .option(
      '--api-url <url>',
      'the deployment API (default: $DEBUG_TASK_API_URL, else the stack output ApiUrl)',
    )
    .option('--stack-name <name>', 'CloudFormation stack to read the API URL from', 'DebugTask')
    .option('--region <region>', 'AWS region of the stack (default: $AWS_REGION)');
}
