import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { docker } from '../../lib/sandbox/docker';
import type { HostParamValues } from '../../lib/domain/params';
import { run } from './proc';

/**
 * Containers the benchmark starts (all labelled BENCH_LABEL, removed at the end even after a
 * failure), and the cgroup readings of a running container.
 */
export const BENCH_LABEL = 'debug-task.bench';

export interface BenchTarget {
  id: string;
  address: string;
  /** The container's init pid on the host (for nsenter). */
  pid: number;
}

/** A plain target: the toolbox image serving HTTP on port 80 (no traffic of its own). */
export async function startBenchTarget(image: string, runId: string): Promise<BenchTarget> {
  const id = await docker([
    'run', '-d', '--label', `${BENCH_LABEL}=${runId}`, image,
    '/bin/busybox', 'httpd', '-f', '-p', '80', '-h', '/www',
  ]); // prettier-ignore
  const [address, pid] = (
    await docker([
      'inspect',
      '-f',
      '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}} {{.State.Pid}}',
      id,
    ])
  ).split(' ');
  if (!address) throw new Error(`bench target ${id} has no IP address`);
  return { id, address, pid: Number(pid) };
}

/** Removes every container this run (or, with no id, any run) of the benchmark left. */
export async function removeBenchContainers(runId?: string): Promise<void> {
  const label = runId ? `${BENCH_LABEL}=${runId}` : BENCH_LABEL;
  const ids = (await docker(['ps', '-aq', '--filter', `label=${label}`]).catch(() => ''))
    .split('\n')
    .filter(Boolean);
  if (ids.length) await docker(['rm', '-f', ...ids]).catch(() => undefined);
}

export async function removeSessionContainers(sessionId: string): Promise<void> {
  const ids = (
    await docker(['ps', '-aq', '--filter', `label=debug-task.session=${sessionId}`]).catch(() => '')
  )
    .split('\n')
    .filter(Boolean);
  if (ids.length) await docker(['rm', '-f', ...ids]).catch(() => undefined);
}

export async function containerPid(nameOrId: string): Promise<number> {
  return Number(await docker(['inspect', '-f', '{{.State.Pid}}', nameOrId]));
}

/** What a container's cgroup says: usage counters and the limits docker set. */
export interface CgroupSample {
  /** CPU time used so far, ns. */
  cpuNs: number;
  /** Periods in which the CPU quota throttled the container, and for how long (ns). */
  throttledPeriods: number | null;
  throttledNs: number | null;
  memoryBytes: number;
  /** Peak memory (cgroup v1 max_usage_in_bytes / v2 memory.peak); includes page cache. */
  memoryPeakBytes: number | null;
  /** Anonymous memory (RSS) now. */
  memoryRssBytes: number | null;
  memoryLimitBytes: number | null;
  /** CPU cap in cores (quota / period), null when unlimited. */
  cpuLimitCores: number | null;
  pidsCurrent: number | null;
  pidsLimit: number | null;
  /** Times the memory limit was hit (v1 failcnt / v2 events max); reclaim, not necessarily OOM. */
  memoryLimitHits: number | null;
}

/** cgroup paths of a process, by controller (v1), or the unified path (v2, key ''). */
async function cgroupPaths(pid: number): Promise<Map<string, string>> {
  const text = await readFile(`/proc/${pid}/cgroup`, 'utf8');
  const paths = new Map<string, string>();
  for (const line of text.trim().split('\n')) {
    const [, controllers, path] = line.split(':');
    for (const c of controllers.split(',')) paths.set(c.replace(/^name=/, ''), path);
  }
  return paths;
}

async function readNumber(file: string): Promise<number | null> {
  try {
    const text = (await readFile(file, 'utf8')).trim();
    if (text === 'max') return null;
    const value = Number(text.split(/\s+/)[0]);
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

async function readKeyed(file: string): Promise<Record<string, number>> {
  try {
    const out: Record<string, number> = {};
    for (const line of (await readFile(file, 'utf8')).trim().split('\n')) {
      const [key, value] = line.split(/\s+/);
      out[key] = Number(value);
    }
    return out;
  } catch {
    return {};
  }
}

/** Reads the cgroup of a running container's init process (v1 or v2). */
export async function sampleCgroup(pid: number): Promise<CgroupSample> {
  const paths = await cgroupPaths(pid);
  const root = '/sys/fs/cgroup';
  const v1 = paths.has('cpuacct') || paths.has('memory');
  if (v1) {
    const cpuacct = join(root, 'cpuacct', paths.get('cpuacct') ?? '');
    const cpu = join(root, 'cpu', paths.get('cpu') ?? '');
    const memory = join(root, 'memory', paths.get('memory') ?? '');
    const pids = join(root, 'pids', paths.get('pids') ?? '');
    const quota = await readNumber(join(cpu, 'cpu.cfs_quota_us'));
    const period = await readNumber(join(cpu, 'cpu.cfs_period_us'));
    const cpuStat = await readKeyed(join(cpu, 'cpu.stat'));
    const memStat = await readKeyed(join(memory, 'memory.stat'));
    const limit = await readNumber(join(memory, 'memory.limit_in_bytes'));
    return {
      cpuNs: (await readNumber(join(cpuacct, 'cpuacct.usage'))) ?? Number.NaN,
      throttledPeriods: cpuStat.nr_throttled ?? null,
      throttledNs: cpuStat.throttled_time ?? null,
      memoryBytes: (await readNumber(join(memory, 'memory.usage_in_bytes'))) ?? Number.NaN,
      memoryPeakBytes: await readNumber(join(memory, 'memory.max_usage_in_bytes')),
      memoryRssBytes: memStat.total_rss ?? memStat.rss ?? null,
      // v1 reports "no limit" as a huge number
      memoryLimitBytes: limit !== null && limit < 2 ** 60 ? limit : null,
      cpuLimitCores: quota !== null && quota > 0 && period ? quota / period : null,
      pidsCurrent: await readNumber(join(pids, 'pids.current')),
      pidsLimit: await readNumber(join(pids, 'pids.max')),
      memoryLimitHits: await readNumber(join(memory, 'memory.failcnt')),
    };
  }
  const dir = join(root, paths.get('') ?? '');
  const cpuStat = await readKeyed(join(dir, 'cpu.stat'));
  const memStat = await readKeyed(join(dir, 'memory.stat'));
  const events = await readKeyed(join(dir, 'memory.events'));
  let cpuLimitCores: number | null = null;
  try {
    const [quota, period] = (await readFile(join(dir, 'cpu.max'), 'utf8')).trim().split(/\s+/);
    if (quota !== 'max') cpuLimitCores = Number(quota) / Number(period);
  } catch {
    // no cpu controller
  }
  return {
    cpuNs: (cpuStat.usage_usec ?? Number.NaN) * 1000,
    throttledPeriods: cpuStat.nr_throttled ?? null,
    throttledNs: cpuStat.throttled_usec !== undefined ? cpuStat.throttled_usec * 1000 : null,
    memoryBytes: (await readNumber(join(dir, 'memory.current'))) ?? Number.NaN,
    memoryPeakBytes: await readNumber(join(dir, 'memory.peak')),
    memoryRssBytes: memStat.anon ?? null,
    memoryLimitBytes: await readNumber(join(dir, 'memory.max')),
    cpuLimitCores,
    pidsCurrent: await readNumber(join(dir, 'pids.current')),
    pidsLimit: await readNumber(join(dir, 'pids.max')),
    memoryLimitHits: events.max ?? null,
  };
}

/** One `docker stats --no-stream` line of a container: what docker itself reports. */
export async function dockerStats(
  nameOrId: string,
): Promise<{ cpuPercent: string; memUsage: string; pids: string } | null> {
  const result = await run(
    'docker',
    ['stats', '--no-stream', '--format', '{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}', nameOrId],
    { allowFailure: true, timeoutMs: 15_000 },
  );
  const [cpuPercent, memUsage, pids] = result.stdout.trim().split('|');
  return result.code === 0 && memUsage ? { cpuPercent, memUsage, pids } : null;
}

/**
 * A tcpdump run's host parameters for one trial of a flood: the bench's target, its image, a
 * duration of the flood + 3 s and a deadline a minute past it; `extra` adds the trial's own.
 */
export function floodRunValues(
  target: BenchTarget,
  image: string,
  sessionId: string,
  floodSeconds: number,
  extra: HostParamValues,
): HostParamValues {
  return {
    action: 'run',
    sessionId,
    containerId: target.id,
    tool: 'tcpdump',
    durationSeconds: String(floodSeconds + 3),
    maxSessions: '99',
    image,
    expiresAt: String(Math.floor(Date.now() / 1000) + floodSeconds + 60),
    ...extra,
  };
}
