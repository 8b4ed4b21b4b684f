import * as z from './zod';

/**
 * The last stdout line of a host's share of a plan (`action=plan`, and `action=reupload` with a
 * planUrl): short and bounded whatever the share's size, since every child puts its own manifest
 * (RunnerManifest) in S3 next to its artifact. It says what the share did and which children's
 * manifests did NOT reach S3: those the control plane learns of only here.
 *
 * `status` is OK when the share ran (whatever each child's own status); FAILED with `error` when it
 * could not run at all (plan unreadable, a bad line: nothing started) or was cancelled. `counts`
 * tallies the children by the status each printed (a child that printed none counts as FAILED).
 * `unreported` lists (at most UNREPORTED_MAX) the children whose manifest is not in S3: its upload
 * failed (the child's status and error code as it printed them), or the child printed none (killed:
 * FAILED, CAPTURE_FAILED); `unreportedMore` counts those left out of the list.
 */
export const UNREPORTED_MAX = 200;

const count = z.number().check(z.int(), z.nonnegative());

export const HostSummarySchema = z.object({
  v: z.literal(2),
  action: z.enum(['plan', 'reupload']),
  sessionId: z.string(),
  instanceId: z.string(),
  status: z.enum(['OK', 'FAILED']),
  error: z.optional(z.object({ code: z.string(), message: z.string() })),
  children: count,
  counts: z.record(z.string(), count),
  unreported: z.array(
    z.object({
      sessionId: z.string(),
      status: z.string(),
      // null: the child succeeded, only its manifest did not reach S3.
      code: z.nullable(z.string()),
      /** The start of the child's error message (at most 300 characters), null when it had none. */
      message: z.nullish(z.string()),
    }),
  ),
  unreportedMore: z.optional(count),
  /** The host's work root (DEBUG_TASK_HOME): a kept artifact is under `<workRoot>/<child id>/`. */
  workRoot: z.optional(z.string()),
  timings: z.object({ startedAt: z.number(), endedAt: z.number() }),
});

export type HostSummary = z.infer<typeof HostSummarySchema>;
