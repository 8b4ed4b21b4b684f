/**
 * The tool catalog: what each tool is allowed to do on a host and what it produces.
 *
 * Capabilities: the fewest each tool needs to work, each one explained below, every other one
 * dropped (`--cap-drop ALL`, no-new-privileges). The host runner receives only the tool's name
 * and applies this profile: lib/host/runner-script.ts generates the runner's TOOL_CAPABILITIES
 * from it, and a host test proves on the real engine that each tool works with exactly its
 * profile (test/host/runner-profiles.test.ts).
 */

export type ToolName = 'tcpdump' | 'ngrep' | 'strace' | 'snapshot';
export type ArtifactFormat = 'pcap' | 'text';

/**
 * The arguments a tool may take beyond duration and size. Each is a host parameter of the same name
 * (lib/domain/params.ts: its pattern is checked by the API, the CLI, SSM and the runner), a field of
 * the API's request and a CLI flag (`flag`). A tool refuses the ones it does not list in `takes`.
 */
export const TOOL_ARGUMENTS = {
  filter: { flag: '--filter <expr>', summary: "pcap-filter (BPF) expression, e.g. 'tcp port 443'" },
  match: {
    flag: '--match <expr>',
    summary: "ngrep's match expression: a regular expression over the payload, e.g. 'GET /api|POST'",
  },
  syscalls: {
    flag: '--syscalls <list>',
    summary: "strace -e trace=LIST: system calls and %classes, e.g. 'connect,sendto,%file'",
  },
  pid: {
    flag: '--pid <n>',
    summary:
      "the process to trace, by its pid in the task's pid namespace (default 1: the container's main process)",
  },
} as const;

export type ToolArgument = keyof typeof TOOL_ARGUMENTS;
export const TOOL_ARGUMENT_NAMES = Object.keys(TOOL_ARGUMENTS) as ToolArgument[];

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
  /** The TOOL_ARGUMENTS it takes (`filter` exactly when takesFilter). */
  readonly takes: readonly ToolArgument[];
}

const MB = 1_000_000;

export const TOOLS: Readonly<Record<ToolName, ToolSpec>> = {
  tcpdump: {
    name: 'tcpdump',
    summary: "Packet capture in the task's network namespace, written as pcap.",
    format: 'pcap',
    extension: 'pcap',
    // NET_RAW: opening the packet socket. SETGID: Debian's tcpdump always drops privileges once
    // the capture is open, and its initgroups() (setgroups) needs it even with -Z root (the runner
    // passes -Z root so that `timeout` in the toolbox can stop it); it refuses to start otherwise.
    // No NET_ADMIN: the runner passes -p (no promiscuous mode), so the interface is never changed.
    capabilities: ['NET_RAW', 'SETGID'],
    namespaces: ['net', 'pid'],
    defaultDurationSeconds: 60,
    maxDurationSeconds: 900,
    defaultMaxBytes: 100 * MB,
    maxMaxBytes: 1000 * MB,
    takesFilter: true,
    takes: ['filter'],
  },
  ngrep: {
    name: 'ngrep',
    summary: 'Payload grep over packets: the payloads --match selects, or all (line-buffered text).',
    format: 'text',
    extension: 'txt',
    // NET_RAW: opening the packet socket. Nothing for a privilege drop: the runner passes -R (no
    // privilege revocation) and -p (no promiscuous mode, so no NET_ADMIN).
    capabilities: ['NET_RAW'],
    namespaces: ['net', 'pid'],
    defaultDurationSeconds: 60,
    maxDurationSeconds: 900,
    defaultMaxBytes: 100 * MB,
    maxMaxBytes: 1000 * MB,
    takesFilter: true,
    takes: ['filter', 'match'],
  },
  strace: {
    name: 'strace',
    summary: "System calls of the target's main process, or of the process --pid names (text).",
    format: 'text',
    extension: 'txt',
    // SYS_PTRACE: tracing the target's processes, which keep capabilities the toolbox lacks (the
    // kernel refuses ptrace then, even between two root processes).
    capabilities: ['SYS_PTRACE'],
    namespaces: ['net', 'pid'],
    defaultDurationSeconds: 30,
    maxDurationSeconds: 900,
    defaultMaxBytes: 100 * MB,
    maxMaxBytes: 1000 * MB,
    takesFilter: false,
    takes: ['syscalls', 'pid'],
  },
  snapshot: {
    name: 'snapshot',
    summary: 'Sockets, processes, addresses, routes (one text report, seconds long).',
    format: 'text',
    extension: 'txt',
    // None. Sockets (ss over netlink sock_diag), addresses and routes (ip), processes with their
    // arguments (ps reads /proc/<pid>/stat and cmdline) and /proc/net need no capability in the
    // target's namespaces. Left out on purpose: ss's process column (reading another process's
    // /proc/<pid>/fd is a ptrace check: SYS_PTRACE, which would also let it trace the target) and
    // the conntrack table (NET_ADMIN, which would also let it change the target's network).
    capabilities: [],
    namespaces: ['net', 'pid'],
    defaultDurationSeconds: 5,
    maxDurationSeconds: 60,
    defaultMaxBytes: 10 * MB,
    maxMaxBytes: 100 * MB,
    takesFilter: false,
    takes: [],
  },
};

export const TOOL_NAMES = Object.keys(TOOLS) as ToolName[];

export function isToolName(value: string): value is ToolName {
  return Object.prototype.hasOwnProperty.call(TOOLS, value);
}

/** The tools of the catalog that take `argument` (TOOL_ARGUMENTS). */
export function toolsTaking(argument: ToolArgument): ToolName[] {
  return TOOL_NAMES.filter((name) => TOOLS[name].takes.includes(argument));
}
