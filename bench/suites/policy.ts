import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { run } from '../lib/proc';
import { median, round } from '../lib/stats';
import type { SuiteContext } from '../lib/context';

const ROOT = join(__dirname, '..', '..');

/**
 * The deployment policy's engine (issue 10): its size and what its decisions cost, reported apart
 * from the bundles because it is not in any: it comes in a Lambda layer, only to the deciding
 * functions (plan, api) of a deployment with a policy file. Cold: a fresh process requires the
 * engine, parses examples/policy.cedar and decides once (what the first decision of a Lambda
 * container pays); warm: a later decision, averaged over 1,000.
 */
export interface PolicyResult {
  wasmBytes: number;
  /** Load (engine + policy file) and first decision, ms, as a deployed function (sha256 given). */
  deployed: { loadMs: number | null; firstDecisionMs: number | null; laterDecisionMs: number | null };
  /** The same where no synth sha256 vouches for the file (the sandbox): validated on load. */
  validated: { loadMs: number | null; firstDecisionMs: number | null; laterDecisionMs: number | null };
  reps: number;
}

interface Sample {
  loadMs: number;
  firstDecisionMs: number;
  laterDecisionMs: number;
}

export async function policyEngine(ctx: SuiteContext): Promise<PolicyResult> {
  const pkg = dirname(require.resolve('@cedar-policy/cedar-wasm/nodejs'));
  const wasmBytes = statSync(join(pkg, 'cedar_wasm_bg.wasm')).size;
  const reps = ctx.quick ? 3 : 9;
  const probe = join(ROOT, 'bench', 'policy-probe.ts');
  const policy = join(ROOT, 'examples', 'policy.cedar');
  const measure = async (mode: 'deployed' | 'validated') => {
    const samples: Sample[] = [];
    for (let i = 0; i < reps; i++) {
      const result = await run(process.execPath, ['--import', 'tsx', probe, policy, '1000', mode], {
        cwd: ROOT,
      });
      samples.push(JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Sample);
    }
    const m = (pick: (s: Sample) => number, digits: number) => round(median(samples.map(pick)), digits);
    return {
      loadMs: m((s) => s.loadMs, 1),
      firstDecisionMs: m((s) => s.firstDecisionMs, 1),
      laterDecisionMs: m((s) => s.laterDecisionMs, 3),
    };
  };
  return { wasmBytes, deployed: await measure('deployed'), validated: await measure('validated'), reps };
}
