import * as z from './zod';

/**
 * The runner's manifest for action=sweep (no session): the last line of its stdout.
 * The sweep removes every container labelled `debug-task.session` whose `debug-task.expires-at`
 * has passed, stops the watchdogs of expired sessions, and removes the work dirs of expired
 * sessions under the host's work root (a kept artifact once past its keep-until).
 *
 * A module of its own, imported only where a sweep is read: every Lambda imports
 * lib/domain/session.ts, and a schema there would put zod into all of them.
 */
export interface SweepManifest {
  v: 1;
  action: 'sweep';
  status: 'OK' | 'FAILED';
  error?: { code: string; message: string };
  /** What was done; absent when the sweep failed before it started (e.g. no Docker engine). */
  sweep?: SweepReport;
  timings: { startedAt: number; endedAt: number };
}

export interface SweepReport {
  /** Expired containers removed. */
  containersRemoved: number;
  /** Expired containers `docker rm -f` did not remove; the next sweep tries again. */
  containersFailed: number;
  /** Labelled containers left alone: not expired yet (or without a readable expires-at). */
  containersKept: number;
  /** Watchdogs of expired sessions still alive, stopped. */
  watchdogsStopped: number;
  workDirsRemoved: number;
  workDirsFailed: number;
  /** Work dirs left: session not expired, kept artifact still wanted, or its runner still alive. */
  workDirsKept: number;
  /** Sessions something was removed of (at most 50 listed; the counts are complete). */
  sessions: string[];
}

const count = z.number().check(z.int(), z.nonnegative());

/** The sweep manifest's schema; unknown keys are ignored, so the runner may add facts. */
export const SweepManifestSchema = z.object({
  v: z.literal(1),
  action: z.literal('sweep'),
  status: z.enum(['OK', 'FAILED']),
  error: z.optional(z.object({ code: z.string(), message: z.string() })),
  sweep: z.optional(
    z.object({
      containersRemoved: count,
      containersFailed: count,
      containersKept: count,
      watchdogsStopped: count,
      workDirsRemoved: count,
      workDirsFailed: count,
      workDirsKept: count,
      sessions: z.array(z.string()),
    }),
  ),
  timings: z.object({ startedAt: z.number(), endedAt: z.number() }),
});

/**
 * The sweep manifest in a runner's stdout (SSM's StandardOutputContent): its last non-empty line.
 * Undefined when that line is missing or is not a sweep manifest (the runner died first, or the
 * host runs an older document version without action=sweep); stderr then says why.
 */
export function parseSweepManifest(stdout: string): SweepManifest | undefined {
  const last = stdout.trimEnd().split('\n').pop();
  if (!last) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(last);
  } catch {
    return undefined;
  }
  const parsed = SweepManifestSchema.safeParse(json);
  return parsed.success ? (parsed.data as SweepManifest) : undefined;
}
