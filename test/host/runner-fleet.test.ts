import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { childSessionId, renderPlan, type FleetHostManifest, type PlanLine } from '../../lib/domain/fleet';
import type { HostParamValues } from '../../lib/domain/params';
import type { RunnerManifest } from '../../lib/domain/session';
import { runHostRunner, type HostRunnerResult } from '../../lib/host/local-runner';
import { ensureSandboxImages } from '../../lib/sandbox/sandbox-images';
import { requireDocker } from '../support/docker';
import {
  containersLabelled,
  docker,
  nowSeconds,
  readPcap,
  sha256,
  startTarget,
  startTraffic,
  TEST_LABEL,
  toolboxRunning,
  uniqueSessionId,
  waitFor,
  type Target,
} from './runner-fixtures';

/**
 * action=fleet on a real engine: this machine plays one host of a service-wide session. Three
 * targets on a network of the test's own, a plan served over loopback HTTP (with a line for another
 * instance), artifacts PUT to the same server.
 */

jest.setTimeout(120_000);

const INSTANCE = 'i-0123456789abcdef0';
const OTHER_INSTANCE = 'i-0fedcba987654321f';
const runId = `fleet-${process.pid}-${Date.now().toString(36)}`;
const network = `debug-task-test-${runId}`;
const fleets: string[] = [];
let image: string;
/** The image of the target containers (busybox httpd); the toolbox image itself where that has busybox. */
let targetImage: string;
let targets: Target[];
let home: string;
let server: Server;
let base: string;
const plans = new Map<string, string>();
const uploads = new Map<string, Buffer>();

function newFleet(): string {
  const id = uniqueSessionId();
  fleets.push(id);
  return id;
}

/** Serves GET /plan/<name> from `plans` and takes PUT /bucket/<key> into `uploads`. */
async function startPlanServer(): Promise<void> {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (req.method === 'GET' && path.startsWith('/plan/')) {
        const plan = plans.get(path.slice('/plan/'.length));
        if (plan === undefined) res.writeHead(403).end('<Error><Code>AccessDenied</Code></Error>');
        else res.writeHead(200, { 'content-type': 'text/tab-separated-values' }).end(plan);
      } else if (req.method === 'PUT' && path.startsWith('/bucket/')) {
        uploads.set(path.slice('/bucket/'.length), Buffer.concat(chunks));
        res.writeHead(200, { ETag: '"test"' }).end();
      } else {
        res.writeHead(405).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A plan: one line per target for this instance, plus one for another instance. Returns its URL. */
function publishPlan(fleetId: string, lines: PlanLine[]): string {
  plans.set(fleetId, renderPlan(lines));
  return `${base}/plan/${fleetId}?X-Amz-Signature=planSecret&X-Amz-Expires=900`;
}

function shareLines(fleetId: string, count = targets.length): PlanLine[] {
  const lines = targets.slice(0, count).map((target, index) => {
    const child = childSessionId(fleetId, index);
    return {
      instanceId: INSTANCE,
      childSessionId: child,
      containerId: target.id,
      uploadUrl: `${base}/bucket/${child}.pcap.gz?X-Amz-Signature=childSecret`,
    };
  });
  // Another host's line (its container is not here): must be ignored, not run.
  lines.splice(1, 0, {
    instanceId: OTHER_INSTANCE,
    childSessionId: childSessionId(fleetId, 9),
    containerId: 'feedface0123456789ab',
    uploadUrl: `${base}/bucket/other.pcap.gz?X-Amz-Signature=x`,
  });
  return lines;
}

function fleetValues(fleetId: string, planUrl: string, overrides: HostParamValues = {}): HostParamValues {
  const startAt = overrides.startAt ?? String(nowSeconds() + 4);
  const duration = overrides.durationSeconds ?? '2';
  return {
    action: 'fleet',
    sessionId: fleetId,
    planUrl,
    startAt,
    tool: 'tcpdump',
    durationSeconds: duration,
    maxBytes: '5000000',
    image,
    maxSessions: '99',
    expiresAt: String(Number(startAt || nowSeconds()) + Number(duration) + 30),
    caller: 'arn:aws:sts::123456789012:assumed-role/oncall/alice',
    reason: 'fleet test',
    executionTimeout: '120',
    ...overrides,
  };
}

async function runFleet(
  values: HostParamValues,
  opts: { signal?: AbortSignal; env?: Record<string, string> } = {},
): Promise<HostRunnerResult & { fleet: FleetHostManifest }> {
  const result = await runHostRunner(values, {
    home,
    signal: opts.signal,
    env: { AWS_SSM_INSTANCE_ID: INSTANCE, DEBUG_TASK_UPLOAD_TRIES: '2', ...opts.env },
  });
  return { ...result, fleet: result.manifest as unknown as FleetHostManifest };
}

/** Containers and work dirs of a fleet and its children left on this "host". */
async function leftovers(fleetId: string) {
  const all = await docker([
    'ps',
    '-a',
    '--filter',
    'label=debug-task.session',
    '--format',
    '{{.Label "debug-task.session"}}',
  ]);
  const containers = all.split('\n').filter((s) => s === fleetId || s.startsWith(`${fleetId}-`));
  const dirs = (await readdir(home)).filter((d) => d === fleetId || d.startsWith(`${fleetId}-`));
  return { containers, dirs };
}

/** Other sessions on the shared engine (other test files): they count against maxSessions too. */
async function foreignSessions(fleetId: string): Promise<string[]> {
  const all = await docker([
    'ps',
    '--filter',
    'label=debug-task.session',
    '--format',
    '{{.Label "debug-task.session"}}',
  ]);
  return all.split('\n').filter((s) => s && !s.startsWith(fleetId));
}

beforeAll(async () => {
  requireDocker(); // fails (never skips) without an engine, in CI and out of it
  ({ toolbox: image, target: targetImage } = await ensureSandboxImages());
  await docker(['network', 'create', '--label', `${TEST_LABEL}=${runId}`, network]);
  targets = await Promise.all([0, 1, 2].map(() => startTarget(targetImage, runId, network)));
  await startPlanServer();
  home = await mkdtemp(join(tmpdir(), 'debug-task-fleet-test-'));
});

afterAll(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  const ids = [
    ...(await containersLabelled(`${TEST_LABEL}=${runId}`)),
    ...(
      await Promise.all(
        fleets.map(async (fleet) =>
          (await docker(['ps', '-a', '--format', '{{.ID}} {{.Label "debug-task.session"}}']))
            .split('\n')
            .filter((line) => line.split(' ')[1]?.startsWith(fleet))
            .map((line) => line.split(' ')[0]),
        ),
      )
    ).flat(),
  ];
  if (ids.length > 0) await docker(['rm', '-f', ...ids]).catch(() => undefined);
  await docker(['network', 'rm', network]).catch(() => undefined);
  if (home) await rm(home, { recursive: true, force: true });
});

describe('host runner: a fleet share on a real engine', () => {
  it('runs one child per line of this instance, all starting at startAt, each uploading a pcap', async () => {
    const fleetId = newFleet();
    const planUrl = publishPlan(fleetId, shareLines(fleetId));
    const traffic = targets.map((t) => startTraffic(t.address, { pauseMs: 200, maxRequests: 200 }));
    const values = fleetValues(fleetId, planUrl);

    const started = Date.now();
    const result = await runFleet(values);
    const elapsedMs = Date.now() - started;
    await Promise.all(traffic.map((t) => t.stop()));

    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    const fleet = result.fleet;
    expect(fleet).toMatchObject({
      v: 1,
      action: 'fleet',
      sessionId: fleetId,
      instanceId: INSTANCE,
      status: 'OK',
    });
    expect(fleet.error).toBeUndefined();
    expect(fleet.children.map((c) => c.sessionId)).toEqual([0, 1, 2].map((i) => childSessionId(fleetId, i)));
    expect(fleet.timings.startedAt).toBeLessThanOrEqual(fleet.timings.endedAt);
    const startAtMs = Number(values.startAt) * 1000;
    for (const child of fleet.children) {
      expect(child).toMatchObject({
        v: 1,
        status: 'OK',
        tool: { name: 'tcpdump', exitCode: 0 },
        artifact: { format: 'pcap', uploaded: true, truncated: false },
      });
      expect(child.audit).toBeUndefined(); // compact: the fleet's audit is the control plane's
      expect(child.timings.captureStartedAt!).toBeGreaterThanOrEqual(startAtMs);
      expect(child.timings.captureEndedAt! - child.timings.captureStartedAt!).toBeGreaterThanOrEqual(1500);
      const object = uploads.get(`${child.sessionId}.pcap.gz`)!;
      expect(object).toBeDefined();
      expect(sha256(object)).toBe(child.artifact!.objectSha256);
      const file = join(home, `${child.sessionId}.pcap`);
      await writeFile(file, gunzipSync(object));
      expect(readPcap(file)).toMatchObject({ clean: true });
      await rm(file);
    }
    // The three started together: the slot was claimed before the wait, the start needs no lock.
    const starts = fleet.children.map((c) => c.timings.captureStartedAt!);
    expect(Math.max(...starts) - Math.min(...starts)).toBeLessThan(1000);
    expect(Math.min(...starts) - startAtMs).toBeLessThan(1500);
    expect(uploads.has('other.pcap.gz')).toBe(false);
    expect(result.stderr).not.toContain('feedface0123456789ab');
    expect(result.stderr).not.toContain('Signature');
    expect(await leftovers(fleetId)).toEqual({ containers: [], dirs: [] });
    expect(elapsedMs).toBeLessThan(20_000);
  });

  it('refuses exactly one child with HOST_BUSY when the share is 3 and maxSessions 2', async () => {
    const fleetId = newFleet();
    const planUrl = publishPlan(fleetId, shareLines(fleetId));
    const before = await foreignSessions(fleetId);

    const result = await runFleet(fleetValues(fleetId, planUrl, { maxSessions: '2' }));
    const after = await foreignSessions(fleetId);

    expect(result.exitCode).toBe(0);
    const statuses = result.fleet.children.map((c) => c.error?.code ?? c.status);
    expect(statuses).toHaveLength(3);
    expect(statuses.filter((s) => s === 'OK').length).toBeLessThanOrEqual(2);
    if (before.length === 0 && after.length === 0) {
      // Nobody else's session on the shared engine: the count is exactly ours.
      expect(statuses.filter((s) => s === 'HOST_BUSY')).toHaveLength(1);
      expect(statuses.filter((s) => s === 'OK')).toHaveLength(2);
    } else {
      expect(statuses.filter((s) => s === 'HOST_BUSY').length).toBeGreaterThanOrEqual(1);
    }
    const busy = result.fleet.children.find((c) => c.error?.code === 'HOST_BUSY')!;
    expect(busy.error!.message).toMatch(/its maximum is 2/);
    expect(await leftovers(fleetId)).toEqual({ containers: [], dirs: [] });
  });

  it('refuses the whole share for one bad line, starting nothing', async () => {
    const fleetId = newFleet();
    const lines = shareLines(fleetId);
    lines[2] = { ...lines[2], containerId: 'not-a-docker-id' };
    const planUrl = publishPlan(fleetId, lines);

    const result = await runFleet(fleetValues(fleetId, planUrl));

    expect(result.exitCode).toBe(2);
    expect(result.fleet).toMatchObject({
      action: 'fleet',
      status: 'FAILED',
      error: { code: 'INVALID_ARGUMENT' },
      children: [],
    });
    expect(result.fleet.error!.message).toMatch(
      /^Line 4 of the fleet plan: "not-a-docker-id" is not a container id/,
    );
    expect(await leftovers(fleetId)).toEqual({ containers: [], dirs: [] });
  });

  it('refuses a child id that is not the fleet’s, an unreadable plan, and a run without AWS_SSM_INSTANCE_ID', async () => {
    const fleetId = newFleet();
    const foreign = shareLines(fleetId);
    foreign[0] = { ...foreign[0], childSessionId: `${uniqueSessionId()}-0000` };
    const badChild = await runFleet(fleetValues(fleetId, publishPlan(fleetId, foreign)));
    const missing = await runFleet(fleetValues(fleetId, `${base}/plan/none-such?X-Amz-Signature=planSecret`));
    const noInstance = await runFleet(fleetValues(fleetId, publishPlan(fleetId, shareLines(fleetId))), {
      env: { AWS_SSM_INSTANCE_ID: '' },
    });

    expect(badChild.fleet.error!.message).toMatch(/is not a new child id dt-/);
    expect(missing.exitCode).toBe(2);
    expect(missing.fleet).toMatchObject({
      status: 'FAILED',
      error: { code: 'INVALID_ARGUMENT' },
      children: [],
    });
    expect(missing.fleet.error!.message).toMatch(
      /^The fleet plan could not be read from http:\/\/127\.0\.0\.1:\d+\/plan\/none-such: .*403.* \(an expired or wrong URL\?\)$/,
    );
    expect(missing.stdout + missing.stderr).not.toContain('planSecret');
    expect(noInstance.fleet).toMatchObject({
      status: 'FAILED',
      instanceId: '',
      error: { code: 'INVALID_ARGUMENT' },
    });
    expect(noInstance.fleet.error!.message).toContain('AWS_SSM_INSTANCE_ID "" is not an instance id');
    expect(await leftovers(fleetId)).toEqual({ containers: [], dirs: [] });
  });

  it('runs an empty share (no line for this instance) as OK with no children', async () => {
    const fleetId = newFleet();
    const planUrl = publishPlan(
      fleetId,
      shareLines(fleetId).filter((l) => l.instanceId !== INSTANCE),
    );

    const result = await runFleet(fleetValues(fleetId, planUrl, { startAt: '' }));

    expect(result.exitCode).toBe(0);
    expect(result.fleet).toMatchObject({ status: 'OK', children: [] });
    expect(await leftovers(fleetId)).toEqual({ containers: [], dirs: [] });
  });

  it('cleanup with the fleet id mid-capture stops the fleet and removes every child', async () => {
    const fleetId = newFleet();
    const planUrl = publishPlan(fleetId, shareLines(fleetId));
    const running = runFleet(
      fleetValues(fleetId, planUrl, { startAt: String(nowSeconds() + 1), durationSeconds: '30' }),
    );
    for (const i of [0, 1, 2]) {
      await waitFor('a child capture', () => toolboxRunning(childSessionId(fleetId, i)), 20_000);
    }

    const started = Date.now();
    const cleanup = await runHostRunner({ action: 'cleanup', sessionId: fleetId }, { home });
    const cleanupMs = Date.now() - started;
    const result = await running;

    expect(cleanup.exitCode).toBe(0);
    expect(cleanup.manifest).toMatchObject({
      status: 'OK',
      action: 'cleanup',
      cleanup: { runnersStopped: 1 },
    });
    expect(cleanupMs).toBeLessThan(15_000);
    expect(result.exitCode).toBe(130);
    expect(result.fleet).toMatchObject({ status: 'FAILED', error: { code: 'CANCELLED' } });
    expect(result.fleet.children.map((c: RunnerManifest) => c.error?.code)).toEqual([
      'CANCELLED',
      'CANCELLED',
      'CANCELLED',
    ]);
    expect(await leftovers(fleetId)).toEqual({ containers: [], dirs: [] });
  });

  it('leaves nothing when the fleet runner gets SIGTERM mid-capture', async () => {
    const fleetId = newFleet();
    const planUrl = publishPlan(fleetId, shareLines(fleetId, 2));
    const abort = new AbortController();
    const running = runFleet(
      fleetValues(fleetId, planUrl, { startAt: String(nowSeconds() + 1), durationSeconds: '30' }),
      { signal: abort.signal },
    );
    for (const i of [0, 1]) {
      await waitFor('a child capture', () => toolboxRunning(childSessionId(fleetId, i)), 20_000);
    }

    abort.abort();
    const result = await running;

    expect(result.exitCode).toBe(130);
    expect(result.fleet.children).toHaveLength(2);
    expect(result.fleet.children.every((c) => c.error?.code === 'CANCELLED')).toBe(true);
    expect(await leftovers(fleetId)).toEqual({ containers: [], dirs: [] });
    expect(existsSync(join(home, fleetId))).toBe(false);
  });
});
