import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type BuildOptions } from 'esbuild';
import { parseSessionRequest } from '../../lib/domain/session-spec';
import { handlerBuildOptions } from '../../lib/infra/handler-bundling';
import { startS3 } from '../../lib/sandbox/s3';
import { run } from '../lib/proc';
import { median, nowMs, round } from '../lib/stats';
import type { SuiteContext } from '../lib/context';
import { startFleetAccount } from './fleet';

/**
 * Lambda cold start, as far as it is ours: each function's bundle (what `cdk deploy` uploads,
 * made by synthesizing the stack with bundling on) and its module init time in a fresh `node`
 * (`require` of the bundle) against `node -e 0`.
 */

export interface LambdaResult {
  bundleBytes: Record<string, number>;
  /** Median wall time of `node -e "require(bundle)"` minus that of `node -e 0`, ms. */
  coldInitMs: Record<string, number | null>;
  raw: {
    nodeBaselineMs: number | null;
    requireWallMs: Record<string, number | null>;
    /** Time spent inside require() itself, measured in the process, ms (median). */
    requireInProcessMs: Record<string, number | null>;
    reps: number;
    synthMs: number;
    /** Where each bundle's bytes come from (esbuild metafile of the same build), KB by package. */
    topPackagesKB: Record<string, Record<string, number>>;
    /** How the breakdown was built: the stack's own options, and how far its size is from the stack's. */
    breakdownOptions: string;
    /** The heaviest packages, each bundled alone the same way: KB, and ms inside require(). */
    packageCost: Record<string, { KB: number; requireMs: number | null }>;
    /** The bundled Plan handler invoked against the synthetic account and s3rver (JSON and XML protocols). */
    bundleSmoke: Record<string, string>;
  };
}

const ROOT = join(__dirname, '..', '..');

/** Environment of the init runs: what a function has before its handler runs, nothing of ours. */
function initEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    AWS_REGION: 'xx-bench-1',
    AWS_ACCESS_KEY_ID: 'AKIABENCH00000000000',
    AWS_SECRET_ACCESS_KEY: 'bench-not-a-secret',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  };
}

async function synthBundles(ctx: SuiteContext, outdir: string): Promise<Record<string, string>> {
  const result = await run(
    process.execPath,
    ['--import', 'tsx', join(__dirname, '..', 'lambda-synth.ts'), outdir],
    {
      cwd: ROOT,
      timeoutMs: 300_000,
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    },
  );
  ctx.log(`  synthesized the stack with bundling in ${(result.ms / 1000).toFixed(1)} s`);
  return JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as Record<string, string>;
}

interface Breakdown {
  bytes: number;
  top: Record<string, number>;
}

/** The handler built with the stack's own options (lib/infra/handler-bundling.ts), with a metafile. */
async function breakdown(handler: string): Promise<Breakdown> {
  const result = await build({
    ...handlerBuildOptions(join(ROOT, 'lambda', `${handler}.ts`), join(tmpdir(), `bench-${handler}.js`)),
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const output = Object.values(result.metafile?.outputs ?? {})[0];
  const bytes = result.outputFiles?.[0]?.contents.length ?? 0;
  const byPackage: Record<string, number> = {};
  for (const [path, input] of Object.entries(output?.inputs ?? {})) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? path.split('/').slice(0, 2).join('/');
    byPackage[pkg] = (byPackage[pkg] ?? 0) + input.bytesInOutput;
  }
  const top = Object.fromEntries(
    Object.entries(byPackage)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6)
      .map(([pkg, n]) => [pkg, Math.round(n / 1024)]),
  );
  return { bytes, top };
}

/** Each package bundled alone (`export * from 'pkg'`) with the same options: size and init time. */
async function packageCost(
  packages: string[],
  reps: number,
  dir: string,
): Promise<Record<string, { KB: number; requireMs: number | null }>> {
  const out: Record<string, { KB: number; requireMs: number | null }> = {};
  for (const pkg of packages) {
    const file = join(dir, `${pkg.replace(/[@/]/g, '_')}.js`);
    try {
      const { entryPoints: _entry, ...options }: BuildOptions = handlerBuildOptions('', file);
      await build({
        ...options,
        logLevel: 'silent',
        stdin: { contents: `export * from ${JSON.stringify(pkg)};`, resolveDir: ROOT, loader: 'ts' },
      });
    } catch {
      continue; // a transitive package without an entry of its own (e.g. @smithy/core's subpaths)
    }
    // Timed inside the process (performance.now around require): node's own start is not in it,
    // so this stays readable when the machine is busy.
    const inner: number[] = [];
    for (let i = 0; i < reps; i++) inner.push((await timeNode(['-e', requireScript(file)])).innerMs);
    out[pkg] = { KB: Math.round((await stat(file)).size / 1024), requireMs: round(median(inner), 0) };
  }
  return out;
}

/**
 * The bundled Plan handler, run in a fresh node against the synthetic account of
 * bench/suites/fleet.ts (ECS and SSM, JSON protocol) and s3rver (S3, XML protocol): the stack's
 * bundling options (the SDK's schemas made tree-shakable, event streams left out) must still give
 * working SDK clients. Every bundle is also loaded by the init timing above.
 */
async function bundleSmoke(bundles: Record<string, string>): Promise<Record<string, string>> {
  const account = await startFleetAccount(1, 1);
  const s3 = await startS3({ bucket: 'debug-task-bench' });
  const result: Record<string, string> = {};
  try {
    const spec = parseSessionRequest({
      target: { task: account.taskArns[0], container: 'web' },
      tool: 'tcpdump',
      durationSeconds: 5,
    });
    const input = {
      sessionId: 'dt-20260101000000-bench1',
      spec,
      requestedAt: new Date().toISOString(),
      caller: 'bench',
    };
    const env = {
      ...initEnv(),
      AWS_ENDPOINT_URL_ECS: account.endpoint,
      AWS_ENDPOINT_URL_SSM: account.endpoint,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_S3_FORCE_PATH_STYLE: 'true',
      BUCKET_NAME: s3.bucket,
      ALLOWED_CLUSTERS: '',
    };
    const script =
      `require(${JSON.stringify(bundles.plan)}).handler(${JSON.stringify(input)})` +
      '.then((r) => process.stdout.write(JSON.stringify(r)), (e) => { console.error(e.name, e.message); process.exit(1); })';
    const r = await run(process.execPath, ['-e', script], { env, timeoutMs: 30_000, allowFailure: true });
    const planned = r.code === 0 ? (JSON.parse(r.stdout) as { batches?: unknown[] }) : undefined;
    result.plan =
      r.code !== 0
        ? `failed: ${r.stderr.trim().split('\n').pop()}`
        : planned?.batches?.length === 1
          ? 'ok'
          : `failed: unexpected plan ${r.stdout.slice(0, 200)}`;
  } finally {
    await account.close();
    await s3.stop();
  }
  return result;
}

/** `node -e` source that requires `path` and prints how long the require took, ms. */
function requireScript(path: string): string {
  return `const t=performance.now();require(${JSON.stringify(path)});process.stdout.write(String(performance.now()-t))`;
}

async function timeNode(args: string[]): Promise<{ wallMs: number; innerMs: number }> {
  const result = await run(process.execPath, args, { env: initEnv(), timeoutMs: 60_000 });
  return { wallMs: result.ms, innerMs: Number(result.stdout.trim()) };
}

export async function lambdaColdStart(ctx: SuiteContext): Promise<LambdaResult> {
  const outdir = await mkdtemp(join(tmpdir(), 'debug-task-bench-synth-'));
  try {
    const t0 = nowMs();
    const bundles = await synthBundles(ctx, outdir);
    const synthMs = nowMs() - t0;
    const handlers = Object.keys(bundles).sort();
    const bundleBytes: Record<string, number> = {};
    const topPackagesKB: Record<string, Record<string, number>> = {};
    let largestGap = 0;
    for (const handler of handlers) {
      bundleBytes[handler] = (await stat(bundles[handler])).size;
      const parts = await breakdown(handler);
      topPackagesKB[handler] = parts.top;
      largestGap = Math.max(largestGap, Math.abs(parts.bytes - bundleBytes[handler]));
    }
    const breakdownOptions = `the stack's own options (lib/infra/handler-bundling.ts); ${
      largestGap === 0
        ? "byte for byte the stack's bundles"
        : `up to ${largestGap} bytes off the stack's bundles`
    }`;

    // 15: on this 2-core VM one `node` start varies by 10-25 ms (sigma), and 9 samples let two of
    // eight byte-unchanged bundles read 102-108 ms in one run and 71-80 ms in the next.
    const reps = ctx.quick ? 2 : 15;
    const wall: Record<string, number[]> = { '': [] };
    const inner: Record<string, number[]> = {};
    for (const handler of handlers) {
      wall[handler] = [];
      inner[handler] = [];
    }
    for (let rep = 0; rep < reps; rep++) {
      // Rotate the order each repetition: a slow spell must not always hit the same function.
      const order = ['', ...handlers];
      const rotated = [...order.slice(rep % order.length), ...order.slice(0, rep % order.length)];
      for (const handler of rotated) {
        const sample = await timeNode(handler ? ['-e', requireScript(bundles[handler])] : ['-e', '0']);
        wall[handler].push(sample.wallMs);
        if (handler) inner[handler].push(sample.innerMs);
      }
    }
    const baseline = median(wall['']);
    const coldInitMs: Record<string, number | null> = {};
    const requireWallMs: Record<string, number | null> = {};
    const requireInProcessMs: Record<string, number | null> = {};
    for (const handler of handlers) {
      requireWallMs[handler] = round(median(wall[handler]), 1);
      coldInitMs[handler] = round(median(wall[handler]) - baseline, 1);
      requireInProcessMs[handler] = round(median(inner[handler]), 1);
    }
    const smoke = await bundleSmoke(bundles);
    // The packages that weigh most across the functions, each bundled alone: what each one costs.
    const weight: Record<string, number> = {};
    for (const top of Object.values(topPackagesKB)) {
      for (const [pkg, kb] of Object.entries(top))
        if (!pkg.includes('/') || pkg.startsWith('@')) weight[pkg] = (weight[pkg] ?? 0) + kb;
    }
    const heaviest = Object.entries(weight)
      .sort((a, b) => b[1] - a[1])
      .slice(0, ctx.quick ? 1 : 8)
      .map(([pkg]) => pkg);
    const costs = await packageCost(heaviest, ctx.quick ? 1 : 5, outdir);
    return {
      bundleBytes,
      coldInitMs,
      raw: {
        nodeBaselineMs: round(baseline, 1),
        requireWallMs,
        requireInProcessMs,
        reps,
        synthMs: Math.round(synthMs),
        topPackagesKB,
        breakdownOptions,
        packageCost: costs,
        bundleSmoke: smoke,
      },
    };
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}
