/**
 * The benchmark of issue #6: what a user waits for and what a host pays, each beside the baseline
 * that marks its limit, measured in one run on the local sandbox and the real Docker engine.
 *
 *   npm run bench                     every figure; writes bench/results.json and the generated
 *                                     part of BENCHMARKS.md
 *   npm run bench -- --quick          the quickest subset (CI): every suite once, fewest
 *                                     repetitions; writes a temp results file only
 *   npm run bench -- --only a,b       some suites (cli, lambda, policy, calls, hostStart, capture, ring,
 *                                     upload, session, follow); writes a temp results file only
 *   npm run bench -- --render         rewrites BENCHMARKS.md from bench/results.json (no measuring)
 *   options: --out PATH (results file), --fail-on-miss (exit 3 when a target is missed)
 *
 * Exit status: 0 when the harness ran (a missed target is reported, not fatal), 1 when a suite's
 * harness broke, 2 on bad arguments.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { assertDockerAvailable, docker } from '../lib/sandbox/docker';
import { ensureLocalToolboxImage } from '../lib/sandbox/local-image';
import { removeBenchContainers, startBenchTarget, type BenchTarget } from './lib/containers';
import type { SuiteContext } from './lib/context';
import { run } from './lib/proc';
import { renderGenerated, replaceGenerated } from './lib/report';
import { evaluateTargets, exitCode, type BenchResults } from './lib/targets';
import { captureFidelity } from './suites/capture';
import { cliStart } from './suites/cli';
import { fleetCalls, resolveOneTask } from './suites/fleet';
import { followDelay } from './suites/follow';
import { hostStart } from './suites/host-start';
import { lambdaColdStart } from './suites/lambda';
import { policyEngine } from './suites/policy';
import { ringFootprint } from './suites/ring';
import { sessionOverhead } from './suites/session';
import { uploadThroughput } from './suites/upload';

// The SDK's Node 20 notice would follow every client created here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ROOT = join(__dirname, '..');
const SUITES = [
  'cli',
  'lambda',
  'policy',
  'calls',
  'hostStart',
  'capture',
  'ring',
  'upload',
  'session',
  'follow',
] as const;
type Suite = (typeof SUITES)[number];

interface Args {
  quick: boolean;
  render: boolean;
  only?: Suite[];
  out?: string;
  failOnMiss: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, render: false, failOnMiss: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') args.quick = true;
    else if (arg === '--render') args.render = true;
    else if (arg === '--fail-on-miss') args.failOnMiss = true;
    else if (arg === '--out') args.out = argv[++i];
    else if (arg === '--only') {
      const names = (argv[++i] ?? '').split(',').filter(Boolean);
      const unknown = names.filter((n) => !(SUITES as readonly string[]).includes(n));
      if (unknown.length || names.length === 0) throw new Error(`--only takes some of ${SUITES.join(',')}`);
      args.only = names as Suite[];
    } else throw new Error(`unknown argument ${arg} (see the header of bench/run.ts)`);
  }
  return args;
}

async function machine(): Promise<Record<string, string | number>> {
  const osRelease = readFileSync('/etc/os-release', 'utf8');
  const version = async (cmd: string, args: string[]) =>
    (await run(cmd, args, { allowFailure: true, timeoutMs: 10_000 }).catch(() => undefined))?.stdout
      .trim()
      .split('\n')[0] ?? 'n/a';
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: /^PRETTY_NAME="?([^"\n]*)/m.exec(osRelease)?.[1] ?? 'Linux',
    kernel: release(),
    node: process.version,
    docker: await docker(['version', '--format', '{{.Server.Version}}']).catch(() => 'n/a'),
    cgroup: await readFile('/sys/fs/cgroup/cgroup.controllers', 'utf8')
      .then(() => 'v2')
      .catch(() => 'v1'),
    tcpdump: (await version('tcpdump', ['--version'])).replace(/^tcpdump version /, ''),
    // Others' work on the same machine shows here: figures are ratios within the run for that reason.
    loadAverageAtStart: loadavg()[0].toFixed(2),
  };
}

const RESULTS = join(ROOT, 'bench', 'results.json');
const BENCHMARKS = join(ROOT, 'BENCHMARKS.md');

async function writeBenchmarksMd(results: BenchResults): Promise<void> {
  const current = await readFile(BENCHMARKS, 'utf8').catch(() => '# Benchmarks\n');
  await writeFile(BENCHMARKS, replaceGenerated(current, renderGenerated(results)));
}

/** --render: the report again from the last full run's results, with the current targets. */
async function render(): Promise<number> {
  const results = JSON.parse(await readFile(RESULTS, 'utf8')) as BenchResults;
  results.targets = evaluateTargets(results);
  await writeFile(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
  await writeBenchmarksMd(results);
  console.error(`bench: BENCHMARKS.md rewritten from ${RESULTS} (${results.generatedAt})`);
  return 0;
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`bench: ${(error as Error).message}`);
    return 2;
  }
  if (args.render) return render();
  const started = Date.now();
  const runId = `${started.toString(36)}`;
  const tmp = await mkdtemp(join(tmpdir(), 'debug-task-bench-'));
  const log = (message: string) => console.error(message);
  const full = !args.quick && !args.only;
  const selected = new Set<Suite>(args.only ?? SUITES);
  const results: BenchResults = {
    generatedAt: new Date(started).toISOString(),
    mode: args.quick ? 'quick' : 'full',
    durationSeconds: 0,
    machine: {},
    hostStartRatio: null,
    sessionOverheadSeconds: null,
    callsSingleSession: null,
    callsFleet1000: null,
    bundleBytes: null,
    coldInitMs: null,
    cliHelpRatio: null,
    dropFreePpsRatio: null,
    uploadThroughputRatio: null,
    errors: {},
  };
  const stop = async () => {
    await removeBenchContainers(runId);
    await rm(tmp, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().finally(() => process.exit(130)));
  process.once('SIGTERM', () => void stop().finally(() => process.exit(143)));

  let target: BenchTarget | undefined;
  try {
    await assertDockerAvailable();
    const image = await ensureLocalToolboxImage();
    log(
      `bench: ${args.only ? `partial (${args.only.join(', ')})` : results.mode} run, toolbox image ${image.image}${image.built ? ' (built now)' : ''}`,
    );
    results.machine = await machine();
    const ctx: SuiteContext = { quick: args.quick, runId, image: image.image, tmp, log };
    const suite = async (name: Suite, body: () => Promise<void>) => {
      if (!selected.has(name)) return;
      const t0 = Date.now();
      log(`bench: ${name}...`);
      try {
        await body();
        log(`bench: ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      } catch (error) {
        results.errors[name] = error instanceof Error ? (error.stack ?? error.message) : String(error);
        log(`bench: ${name} FAILED: ${results.errors[name]}`);
      }
    };
    const benchTarget = async () => (target ??= await startBenchTarget(image.image, runId));

    await suite('cli', async () => {
      const r = await cliStart(ctx);
      results.cliHelpRatio = r.cliHelpRatio;
      results.cli = r.raw as unknown as Record<string, unknown>;
    });
    await suite('lambda', async () => {
      const r = await lambdaColdStart(ctx);
      results.bundleBytes = r.bundleBytes;
      results.coldInitMs = r.coldInitMs;
      results.lambda = r.raw as unknown as Record<string, unknown>;
    });
    await suite('policy', async () => {
      results.policy = (await policyEngine(ctx)) as unknown as Record<string, unknown>;
    });
    await suite('calls', async () => {
      const single = await resolveOneTask();
      const fleet = await fleetCalls();
      results.callsFleet1000 = fleet.calls;
      results.calls = { resolveOneTask: single, fleet, fleetNote: fleet.note };
      if (!selected.has('session')) results.callsSingleSession = single.calls;
    });
    await suite('hostStart', async () => {
      const r = await hostStart(ctx, await benchTarget());
      results.hostStartRatio = r.hostStartRatio;
      results.hostStart = r.raw as unknown as Record<string, unknown>;
    });
    await suite('capture', async () => {
      const r = await captureFidelity(ctx, await benchTarget());
      results.dropFreePpsRatio = r.dropFreePpsRatio;
      results.footprint = r.footprint as unknown as Record<string, unknown> | null;
      results.capture = r.raw as unknown as Record<string, unknown>;
    });
    await suite('ring', async () => {
      results.ring = { trials: await ringFootprint(ctx, await benchTarget()) };
    });
    await suite('upload', async () => {
      const r = await uploadThroughput(ctx, await benchTarget());
      results.uploadThroughputRatio = r.uploadThroughputRatio;
      results.upload = r.raw as unknown as Record<string, unknown>;
    });
    await suite('session', async () => {
      const r = await sessionOverhead(ctx);
      results.sessionOverheadSeconds = r.sessionOverheadSeconds;
      results.callsSingleSession = r.callsSingleSession;
      results.session = r.raw as unknown as Record<string, unknown>;
    });
    await suite('follow', async () => {
      results.follow = (await followDelay(ctx)) as unknown as Record<string, unknown>;
    });
  } catch (error) {
    results.errors.setup = error instanceof Error ? error.message : String(error);
    log(`bench: cannot run: ${results.errors.setup}`);
  } finally {
    await stop();
  }

  results.durationSeconds = Math.round((Date.now() - started) / 1000);
  results.machine.loadAverageAtEnd = loadavg()[0].toFixed(2);
  results.targets = evaluateTargets(results);
  const out =
    args.out ??
    (full
      ? join(ROOT, 'bench', 'results.json')
      : join(tmpdir(), `debug-task-bench-${args.only ? 'partial' : results.mode}-${runId}.json`));
  await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
  if (full) await writeBenchmarksMd(results);
  for (const row of results.targets) {
    const verdict = row.met === null ? '  --  ' : row.met ? '  met ' : 'MISSED';
    log(`${verdict} ${row.figure}: ${row.measured} (target ${row.target})`);
  }
  log(`bench: results in ${out}${full ? ' and BENCHMARKS.md' : ''} (${results.durationSeconds} s)`);
  return exitCode(results, args.failOnMiss);
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
