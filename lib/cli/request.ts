import { parseTaskRef } from '../domain/arn';
import { parseSessionRequest, type SessionRequest } from '../domain/session-spec';
import { TOOLS, isToolName } from '../domain/tools';
import { precompileFilter } from './filter-check';
import type { CaptureFlags } from './options';
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
    ...(flags.filter !== undefined && { filter: flags.filter }),
    ...(flags.iface !== undefined && { iface: flags.iface }),
    ...(flags.allowHostNetwork === true && { allowHostNetwork: true }),
    ...(flags.allowHostPid === true && { allowHostPid: true }),
    ...(flags.reason !== undefined && { reason: flags.reason }),
  };
  const spec = parseSessionRequest(request);
  if (target.task !== undefined) parseTaskRef(target.task, target.cluster);
  // Send the defaults we validated against, so the CLI can show a countdown of the real duration.
  return { ...request, durationSeconds: spec.durationSeconds, maxBytes: spec.maxBytes };
}

/** Compiles the request's BPF filter here first, where this machine has a tcpdump (see filter-check.ts). */
export async function precheckFilter(request: SessionRequest): Promise<void> {
  if (request.filter && isToolName(request.tool) && TOOLS[request.tool].takesFilter) {
    await precompileFilter(request.filter);
  }
}
