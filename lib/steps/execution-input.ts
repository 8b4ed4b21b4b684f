import { DebugTaskError } from '../domain/errors';
import { TOOL_NAMES } from '../domain/tools';
import * as z from '../domain/zod';

/**
 * The shape of an execution's input. The state machine's input is JSON that anyone allowed
 * states:StartExecution could write, so Plan (its first step) checks the shape before anything
 * reads a value: a number where a string belongs must be a typed refusal, not a TypeError. The
 * values themselves are checked against HOST_PARAMS when Launch builds the host's parameters.
 */
const ExecutionInputShape = z.object({
  sessionId: z.string().check(z.regex(/^dt-[a-z0-9]{8,20}-[a-z0-9]{4,12}$/)),
  requestedAt: z.string(),
  caller: z.optional(z.string()),
  spec: z.object({
    target: z.object({
      task: z.optional(z.string()),
      service: z.optional(z.string()),
      cluster: z.optional(z.string()),
      container: z.optional(z.string()),
      maxTasks: z.optional(z.number().check(z.int())),
    }),
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
    match: z.optional(z.string()),
    syscalls: z.optional(z.string()),
    pid: z.optional(z.number().check(z.int())),
    ring: z.optional(
      z.union([
        z.object({ seconds: z.number().check(z.int()) }),
        z.object({ bytes: z.number().check(z.int()) }),
      ]),
    ),
  }),
  reupload: z.optional(
    z.object({ id: z.string().check(z.regex(/^r[0-9a-z]{1,12}$/)), children: z.array(z.string()) }),
  ),
});

export function assertExecutionInput(input: unknown): void {
  const parsed = ExecutionInputShape.safeParse(input);
  if (parsed.success) return;
  const issue = parsed.error.issues[0];
  throw new DebugTaskError(
    'INVALID_ARGUMENT',
    `The execution's input is malformed at ${issue.path.join('.') || 'the top'}: ${issue.message}.`,
    {
      hint: 'Sessions are started by the api function (debug-task, or POST /sessions); an execution started by hand must carry the same input.',
      details: { field: issue.path.join('.') },
    },
  );
}
