import { DebugTaskError } from '../domain/errors';
import { TOOL_NAMES } from '../domain/tools';
import * as z from '../domain/zod';

/**
 * The types of what Launch builds host parameters from. The state machine's input is JSON that
 * anyone allowed states:StartExecution could write, so Launch checks the shape before it formats
 * a single value: a number where a string belongs must be a typed refusal, not a TypeError. The
 * values themselves are checked against HOST_PARAMS when the parameters are built.
 */
const LaunchStateShape = z.object({
  sessionId: z.string(),
  caller: z.optional(z.string()),
  spec: z.object({
    tool: z.enum(TOOL_NAMES as [string, ...string[]]),
    durationSeconds: z.number().check(z.int()),
    maxBytes: z.number().check(z.int()),
    filter: z.string(),
    iface: z.string(),
    snaplen: z.number().check(z.int()),
    // Optional: an execution started before the field existed still launches (as false).
    allowHostNetwork: z.optional(z.boolean()),
    allowHostPid: z.optional(z.boolean()),
    reason: z.optional(z.string()),
  }),
  target: z.object({
    instanceId: z.string(),
    container: z.object({ runtimeId: z.string() }),
  }),
});

export function assertLaunchStateShape(state: unknown): void {
  const parsed = LaunchStateShape.safeParse(state);
  if (parsed.success) return;
  const issue = parsed.error.issues[0];
  throw new DebugTaskError(
    'INVALID_ARGUMENT',
    `The session's state is malformed at ${issue.path.join('.') || 'the top'}: ${issue.message}.`,
    {
      hint: 'Sessions are started by the api function (debug-task, or POST /sessions); an execution started by hand must carry the same input.',
      details: { field: issue.path.join('.') },
    },
  );
}
