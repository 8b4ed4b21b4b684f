import { DebugTaskError, quoted, type ErrorCode } from './errors';
import { isServiceTarget, type ServiceTarget, type TaskTarget } from './target';
import { FOLLOW_SECONDS } from './follow';
import { HOST_PARAMS, MIN_RING_BYTES, SNAPLEN, hostParamRegExp } from './params';
import { TOOLS, TOOL_ARGUMENT_NAMES, TOOL_NAMES, isToolName, toolsTaking, type ToolName } from './tools';
import { closest } from './suggest';
import { formatDuration, formatSize } from './units';
import * as z from './zod';

/**
 * What a caller asks for (POST /sessions body, and what the CLI builds from its flags).
 * Validated once here, by the API handler and by the CLI before anything is sent.
 */
/** An ECS name (service, cluster) or an ARN of one: what ListTasks accepts. */
const NAME_OR_ARN =
  /^([A-Za-z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:(service|cluster)\/[A-Za-z0-9_/-]{1,512})$/;

/** A service-wide session's default and largest number of tasks (the fleet resolver's cap). */
export const DEFAULT_MAX_TASKS = 100;
export const MAX_FLEET_TASKS = 1000;

export const SessionRequestSchema = z.object({
  // One task (`task`, with `cluster` for a bare id or an old-format ARN), or every running task of
  // a service (`service` + `cluster`, at most `maxTasks`): exactly one of task and service.
  target: z.object({
    task: z.optional(z.string().check(z.minLength(1), z.maxLength(300))),
    service: z.optional(z.string().check(z.regex(NAME_OR_ARN, 'use a service name or ARN'))),
    cluster: z.optional(z.string().check(z.minLength(1), z.maxLength(300))),
    container: z.optional(z.string().check(z.regex(/^[A-Za-z0-9_-]{1,255}$/))),
    maxTasks: z.optional(z.number().check(z.int())),
  }),
  tool: z.string(),
  durationSeconds: z.optional(z.number().check(z.int())),
  maxBytes: z.optional(z.number().check(z.int())),
  filter: z.optional(
    z.string().check(z.maxLength(HOST_PARAMS.filter.maxChars), z.regex(hostParamRegExp('filter'))),
  ),
  iface: z.optional(z.string().check(z.regex(hostParamRegExp('iface')))),
  snaplen: z.optional(z.number().check(z.int(), z.gte(SNAPLEN.min), z.lte(SNAPLEN.max))),
  // tcpdump only: a ring buffer, the most recent `seconds` or `bytes` (one of the two) of a capture
  // that runs until it is stopped (or its duration, up to the deployment's maxRingSeconds, ends).
  ring: z.optional(
    z.object({
      seconds: z.optional(z.number().check(z.int(), z.gte(1), z.lte(99_999))),
      bytes: z.optional(z.number().check(z.int(), z.gte(MIN_RING_BYTES), z.lte(999_999_999_999))),
    }),
  ),
  // --follow: the capture streamed while it runs, a chunk every intervalSeconds (lib/domain/follow.ts).
  follow: z.optional(
    z.object({
      intervalSeconds: z.optional(
        z.number().check(z.int(), z.gte(FOLLOW_SECONDS.min), z.lte(FOLLOW_SECONDS.max)),
      ),
    }),
  ),
  // ngrep's match expression, strace's syscalls and pid: each goes to the host as the parameter of
  // the same name, so each follows that pattern (params.ts); only the tools that take one accept it.
  match: z.optional(
    z
      .string()
      .check(
        z.maxLength(HOST_PARAMS.match.maxChars),
        z.regex(
          hostParamRegExp('match'),
          'use letters, digits, spaces and . _ : / @ % , = + * ? | ( ) [ ] ^ - only, not first a - or a space',
        ),
      ),
  ),
  syscalls: z.optional(
    z
      .string()
      .check(
        z.maxLength(HOST_PARAMS.syscalls.maxChars),
        z.regex(
          hostParamRegExp('syscalls'),
          "use system call names and %classes separated by commas, e.g. 'connect,sendto,%file'",
        ),
      ),
  ),
  pid: z.optional(z.number().check(z.int(), z.gte(1), z.lte(9_999_999))),
  // A target in the host's network mode is refused on the host unless this is true: a capture
  // there sees the whole host's traffic. Goes to the host as the `allowHostNetwork` parameter.
  allowHostNetwork: z.optional(z.boolean()),
  // A target in the host's pid namespace (pidMode host) is refused on the host unless this is
  // true: the toolbox there sees every process of the host. Goes as the `allowHostPid` parameter.
  allowHostPid: z.optional(z.boolean()),
  // Goes to the host as the `reason` parameter (a container label), so it follows that pattern:
  // an accepted reason always fits the SSM document. No quotes, `$`, `;` or control characters.
  reason: z.optional(
    z
      .string()
      .check(
        z.maxLength(HOST_PARAMS.reason.maxChars),
        z.regex(hostParamRegExp('reason'), 'use letters, digits, spaces and . _ : / # @ , + = ( ) - only'),
      ),
  ),
});

export type SessionRequest = z.infer<typeof SessionRequestSchema>;

/** A request with every default applied and every limit checked: what the state machine runs. */
export { describeTarget, isServiceTarget, type ServiceTarget, type TaskTarget } from './target';

/** The spec's task target; a service target here is a caller's bug, told as INVALID_ARGUMENT. */
export function taskTargetOf(spec: SessionSpec): TaskTarget {
  if (isServiceTarget(spec.target)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `This step takes one task, not the service ${quoted(spec.target.service)}.`,
    );
  }
  return spec.target;
}

export interface SessionSpec {
  target: TaskTarget | ServiceTarget;
  tool: ToolName;
  durationSeconds: number;
  maxBytes: number;
  filter: string;
  iface: string;
  snaplen: number;
  /** Whether a target in the host's network mode may be debugged (the host refuses it otherwise). */
  allowHostNetwork: boolean;
  /** Whether a target in the host's pid namespace may be debugged (the host refuses it otherwise). */
  allowHostPid: boolean;
  reason?: string;
  /** ngrep: the match expression (absent: every payload the filter lets through). */
  match?: string;
  /** strace: -e trace=LIST (absent: every system call). */
  syscalls?: string;
  /** strace: the pid to trace in the task's pid namespace (absent: 1, the container's main process). */
  pid?: number;
  /**
   * tcpdump: a ring buffer. The capture runs for `durationSeconds` (or until it is stopped) and keeps
   * only its most recent `seconds` or `bytes` (exactly one of them).
   */
  ring?: RingWindow;
  /** --follow: the host uploads what the tool wrote every `intervalSeconds`, for the CLI to stream. */
  follow?: { intervalSeconds: number };
}

/** A ring buffer's window: the most recent seconds, or the most recent bytes, of a capture. */
export type RingWindow = { seconds: number; bytes?: undefined } | { bytes: number; seconds?: undefined };

/** Deploy-time ceilings; a tool's own maximum applies when it is lower. */
export interface SessionLimits {
  maxDurationSeconds: number;
  maxBytes: number;
  /** The longest a ring buffer (`ring`) runs: it waits for an incident, so longer than a capture. */
  maxRingSeconds: number;
}

/**
 * A ring's longest duration by default: 40 minutes. The host's upload URL is signed by a role
 * session that Launch assumes with its own role's credentials (role chaining), which STS caps at one
 * hour; the ring, the grace and the URL's margin (lib/domain/upload.ts) must fit in it.
 */
export const DEFAULT_MAX_RING_SECONDS = 2400;

export const DEFAULT_LIMITS: SessionLimits = {
  maxDurationSeconds: 900,
  maxBytes: 1_000_000_000,
  maxRingSeconds: DEFAULT_MAX_RING_SECONDS,
};

const FIELD_CODES: Record<string, ErrorCode> = {
  filter: 'INVALID_FILTER',
  durationSeconds: 'DURATION_OUT_OF_RANGE',
  maxBytes: 'SIZE_OUT_OF_RANGE',
};

export function parseSessionRequest(body: unknown, limits: SessionLimits = DEFAULT_LIMITS): SessionSpec {
  const parsed = SessionRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.join('.');
    const received = valueAt(body, issue.path);
    const code = FIELD_CODES[String(issue.path[0])] ?? 'INVALID_ARGUMENT';
    throw new DebugTaskError(
      code,
      `${field || 'request'} is invalid: ${issue.message} (received ${show(received)}).`,
      {
        ...(field === 'filter' && {
          hint: "Use a pcap-filter expression of letters, digits, spaces and . : / ( ) ! < > = & | * + [ ] - only, e.g. 'tcp port 443'.",
        }),
        details: { field, received: show(received) },
      },
    );
  }
  const req = parsed.data;
  const tool = TOOLS[toolNamed(req.tool)];
  const target = parseTarget(req.target);
  const ring = parseRing(req.ring, tool.name);
  const follow = parseFollow(req.follow, target, ring);
  // A ring waits for an incident: it runs up to the deployment's ring limit, by default all of it.
  const maxDuration = ring
    ? limits.maxRingSeconds
    : Math.min(tool.maxDurationSeconds, limits.maxDurationSeconds);
  const durationSeconds =
    req.durationSeconds ?? (ring ? maxDuration : Math.min(tool.defaultDurationSeconds, maxDuration));
  if (durationSeconds < 1 || durationSeconds > maxDuration) {
    throw new DebugTaskError(
      'DURATION_OUT_OF_RANGE',
      `A ${ring ? 'ring buffer' : `${tool.name} session`} lasts 1s to ${formatDuration(maxDuration)}; ${formatDuration(durationSeconds)} was asked for.`,
      {
        ...(ring && { hint: 'The deployment setting maxRingSeconds sets the longest ring.' }),
        details: { received: durationSeconds, max: maxDuration },
      },
    );
  }
  const maxSize = Math.min(tool.maxMaxBytes, limits.maxBytes);
  // A ring of a size is its own size cap: the artifact is at most that window.
  const maxBytes = req.maxBytes ?? ring?.bytes ?? Math.min(tool.defaultMaxBytes, maxSize);
  if (ring?.bytes !== undefined && ring.bytes > maxBytes) {
    throw new DebugTaskError(
      'SIZE_OUT_OF_RANGE',
      `A ring of ${formatSize(ring.bytes)} does not fit in --max-size ${formatSize(maxBytes)}.`,
      {
        hint: 'Drop --max-size (a ring of a size is its own cap), or make the ring smaller.',
        details: { received: ring.bytes, max: maxBytes },
      },
    );
  }
  if (maxBytes < 1000 || maxBytes > maxSize) {
    throw new DebugTaskError(
      'SIZE_OUT_OF_RANGE',
      `A ${tool.name} artifact may be 1 kB to ${formatSize(maxSize)}; ${formatSize(maxBytes)} was asked for.`,
      { details: { received: maxBytes, max: maxSize } },
    );
  }
  for (const argument of TOOL_ARGUMENT_NAMES) {
    const given = req[argument];
    if (given === undefined || given === '' || tool.takes.includes(argument)) continue;
    throw new DebugTaskError('INVALID_ARGUMENT', `${tool.name} takes no --${argument}.`, {
      hint: `Drop --${argument}, or use ${toolsTaking(argument).join(' or ')}.`,
      details: { field: argument, tool: tool.name },
    });
  }
  return {
    target,
    tool: tool.name,
    durationSeconds,
    maxBytes,
    filter: (req.filter ?? '').trim(),
    iface: req.iface ?? '',
    snaplen: req.snaplen ?? Number(HOST_PARAMS.snaplen.default),
    allowHostNetwork: req.allowHostNetwork ?? false, // the host parameter's default too
    allowHostPid: req.allowHostPid ?? false, // the host parameter's default too
    ...(req.reason !== undefined && { reason: req.reason }),
    ...(req.match && { match: req.match }),
    ...(req.syscalls && { syscalls: req.syscalls }),
    ...(req.pid !== undefined && { pid: req.pid }),
    ...(ring && { ring }),
    ...(follow && { follow }),
  };
}

/**
 * The request's follow: one task only (a service's children would interleave on one stream), and
 * never a ring (its files are rewritten as it turns: there is no stream to follow).
 */
function parseFollow(
  follow: SessionRequest['follow'],
  target: TaskTarget | ServiceTarget,
  ring: RingWindow | undefined,
): SessionSpec['follow'] {
  if (follow === undefined) return undefined;
  if (isServiceTarget(target)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `--follow streams one capture; the service ${quoted(target.service)} has one capture per task.`,
      {
        hint: 'Follow one task of it: `debug-task <task> --cluster C --follow -o - ...` (`debug-task --service S --dry-run` lists its tasks).',
        details: { field: 'follow' },
      },
    );
  }
  if (ring) {
    throw new DebugTaskError('INVALID_ARGUMENT', 'A ring buffer (--ring) cannot be followed (--follow).', {
      hint: 'Drop --ring to stream the whole capture, or drop --follow to keep only the last window.',
      details: { field: 'follow' },
    });
  }
  return { intervalSeconds: follow.intervalSeconds ?? FOLLOW_SECONDS.default };
}

/** The request's ring: one window (seconds or bytes), and only for a tool that writes pcap. */
function parseRing(ring: SessionRequest['ring'], tool: ToolName): RingWindow | undefined {
  if (ring === undefined) return undefined;
  if ((ring.seconds === undefined) === (ring.bytes === undefined)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      'A ring buffer keeps either a time or a size, not both or neither.',
      {
        hint: 'Write e.g. --ring 10m (the last ten minutes) or --ring 200MB (the last 200 MB).',
        details: { field: 'ring' },
      },
    );
  }
  if (tool !== 'tcpdump') {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `${tool} takes no --ring: a ring buffer keeps packets (tcpdump).`,
      {
        hint: 'Drop --ring, or use --tool tcpdump.',
        details: { field: 'ring', tool },
      },
    );
  }
  return ring.seconds !== undefined ? { seconds: ring.seconds } : { bytes: ring.bytes as number };
}

/** A tool by its name, in any case (TCPDUMP is tcpdump); an unknown one is refused with the closest name. */
export function toolNamed(name: string): ToolName {
  const lower = name.trim().toLowerCase();
  if (isToolName(lower)) return lower;
  const close = closest(lower, TOOL_NAMES);
  throw new DebugTaskError(
    'UNKNOWN_TOOL',
    `There is no tool ${show(name)} in the catalog${close ? `: did you mean ${close}?` : '.'}`,
    {
      hint: `Pick one of: ${TOOL_NAMES.join(', ')} (\`debug-task tools\` describes them).`,
      details: { received: show(name), ...(close && { suggestion: close }) },
    },
  );
}

function parseTarget(target: SessionRequest['target']): TaskTarget | ServiceTarget {
  const { task, service, cluster, container, maxTasks } = target;
  if ((task === undefined) === (service === undefined)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      'Give either one task or one service as the target, not both or neither.',
      {
        hint: 'debug-task <task> ... for one task; debug-task --service NAME --cluster C ... for every task of a service.',
      },
    );
  }
  if (service === undefined) {
    if (maxTasks !== undefined) {
      throw new DebugTaskError('INVALID_ARGUMENT', 'maxTasks applies to a service target only.', {
        hint: 'Drop --max-tasks, or target a service with --service.',
      });
    }
    return {
      task: task as string,
      ...(cluster !== undefined && { cluster }),
      ...(container !== undefined && { container }),
    };
  }
  if (cluster === undefined) {
    throw new DebugTaskError('INVALID_ARGUMENT', `The service ${quoted(service)} needs its cluster.`, {
      hint: 'Add --cluster NAME.',
    });
  }
  const cap = maxTasks ?? DEFAULT_MAX_TASKS;
  if (cap < 1 || cap > MAX_FLEET_TASKS) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `maxTasks must be 1 to ${MAX_FLEET_TASKS}; ${cap} was asked for.`,
      {
        details: { received: cap, max: MAX_FLEET_TASKS },
      },
    );
  }
  return { service, cluster, ...(container !== undefined && { container }), maxTasks: cap };
}

function valueAt(body: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = body;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** A received value, made safe to echo: JSON, at most 80 characters. */
function show(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (text === undefined) return 'nothing';
  return quoted(text);
}
