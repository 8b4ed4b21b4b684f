import * as z from './zod';

/**
 * The last stdout line of the runner's `plan` and `reupload` actions on one host: how its share of
 * the plan went, in a few hundred characters whatever the share (SSM keeps 24,000). Each child's
 * own manifest goes to S3 next to its artifact; this line only names the children whose manifest
 * did not get there (`unreported`), so that Collect can still tell what became of them.
 */
export const HostSummarySchema = z.object({
  v: z.literal(2),
  action: z.enum(['plan', 'reupload']),
  sessionId: z.string(),
  instanceId: z.string(),
  /** OK when the share ran (whatever each child's own status); FAILED when it could not run at all. */
  status: z.enum(['OK', 'FAILED']),
  error: z.nullish(z.object({ code: z.string(), message: z.string() })),
  children: z.number().check(z.int(), z.nonnegative()),
  counts: z.record(z.string(), z.number()),
  /** Children whose manifest did not reach S3 (at most 200; `unreportedMore` counts the rest). */
  unreported: z.array(
    z.object({
      sessionId: z.string(),
      status: z.string(),
      code: z.nullish(z.string()),
      /** The start of the child's error message (at most 300 characters). */
      message: z.nullish(z.string()),
    }),
  ),
  unreportedMore: z.nullish(z.number()),
  /** The host's work root (DEBUG_TASK_HOME): where a child's kept artifact is, under `<child id>/`. */
  workRoot: z.nullish(z.string()),
});

export type HostSummary = z.output<typeof HostSummarySchema>;
