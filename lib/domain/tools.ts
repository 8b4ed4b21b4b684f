/**
 * The tool catalog: what each tool is allowed to do on a host and what it produces.
 *
 * Capabilities follow kubectl debug's profiles (netadmin/sysadmin): the fewest that work.
 * The host runner receives only the tool's name and applies the same profile (runner.sh keeps
 * its own copy in `tool_caps`; test/unit/tools.test.ts checks that the two agree).
 */

export type ToolName = 'tcpdump' | 'ngrep' | 'strace' | 'snapshot';
export type ArtifactFormat = 'pcap' | 'text';

export interface ToolSpec {
  readonly name: ToolName;
  readonly summary: string;
  readonly format: ArtifactFormat;
  /** File extension of the artifact, before compression. */
  readonly extension: string;
  /** Linux capabilities added to an otherwise `--cap-drop ALL` toolbox container. */
  readonly capabilities: readonly string[];
  /** Namespaces of the target container the toolbox joins. */
  readonly namespaces: readonly ('net' | 'pid')[];
  readonly defaultDurationSeconds: number;
  readonly maxDurationSeconds: number;
  readonly defaultMaxBytes: number;
  readonly maxMaxBytes: number;
  /** Whether `--filter` (a BPF expression) applies. */
  readonly takesFilter: boolean;
}

const MB = 1_000_000;

export const TOOLS: Readonly<Record<ToolName, ToolSpec>> = {
  tcpdump: {
    name: 'tcpdump',
    summary: "Packet capture in the task's network namespace, written as pcap.",
    format: 'pcap',
    extension: 'pcap',
    // SETGID: Debian's tcpdump always switches groups after opening the device and refuses to
    // start without it, even with -Z root (the runner passes -Z root so `timeout` can stop it).
    capabilities: ['NET_ADMIN', 'NET_RAW', 'SETGID'],
    namespaces: ['net', 'pid'],
    defaultDurationSeconds: 60,
    maxDurationSeconds: 900,
    defaultMaxBytes: 100 * MB,
    maxMaxBytes: 1000 * MB,
    takesFilter: true,
  },
  ngrep: {
    name: 'ngrep',
    summary: 'Payload grep over packets (line-buffered text).',
    format: 'text',
    extension: 'txt',
    capabilities: ['NET_ADMIN', 'NET_RAW'],
    namespaces: ['net', 'pid'],
    defaultDurationSeconds: 60,
    maxDurationSeconds: 900,
    defaultMaxBytes: 100 * MB,
    maxMaxBytes: 1000 * MB,
    takesFilter: true,
  },
  strace: {
    name: 'strace',
    summary: "System calls of the target's main process (text).",
    format: 'text',
    extension: 'txt',
    capabilities: ['SYS_PTRACE'],
    namespaces: ['net', 'pid'],
    defaultDurationSeconds: 30,
    maxDurationSeconds: 900,
    defaultMaxBytes: 100 * MB,
    maxMaxBytes: 1000 * MB,
    takesFilter: false,
  },
  snapshot: {
    name: 'snapshot',
    summary: 'Sockets, processes, addresses, routes (one text report, seconds long).',
    format: 'text',
    extension: 'txt',
    capabilities: ['NET_ADMIN'],
    namespaces: ['net', 'pid'],
    defaultDurationSeconds: 5,
    maxDurationSeconds: 60,
    defaultMaxBytes: 10 * MB,
    maxMaxBytes: 100 * MB,
    takesFilter: false,
  },
};

export const TOOL_NAMES = Object.keys(TOOLS) as ToolName[];

export function isToolName(value: string): value is ToolName {
  return Object.prototype.hasOwnProperty.call(TOOLS, value);
}
