import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { commandParameters, type HostParamValues } from '../../lib/domain/params';
import { newSessionId } from '../../lib/domain/session';
import { parseManifest, runHostRunner, runnerEnv } from '../../lib/host/local-runner';
import { buildCommandDocument, buildRunnerScript, runnerSha256 } from '../../lib/host/runner-script';
import { prepareRunShellScript, resolveParameters } from '../../lib/sandbox/ssm-document';
import { removeSessionContainers, type BenchTarget } from '../lib/containers';
import { CAPS, LISTENING, TCPDUMP, runnerFlagsDockerRun } from '../lib/docker-floor';
import { run, spawnWatching, waitForFileText } from '../lib/proc';
import { median, nowMs, ratio, round } from '../lib/stats';
import type { SuiteContext } from '../lib/context';

/**
 * Host start overhead: from the runner's start to tcpdump capturing (its "listening on" line),
 * against a bare `docker run` of the same image, in the same namespaces, with the same tool.
 * Also the runner's own phases (from the arrival times of its progress lines) and a `docker run -d`
 * with every flag the runner adds, which splits the overhead into Docker's part and the runner's.
 *
 * And the same start through the SSM document's bootstrap, as a host really runs it (issue 11):
 * with the runner in the host's cache (its sha256 checked, then exec), and with a first fetch of
 * the runner from a loopback HTTP server (the fetch, the check, the cache write, then the same).
 */

export interface HostStartResult {
  hostStartRatio: number | null;
  raw: {
    runnerMs: number | null;
    bareDockerRunMs: number | null;
    /** `docker run -d` with the runner's flags (limits, labels, mounts, read-only), to "listening". */
    runnerFlagsDockerRunMs: number | null;
    reps: number;
    /** Median ms from the runner's start to each of its progress lines. */
    runnerPhasesMs: Record<string, number | null>;
    /** Median ms from spawning bash to the runner's own first timestamp (manifest startedAt). */
    bashStartMs: number | null;
    /** One traced run (bash xtrace): ms spent in each command before the toolbox started. */
    runnerTraceMs?: Record<string, number>;
    /** The document's bootstrap to "listening", the runner already in the host's cache. */
    bootstrapCachedMs: number | null;
    /** The same with the runner fetched first (an empty cache: a host's first session). */
    bootstrapFirstFetchMs: number | null;
    /** Bytes of the runner file the first fetch brings. */
    runnerBytes: number;
  };
}

const PHASES: Array<[string, RegExp]> = [
  ['target checked', /target container .* is running/],
  ['watchdog armed', /watchdog armed/],
  ['toolbox started (docker run -d returned)', /runs for \d+s in/],
];

/** The one-second tcpdump run every host-start measure starts next to `target`. */
function captureValues(ctx: SuiteContext, target: BenchTarget, sessionId: string): HostParamValues {
  return {
    action: 'run',
    sessionId,
    containerId: target.id,
    tool: 'tcpdump',
    durationSeconds: '1',
    maxBytes: '1000000',
    maxSessions: '99', // the engine is shared with whatever else runs here
    image: ctx.image,
    expiresAt: String(Math.floor(Date.now() / 1000) + 60),
  };
}

async function runnerOnce(
  ctx: SuiteContext,
  target: BenchTarget,
): Promise<{ ms: number; phases: Record<string, number>; bashStartMs: number }> {
  const home = await mkdtemp(join(ctx.tmp, 'host-start-'));
  const sessionId = newSessionId();
  const phases: Record<string, number> = {};
  try {
    const spawnedAtEpoch = Date.now();
    const start = nowMs();
    const running = runHostRunner(captureValues(ctx, target, sessionId), {
      home,
      onStderr: (line) => {
        const at = nowMs() - start;
        for (const [name, pattern] of PHASES) if (pattern.test(line) && !(name in phases)) phases[name] = at;
      },
    });
    const seen = waitForFileText(join(home, sessionId, 'out', 'tool.err'), LISTENING, 30_000);
    const [result, seenAt] = await Promise.all([running, seen.catch((e: Error) => e)]);
    if (seenAt instanceof Error || result.manifest?.status !== 'OK') {
      throw new Error(
        `the runner did not capture: ${seenAt instanceof Error ? seenAt.message : ''} ${result.manifest?.error?.message ?? result.stderr.slice(-600)}`,
      );
    }
    phases['tcpdump listening'] = seenAt - start;
    return { ms: seenAt - start, phases, bashStartMs: result.manifest.timings.startedAt - spawnedAtEpoch };
  } finally {
    await removeSessionContainers(sessionId);
    await rm(home, { recursive: true, force: true });
  }
}

/** Serves the runner file on loopback, as S3 serves the stack's asset through a presigned GET. */
async function startRunnerServer(): Promise<{ url: string; close(): Promise<void> }> {
  const body = buildRunnerScript();
  const server = createServer((_req, res) => res.writeHead(200).end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/runner/${runnerSha256()}.sh?X-Amz-Signature=bench`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * The SSM document's step as the agent runs it (env mode), from `sh <script>` to tcpdump's
 * "listening": in `home`, whose runner cache is whatever earlier runs left (empty: a first fetch).
 */
async function bootstrapOnce(
  ctx: SuiteContext,
  target: BenchTarget,
  home: string,
  runnerUrl: string,
): Promise<number> {
  const document = buildCommandDocument({ fetchProtocols: 'http' });
  const sessionId = newSessionId();
  const values: HostParamValues = {
    ...captureValues(ctx, target, sessionId),
    runnerUrl,
    executionTimeout: '120',
  };
  const prepared = prepareRunShellScript(
    document,
    resolveParameters(document, commandParameters(values)),
    'env',
  );
  const script = join(home, `step-${sessionId}.sh`);
  await writeFile(script, prepared.script, { mode: 0o700 });
  try {
    const start = nowMs();
    const seen = waitForFileText(join(home, sessionId, 'out', 'tool.err'), LISTENING, 30_000);
    const running = run('sh', [script], {
      env: { PATH: process.env.PATH ?? '', ...prepared.env, DEBUG_TASK_HOME: home },
      timeoutMs: 60_000,
      allowFailure: true,
    });
    const [result, seenAt] = await Promise.all([running, seen.catch((e: Error) => e)]);
    if (seenAt instanceof Error || parseManifest(result.stdout)?.status !== 'OK') {
      throw new Error(
        `the bootstrap did not capture: ${seenAt instanceof Error ? seenAt.message : ''} ${result.stdout.slice(-400)} ${result.stderr.slice(-400)}`,
      );
    }
    return seenAt - start;
  } finally {
    await removeSessionContainers(sessionId);
    await rm(script, { force: true });
  }
}

async function bareDockerRun(ctx: SuiteContext, target: BenchTarget): Promise<number> {
  const ns = ['--network', `container:${target.id}`, '--pid', `container:${target.id}`];
  const start = nowMs();
  const child = spawnWatching(
    'docker',
    ['run', '--rm', ...ns, ...CAPS, ctx.image, 'timeout', '-s', 'INT', '1', ...TCPDUMP, '/dev/null'],
    LISTENING,
    { timeoutMs: 30_000 },
  );
  const seenAt = await child.sawText;
  await child.done;
  return seenAt - start;
}

/**
 * The runner once more, under bash xtrace with a timestamp on every line, up to the toolbox's
 * start: the time between one traced line and the next is that command's, summed by command
 * (`docker <subcommand>` for the docker CLI, the program's name otherwise).
 */
async function runnerTrace(ctx: SuiteContext, target: BenchTarget): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(ctx.tmp, 'trace-'));
  const sessionId = newSessionId();
  try {
    const script = join(dir, 'runner.sh');
    const trace = join(dir, 'trace.txt');
    const traced = buildRunnerScript().replace(
      /^(#!.*\n)/,
      `$1exec 19>"$DEBUG_TASK_TRACE"; BASH_XTRACEFD=19; PS4='+ \${EPOCHREALTIME} '; set -x\n`,
    );
    await writeFile(script, traced, { mode: 0o700 });
    const env = runnerEnv(captureValues(ctx, target, sessionId), {
      home: join(dir, 'home'),
      env: { DEBUG_TASK_TRACE: trace },
    });
    await run('bash', [script], { env, timeoutMs: 60_000, allowFailure: true });
    const lines = (await readFile(trace, 'utf8')).split('\n');
    const steps: Array<{ at: number; command: string }> = [];
    for (const line of lines) {
      const match = /^\++ (\d+\.\d+) (.*)$/.exec(line);
      if (match) steps.push({ at: Number(match[1]) * 1000, command: match[2] });
      if (/ runs for \d+s in /.test(line)) break;
    }
    const byCommand: Record<string, number> = {};
    for (let i = 0; i + 1 < steps.length; i++) {
      const words = steps[i].command.replace(/^timeout \d+ /, '').split(/\s+/);
      const key =
        words[0] === 'dk' || words[0] === 'docker' ? `docker ${words[1]}` : words[0].replace(/=.*/, '=');
      byCommand[key] = (byCommand[key] ?? 0) + (steps[i + 1].at - steps[i].at);
    }
    const total = steps.length > 1 ? steps[steps.length - 1].at - steps[0].at : 0;
    const top = Object.entries(byCommand)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([k, v]) => [k, Math.round(v)]);
    const shown = top.reduce((sum, [, v]) => sum + Number(v), 0);
    return {
      ...Object.fromEntries(top),
      'everything else': Math.round(total - shown),
      total: Math.round(total),
    };
  } finally {
    await removeSessionContainers(sessionId);
    await rm(dir, { recursive: true, force: true });
  }
}

export async function hostStart(ctx: SuiteContext, target: BenchTarget): Promise<HostStartResult> {
  const reps = ctx.quick ? 1 : 7;
  const runner: number[] = [];
  const bare: number[] = [];
  const flags: number[] = [];
  const bash: number[] = [];
  const phases: Record<string, number[]> = {};
  const cached: number[] = [];
  const firstFetch: number[] = [];
  const server = await startRunnerServer();
  // One home keeps its runner cache across reps (the first run below fills it); each first fetch
  // gets a home of its own, whose cache is empty.
  const cachedHome = await mkdtemp(join(ctx.tmp, 'bootstrap-cached-'));
  try {
    await bareDockerRun(ctx, target); // warm-up: the first container start after a while is slower
    await bootstrapOnce(ctx, target, cachedHome, server.url); // fills the cache
    for (let rep = 0; rep < reps; rep++) {
      const steps: Array<() => Promise<void>> = [
        async () => {
          const r = await runnerOnce(ctx, target);
          runner.push(r.ms);
          bash.push(r.bashStartMs);
          for (const [name, ms] of Object.entries(r.phases)) (phases[name] ??= []).push(ms);
        },
        async () => void bare.push(await bareDockerRun(ctx, target)),
        async () => void flags.push(await runnerFlagsDockerRun(ctx, target.id)),
        async () => void cached.push(await bootstrapOnce(ctx, target, cachedHome, server.url)),
        async () => {
          const home = await mkdtemp(join(ctx.tmp, 'bootstrap-first-'));
          try {
            firstFetch.push(await bootstrapOnce(ctx, target, home, server.url));
          } finally {
            await rm(home, { recursive: true, force: true });
          }
        },
      ];
      // Rotate which goes first, so that noise does not favour one side.
      for (let i = 0; i < steps.length; i++) await steps[(i + rep) % steps.length]();
    }
  } finally {
    await server.close();
    await rm(cachedHome, { recursive: true, force: true });
  }
  const runnerTraceMs = ctx.quick ? undefined : await runnerTrace(ctx, target);
  return {
    hostStartRatio: round(ratio(median(runner), median(bare))),
    raw: {
      runnerMs: round(median(runner), 1),
      bareDockerRunMs: round(median(bare), 1),
      runnerFlagsDockerRunMs: round(median(flags), 1),
      reps,
      runnerPhasesMs: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, round(median(v), 1)])),
      bashStartMs: round(median(bash), 1),
      bootstrapCachedMs: round(median(cached), 1),
      bootstrapFirstFetchMs: round(median(firstFetch), 1),
      runnerBytes: Buffer.byteLength(buildRunnerScript()),
      ...(runnerTraceMs && { runnerTraceMs }),
    },
  };
}
