import { parseTaskRef } from '../domain/arn';
import { DebugTaskError, quoted } from '../domain/errors';
import { SNAPLEN } from '../domain/params';
import { DEFAULT_LIMITS, parseSessionRequest, type SessionRequest } from '../domain/session-spec';
import { TOOLS, isToolName } from '../domain/tools';
import { precompileFilter } from './filter-check';
import type { CaptureFlags } from './options';
import { parseRingFlag } from '../domain/units';
import { parseDuration, parseSize } from './units';

/**
 * Turns flags into the API's request and validates it here with the API's own schema, so bad
 * input is exit 2 before any network call (and the API validates it again: it cannot trust us).
 */
export function buildSessionRequest(
  target: SessionRequest['target'],
  flags: CaptureFlags & { reason?: string },
): SessionRequest {
  const request: SessionRequest = {
    target,
    tool: flags.tool,
    ...(flags.duration !== undefined && { durationSeconds: parseDuration(flags.duration) }),
    ...(flags.maxSize !== undefined && { maxBytes: parseSize(flags.maxSize) }),
    ...(flags.snaplen !== undefined && { snaplen: parseSnaplen(flags.snaplen) }),
    ...(flags.ring !== undefined && { ring: parseRingFlag(flags.ring) }),
    ...(flags.filter !== undefined && { filter: flags.filter }),
    ...(flags.iface !== undefined && { iface: flags.iface }),
    ...(flags.match !== undefined && { match: flags.match }),
    ...(flags.syscalls !== undefined && { syscalls: flags.syscalls }),
    ...(flags.pid !== undefined && { pid: parsePid(flags.pid) }),
    ...(flags.allowHostNetwork === true && { allowHostNetwork: true }),
    ...(flags.allowHostPid === true && { allowHostPid: true }),
    ...(flags.reason !== undefined && { reason: flags.reason }),
    // --wireshark follows too: it is where the stream goes.
    ...((flags.follow === true || flags.wireshark === true) && { follow: {} }),
  };
  if (target.task !== undefined) checkTaskRef(target.task, target.cluster);
  // The deployment's own ring limit is the API's to apply: here, any length a host can run.
  const spec = parseSessionRequest(request, { ...DEFAULT_LIMITS, maxRingSeconds: CLI_RING_CEILING });
  // Send the defaults we validated against (and the tool's own name: TCPDUMP is tcpdump), so the
  // CLI can show a countdown of the real duration; a ring without --duration runs as long as the
  // deployment lets it, which only the API knows.
  return {
    ...request,
    tool: spec.tool,
    ...(spec.ring === undefined || request.durationSeconds !== undefined
      ? { durationSeconds: spec.durationSeconds }
      : {}),
    maxBytes: spec.maxBytes,
  };
}

/** The longest ring the CLI itself accepts (the host parameter's limit); the API applies its own. */
const CLI_RING_CEILING = 99_999;

/** --pid as a number: digits only (a pid of the task's pid namespace; the schema checks its range). */
function parsePid(text: string): number {
  if (!/^[0-9]{1,7}$/.test(text.trim()) || Number(text) < 1) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `--pid takes a process id (1 to 9999999); ${quoted(text, 40)} is not one.`,
      {
        hint: "Give the pid as the task's own pid namespace numbers it (e.g. from `debug-task TASK --tool snapshot`); without --pid, strace traces pid 1, the container's main process.",
        details: { field: 'pid', received: text.slice(0, 40) },
      },
    );
  }
  return Number(text);
}

/** --snaplen: a whole number of bytes in SNAPLEN's range (params.ts), as tcpdump -s takes it. */
export function parseSnaplen(text: string): number {
  const value = /^\s*\d{1,7}\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(value) || value < SNAPLEN.min || value > SNAPLEN.max) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `--snaplen must be a whole number of bytes, ${SNAPLEN.min} to ${SNAPLEN.max}; ${quoted(text, 40)} was given.`,
      { hint: `Write e.g. --snaplen 96 (headers only), or ${SNAPLEN.min} for whole packets.` },
    );
  }
  return value;
}

/**
 * The task as typed, checked here: a bare task id names no cluster, and ECS would look for it in
 * "default" and fail there, after a session was started; so the CLI asks for --cluster, as it does
 * for --service.
 */
export function checkTaskRef(task: string, cluster: string | undefined): void {
  const ref = parseTaskRef(task, cluster);
  if (ref.cluster === undefined) {
    throw new DebugTaskError('INVALID_ARGUMENT', `The task ${quoted(task, 60)} names no cluster.`, {
      hint: `Add --cluster NAME (--cluster default for ECS's default cluster), or give the task's full ARN (arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID).`,
    });
  }
}

/** Compiles the request's BPF filter here first, where this machine has a tcpdump (see filter-check.ts). */
export async function precheckFilter(request: SessionRequest): Promise<void> {
  if (request.filter && isToolName(request.tool) && TOOLS[request.tool].takesFilter) {
    await precompileFilter(request.filter);
  }
}
