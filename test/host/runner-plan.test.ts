import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { NO_CONTAINER, renderPlan, type PlanLine } from '../../lib/domain/host-plan';
import { childSessionId } from '../../lib/domain/session';
import { HostSummarySchema, type HostSummary } from '../../lib/domain/host-summary';
import type { HostParamValues } from '../../lib/domain/params';
import { RunnerManifestSchema } from '../../lib/domain/runner-manifest';
import { runHostRunner, type HostRunnerResult } from '../../lib/host/local-runner';
import { ensureLocalToolboxImage } from '../../lib/sandbox/local-image';
import { startS3, type S3StandIn } from '../../lib/sandbox/s3';
import { requireDocker } from '../support/docker';
import {
  closedPort,
  docker,
  HostTestRun,
  nowSeconds,
  readPcap,
  sha256,
  startTarget,
  startTraffic,
  TEST_LABEL,
  toolboxRunning,
  waitFor,
  type Target,
} from './runner-fixtures';

/**
 * action=plan (and a session's action=reupload) on a real engine: this machine plays one host of
 * a session. Targets on a network of the test's own; the plan, the artifacts and the children's
 * manifests in s3rver on loopback, through presigned URLs as the control plane makes them.
 */

jest.setTimeout(120_000);

const INSTANCE = 'i-0123456789abcdef0';
const OTHER_INSTANCE = 'i-0fedcba987654321f';
const BUCKET = 'debug-task-plan-test';
const run = new HostTestRun('plan');
const { runId } = run;
const network = `debug-task-test-${runId}`;
let image: string;
let targets: Target[];
let home: string;
let s3: S3StandIn;
let client: S3Client;
let engineLog: EngineLog;

beforeAll(async () => {
  requireDocker(); // fails (never skips) without an engine
  ({ image } = await ensureLocalToolboxImage());
  await docker(['network', 'create', '--label', `${TEST_LABEL}=${runId}`, network]);
  targets = await Promise.all([0, 1, 2].map(() => startTarget(image, runId, network)));
  s3 = await startS3({ bucket: BUCKET });
  client = new S3Client({
    endpoint: s3.endpoint,
    forcePathStyle: true,
    region: 'xx-test-1',
    credentials: { accessKeyId: 'AKIATESTFAKE0000000', secretAccessKey: 'test-secret-not-real' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  home = await run.open();
  engineLog = await loggedEngine();
});

afterAll(async () => {
  client?.destroy();
  await s3?.stop();
  await run.close();
  await docker(['network', 'rm', network]).catch(() => undefined);
  await engineLog?.remove();
});

interface EngineLog {
  /** PATH for a runner whose docker calls are logged: a `docker` that writes its arguments, then runs the real one. */
  path: string;
  /** The arguments of each docker call logged so far, in the order they were made. */
  calls: () => string[];
  remove: () => Promise<void>;
}

/**
 * A `docker` in front of the real one (the real engine does everything) that logs each call's
 * arguments: what the runner asked of the engine, in order, without a clock.
 */
async function loggedEngine(): Promise<EngineLog> {
  const dir = await mkdtemp(join(tmpdir(), 'debug-task-engine-log-'));
  const realDocker = execFileSync('bash', ['-c', 'command -v docker'], { encoding: 'utf8' }).trim();
  const log = join(dir, 'calls');
  await writeFile(
    join(dir, 'docker'),
    `#!/bin/bash\nprintf '%s\\n' "$*" >>'${log}'\nexec '${realDocker}' "$@"\n`,
    { mode: 0o755 },
  );
  return {
    path: `${dir}:${process.env.PATH}`,
    calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trimEnd().split('\n') : []),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A new session id; its children's containers are removed with the run. */
function newSession(): string {
  const id = run.newSession();
  for (let i = 0; i < 10; i++) run.sessions.push(childSessionId(id, i));
  return id;
}

const presignPut = (key: string, contentType?: string) =>
  getSignedUrl(client, new PutObjectCommand({ Bucket: BUCKET, Key: key, ContentType: contentType }), {
    expiresIn: 900,
  });
const artifactKey = (child: string) => `sessions/${child}/artifact.gz`;
const manifestKey = (child: string) => `sessions/${child}/manifest.json`;

/** The plan in S3, and its presigned GET. */
async function publishPlan(sessionId: string, lines: PlanLine[], name = 'plan'): Promise<string> {
  const key = `sessions/${sessionId}/${name}/0.tsv`;
  await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: renderPlan(lines) }));
  return getSignedUrl(client, new GetObjectCommand({ Bucket: BUCKET, Key: key }), { expiresIn: 900 });
}

/** One line per target (the first `count`) for this instance, plus one for another instance. */
async function shareLines(sessionId: string, count: number): Promise<PlanLine[]> {
  const lines = await Promise.all(
    targets.slice(0, count).map(async (target, index) => {
      const child = childSessionId(sessionId, index);
      return {
        instanceId: INSTANCE,
        childSessionId: child,
        containerId: target.id,
        artifactUrl: await presignPut(artifactKey(child)),
        manifestUrl: await presignPut(manifestKey(child), 'application/json'),
      };
    }),
  );
  // Another host's line (its container is not here): must be ignored, not run.
  lines.splice(1, 0, {
    instanceId: OTHER_INSTANCE,
    childSessionId: childSessionId(sessionId, 9),
    containerId: 'feedface0123456789ab',
    artifactUrl: await presignPut('other/artifact.gz'),
    manifestUrl: await presignPut('other/manifest.json', 'application/json'),
  });
  return lines;
}

function planValues(sessionId: string, planUrl: string, overrides: HostParamValues = {}): HostParamValues {
  const startAt = overrides.startAt ?? String(nowSeconds() + 4);
  const duration = overrides.durationSeconds ?? '2';
  return {
    action: 'plan',
    sessionId,
    planUrl,
    startAt,
    tool: 'tcpdump',
    durationSeconds: duration,
    maxBytes: '5000000',
    image,
    maxSessions: '99',
    expiresAt: String(Number(startAt || nowSeconds()) + Number(duration) + 30),
    caller: 'arn:aws:sts::123456789012:assumed-role/oncall/alice',
    reason: 'plan test',
    executionTimeout: '120',
    ...overrides,
  };
}

async function runPlan(
  values: HostParamValues,
  opts: { signal?: AbortSignal; env?: Record<string, string> } = {},
): Promise<HostRunnerResult & { summary: HostSummary }> {
  const result = await runHostRunner(values, {
    home,
    signal: opts.signal,
    env: { AWS_SSM_INSTANCE_ID: INSTANCE, DEBUG_TASK_UPLOAD_TRIES: '2', ...opts.env },
  });
  const summary = HostSummarySchema.parse(JSON.parse(result.stdout.trimEnd().split('\n').pop()!));
  return { ...result, summary };
}

async function object(key: string): Promise<{ body: Buffer; contentType?: string } | undefined> {
  try {
    const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return { body: Buffer.from(await got.Body!.transformToByteArray()), contentType: got.ContentType };
  } catch {
    return undefined;
  }
}

async function manifestOf(child: string) {
  const found = await object(manifestKey(child));
  if (!found) return undefined;
  const raw = JSON.parse(found.body.toString()) as { action?: string };
  // The schema keeps what a verdict reads; `action` (cleanup, reupload) is read from the raw object.
  return { ...RunnerManifestSchema.parse(raw), action: raw.action, contentType: found.contentType };
}

/** Containers and work dirs of a session and its children left on this "host". */
async function leftovers(sessionId: string) {
  const all = await docker([
    'ps',
    '-a',
    '--filter',
    'label=debug-task.session',
    '--format',
    '{{.Label "debug-task.session"}}',
  ]);
  const containers = all.split('\n').filter((s) => s === sessionId || s.startsWith(`${sessionId}-`));
  const dirs = (await readdir(home)).filter((d) => d === sessionId || d.startsWith(`${sessionId}-`));
  return { containers, dirs };
}

describe('host runner: a plan share on a real engine', () => {
  it('runs one child per line of this instance, all at startAt; each artifact and its manifest land in S3', async () => {
    const sessionId = newSession();
    const planUrl = await publishPlan(sessionId, await shareLines(sessionId, 3));
    const traffic = targets.map((t) => startTraffic(t.address, { pauseMs: 200, maxRequests: 200 }));
    const values = planValues(sessionId, planUrl);

    const result = await runPlan(values, { env: { PATH: engineLog.path } });
    await Promise.all(traffic.map((t) => t.stop()));

    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    expect(result.summary).toEqual({
      v: 2,
      action: 'plan',
      sessionId,
      instanceId: INSTANCE,
      status: 'OK',
      children: 3,
      counts: { OK: 3 },
      unreported: [],
      // Where the plan's children work, for the messages of those that leave nothing (host-summary.ts).
      workRoot: expect.any(String),
      timings: { startedAt: expect.any(Number), endedAt: expect.any(Number) },
    });
    const startAtMs = Number(values.startAt) * 1000;
    for (const i of [0, 1, 2]) {
      const child = childSessionId(sessionId, i);
      const manifest = (await manifestOf(child))!;
      expect(manifest).toMatchObject({
        v: 1,
        sessionId: child,
        status: 'OK',
        instanceId: INSTANCE,
        tool: { name: 'tcpdump', exitCode: 0 },
        artifact: { format: 'pcap', uploaded: true, truncated: false },
        audit: { caller: values.caller, reason: values.reason },
        contentType: 'application/json',
      });
      // The manifest in S3 is the one written before it was put: it cannot say it was put.
      expect(manifest.manifestUploaded).toBeUndefined();
      const artifact = (await object(artifactKey(child)))!;
      expect(sha256(artifact.body)).toBe(manifest.artifact!.objectSha256);
      const file = join(home, `${child}.pcap`);
      await writeFile(file, gunzipSync(artifact.body));
      expect(readPcap(file)).toMatchObject({ clean: true });
      await rm(file);
      expect(manifest.timings.captureStartedAt!).toBeGreaterThanOrEqual(startAtMs);
    }
    // The three started together: every child counted the host's sessions and claimed its slot
    // before the wait, so no count runs between the starts (told by the order of the engine's calls,
    // not by a wall-clock gap a loaded machine stretches).
    const calls = engineLog.calls();
    const toolboxStarts = calls.flatMap((args, i) =>
      args.startsWith('run -d --pull never --name') ? [i] : [],
    );
    expect(toolboxStarts).toHaveLength(3);
    const lastCount = calls.findLastIndex((args) => args.startsWith('ps --filter label=debug-task.session '));
    expect(lastCount).toBeGreaterThan(-1);
    expect(lastCount).toBeLessThan(toolboxStarts[0]);
    expect(await object('other/manifest.json')).toBeUndefined();
    expect(result.stderr).not.toContain('feedface0123456789ab');
    expect(result.stderr).not.toContain('Signature');
    expect(await leftovers(sessionId)).toEqual({ containers: [], dirs: [] });
  });

  it('runs a plan of one (a single task’s session): child -0000, its artifact and manifest in S3', async () => {
    const sessionId = newSession();
    const [line] = (await shareLines(sessionId, 1)).filter((l) => l.instanceId === INSTANCE);
    const planUrl = await publishPlan(sessionId, [line]);

    const result = await runPlan(planValues(sessionId, planUrl, { tool: 'snapshot', startAt: '' }));

    expect(result.exitCode).toBe(0);
    expect(result.summary).toMatchObject({ status: 'OK', children: 1, counts: { OK: 1 }, unreported: [] });
    const child = `${sessionId}-0000`;
    expect(await manifestOf(child)).toMatchObject({
      sessionId: child,
      status: 'OK',
      artifact: { format: 'text' },
    });
    expect(gunzipSync((await object(artifactKey(child)))!.body).toString()).toContain('=== ');
    expect(await leftovers(sessionId)).toEqual({ containers: [], dirs: [] });
  });

  it('lists a child whose manifest cannot be put in unreported, its artifact in S3 all the same', async () => {
    const sessionId = newSession();
    const lines = (await shareLines(sessionId, 2)).filter((l) => l.instanceId === INSTANCE);
    lines[1] = {
      ...lines[1],
      manifestUrl: `http://127.0.0.1:${await closedPort()}/bucket/m.json?X-Amz-Signature=x`,
    };
    const planUrl = await publishPlan(sessionId, lines);

    const result = await runPlan(planValues(sessionId, planUrl, { tool: 'snapshot', startAt: '' }));

    expect(result.exitCode).toBe(0);
    expect(result.summary).toMatchObject({
      status: 'OK',
      children: 2,
      counts: { OK: 2 },
      unreported: [{ sessionId: childSessionId(sessionId, 1), status: 'OK', code: null }],
    });
    expect(await manifestOf(childSessionId(sessionId, 0))).toMatchObject({ status: 'OK' });
    expect(await manifestOf(childSessionId(sessionId, 1))).toBeUndefined();
    expect(await object(artifactKey(childSessionId(sessionId, 1)))).toBeDefined();
    expect(await leftovers(sessionId)).toEqual({ containers: [], dirs: [] });
  });

  it('keeps an artifact whose upload failed with its manifest beside it; a re-upload plan puts both', async () => {
    const sessionId = newSession();
    const lines = (await shareLines(sessionId, 2)).filter((l) => l.instanceId === INSTANCE);
    const planUrl = await publishPlan(sessionId, lines);
    s3.refuseUploads(true);
    let failed;
    try {
      failed = await runPlan(planValues(sessionId, planUrl, { tool: 'snapshot', startAt: '' }));
    } finally {
      s3.refuseUploads(false);
    }
    // Both uploads failed (artifact and manifest): only the summary tells.
    expect(failed.summary).toMatchObject({
      status: 'OK',
      counts: { UPLOAD_FAILED: 2 },
      unreported: [0, 1].map((i) => ({
        sessionId: childSessionId(sessionId, i),
        status: 'UPLOAD_FAILED',
        code: 'UPLOAD_FAILED',
      })),
    });
    const kept = join(home, childSessionId(sessionId, 0));
    expect((await readdir(kept)).sort()).toEqual([
      'artifact.facts',
      'artifact.txt.gz',
      'keep-until',
      'manifest.json',
    ]);

    // The re-upload plan: the first child only (the second stays kept), and a child never kept.
    const reuploadLines: PlanLine[] = await Promise.all(
      [0, 5].map(async (i) => {
        const child = childSessionId(sessionId, i);
        return {
          instanceId: INSTANCE,
          childSessionId: child,
          containerId: NO_CONTAINER,
          artifactUrl: await presignPut(artifactKey(child)),
          manifestUrl: await presignPut(manifestKey(child), 'application/json'),
        };
      }),
    );
    const reuploadUrl = await publishPlan(sessionId, reuploadLines, 'reupload');
    const reupload = await runPlan({
      action: 'reupload',
      sessionId,
      planUrl: reuploadUrl,
      executionTimeout: '600',
    });

    expect(reupload.exitCode).toBe(0);
    expect(reupload.summary).toMatchObject({
      action: 'reupload',
      status: 'OK',
      children: 2,
      counts: { OK: 1, FAILED: 1 },
      unreported: [
        { sessionId: childSessionId(sessionId, 5), status: 'FAILED', code: 'ARTIFACT_NOT_ON_HOST' },
      ],
    });
    const manifest = (await manifestOf(childSessionId(sessionId, 0)))!;
    expect(manifest).toMatchObject({ action: 'reupload', status: 'OK', artifact: { uploaded: true } });
    const artifact = (await object(artifactKey(childSessionId(sessionId, 0))))!;
    expect(sha256(artifact.body)).toBe(manifest.artifact!.objectSha256);
    expect(await leftovers(sessionId)).toEqual({ containers: [], dirs: [childSessionId(sessionId, 1)] });
    await runHostRunner({ action: 'cleanup', sessionId }, { home, env: { DEBUG_TASK_KEEP_SECONDS: '0' } });
  });

  it('refuses the whole share for one bad line, starting nothing', async () => {
    const sessionId = newSession();
    const lines = await shareLines(sessionId, 3);
    lines[2] = { ...lines[2], containerId: 'not-a-docker-id' };
    const planUrl = await publishPlan(sessionId, lines);

    const result = await runPlan(planValues(sessionId, planUrl));

    expect(result.exitCode).toBe(2);
    expect(result.summary).toMatchObject({
      action: 'plan',
      status: 'FAILED',
      error: { code: 'INVALID_ARGUMENT' },
      children: 0,
      unreported: [],
    });
    expect(result.summary.error!.message).toMatch(
      /^Line 4 of the plan: "not-a-docker-id" is not a container id/,
    );
    expect(await leftovers(sessionId)).toEqual({ containers: [], dirs: [] });
  });

  it('refuses an unreadable plan and a run without AWS_SSM_INSTANCE_ID', async () => {
    const sessionId = newSession();
    const missing = await runPlan(
      planValues(
        sessionId,
        await getSignedUrl(client, new GetObjectCommand({ Bucket: BUCKET, Key: 'none/such.tsv' })),
      ),
    );
    const noInstance = await runPlan(
      planValues(sessionId, await publishPlan(sessionId, await shareLines(sessionId, 1))),
      {
        env: { AWS_SSM_INSTANCE_ID: '' },
      },
    );

    expect(missing.exitCode).toBe(2);
    expect(missing.summary).toMatchObject({
      status: 'FAILED',
      error: { code: 'INVALID_ARGUMENT' },
      children: 0,
    });
    expect(missing.summary.error!.message).toMatch(
      /^The plan could not be read from http:\/\/127\.0\.0\.1:\d+\/debug-task-plan-test\/none\/such\.tsv: .*404/,
    );
    expect(missing.stdout + missing.stderr).not.toContain('X-Amz-Signature');
    expect(noInstance.summary).toMatchObject({
      status: 'FAILED',
      instanceId: '',
      error: { code: 'INVALID_ARGUMENT' },
    });
    expect(noInstance.summary.error!.message).toContain('AWS_SSM_INSTANCE_ID "" is not an instance id');
    expect(await leftovers(sessionId)).toEqual({ containers: [], dirs: [] });
  });

  it('cleanup with the session id mid-capture stops the plan and removes every child; their manifests say CANCELLED', async () => {
    const sessionId = newSession();
    const planUrl = await publishPlan(sessionId, await shareLines(sessionId, 3));
    const running = runPlan(
      planValues(sessionId, planUrl, { startAt: String(nowSeconds() + 1), durationSeconds: '30' }),
    );
    for (const i of [0, 1, 2]) {
      await waitFor('a child capture', () => toolboxRunning(childSessionId(sessionId, i)), 30_000);
    }

    const cleanup = await runHostRunner({ action: 'cleanup', sessionId }, { home });
    const result = await running;

    expect(cleanup.exitCode).toBe(0);
    // A cleanup's line is not a capture manifest: read it whole.
    expect(JSON.parse(cleanup.stdout.trim().split('\n').pop()!)).toMatchObject({
      status: 'OK',
      action: 'cleanup',
      cleanup: { runnersStopped: 1 },
    });
    expect(result.exitCode).toBe(130);
    expect(result.summary).toMatchObject({
      status: 'FAILED',
      error: { code: 'CANCELLED' },
      children: 3,
      counts: { FAILED: 3 },
      unreported: [],
    });
    for (const i of [0, 1, 2]) {
      expect(await manifestOf(childSessionId(sessionId, i))).toMatchObject({ error: { code: 'CANCELLED' } });
    }
    expect(await leftovers(sessionId)).toEqual({ containers: [], dirs: [] });
  });

  it('a cleanup that reached the host before the plan: the plan then starts nothing and says CANCELLED', async () => {
    // The two commands reach a host together when a session is cancelled as it starts; the cleanup
    // found no runner to stop, so its mark is what stops the capture from running on unseen.
    const sessionId = newSession();
    const planUrl = await publishPlan(sessionId, await shareLines(sessionId, 2));
    const values = planValues(sessionId, planUrl, { startAt: String(nowSeconds() + 1) });

    const cleanup = await runHostRunner(
      { action: 'cleanup', sessionId, expiresAt: values.expiresAt },
      { home },
    );
    const result = await runPlan(values);

    expect(cleanup.exitCode).toBe(0);
    expect(result.exitCode).toBe(130);
    expect(result.summary).toMatchObject({ status: 'FAILED', error: { code: 'CANCELLED' }, children: 0 });
    expect(result.summary.error!.message).toContain(`Session ${sessionId} was cleaned up on this host`);
    expect(await leftovers(sessionId)).toEqual({ containers: [], dirs: [] });
    expect(await manifestOf(childSessionId(sessionId, 0))).toBeUndefined();
    // A child run on its own (debug-task local, a re-sent line) refuses the same way.
    const child = await runHostRunner(
      {
        action: 'run',
        sessionId: childSessionId(sessionId, 0),
        containerId: targets[0].id,
        tool: 'tcpdump',
        durationSeconds: '2',
        maxBytes: '5000000',
        image,
        expiresAt: values.expiresAt,
      },
      { home },
    );
    expect(child.exitCode).toBe(130);
    expect(child.stdout).toContain('"code":"CANCELLED"');
    expect(await leftovers(sessionId)).toEqual({ containers: [], dirs: [] });
  });

  it('leaves nothing when the plan runner gets SIGTERM mid-capture', async () => {
    const sessionId = newSession();
    const planUrl = await publishPlan(sessionId, await shareLines(sessionId, 2));
    const abort = new AbortController();
    const running = runPlan(
      planValues(sessionId, planUrl, { startAt: String(nowSeconds() + 1), durationSeconds: '30' }),
      {
        signal: abort.signal,
      },
    );
    for (const i of [0, 1]) {
      await waitFor('a child capture', () => toolboxRunning(childSessionId(sessionId, i)), 30_000);
    }

    abort.abort();
    const result = await running;

    expect(result.exitCode).toBe(130);
    expect(result.summary).toMatchObject({
      status: 'FAILED',
      error: { code: 'CANCELLED' },
      children: 2,
      counts: { FAILED: 2 },
    });
    expect(await leftovers(sessionId)).toEqual({ containers: [], dirs: [] });
    expect(
      await client.send(
        new HeadObjectCommand({ Bucket: BUCKET, Key: manifestKey(childSessionId(sessionId, 0)) }),
      ),
    ).toBeDefined();
  });
});
