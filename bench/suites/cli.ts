import { join } from 'node:path';
import { BUILT_CLI, ensureBuiltCli } from '../lib/build';
import { run } from '../lib/proc';
import { cpuProfile } from '../lib/profile';
import { interleave, median, ratio, round } from '../lib/stats';
import type { SuiteContext } from '../lib/context';

/** CLI start: `debug-task --help` (the built CLI) against `node -e 0`, in fresh processes. */
export interface CliResult {
  cliHelpRatio: number | null;
  raw: {
    helpMs: number | null;
    nodeMs: number | null;
    reps: number;
    /** Self time of one `--help` by origin, ms (node --cpu-prof). */
    profile?: { totalMs: number; byOrigin: Record<string, number> };
  };
}

export async function cliStart(ctx: SuiteContext): Promise<CliResult> {
  await ensureBuiltCli(ctx);
  const env = { PATH: process.env.PATH, HOME: process.env.HOME };
  const reps = ctx.quick ? 3 : 15;
  // One untimed run of each: the first start after a build reads cold files.
  await run(process.execPath, [BUILT_CLI, '--help'], { env });
  await run(process.execPath, ['-e', '0'], { env });
  const samples = await interleave(
    reps,
    async () => (await run(process.execPath, [BUILT_CLI, '--help'], { env })).ms,
    async () => (await run(process.execPath, ['-e', '0'], { env })).ms,
  );
  const help = median(samples.a);
  const node = median(samples.b);
  const profile = ctx.quick
    ? undefined
    : await cpuProfile([BUILT_CLI, '--help'], join(ctx.tmp, 'cli-prof'), env);
  return {
    cliHelpRatio: round(ratio(help, node)),
    raw: { helpMs: round(help, 1), nodeMs: round(node, 1), reps, ...(profile && { profile }) },
  };
}
