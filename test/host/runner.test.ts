import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseManifest, runHostRunner, runnerEnv } from '../../lib/host/local-runner';
import { buildRunnerScript } from '../../lib/host/runner-script';
import { ensureSandboxImages } from '../../lib/sandbox/sandbox-images';
import { requireDocker } from '../support/docker';
import {
  closedPort,
  containersLabelled,
  docker,
  nowSeconds,
  readPcap,
  runValues,
  sessionContainersGone,
  sha256,
  startTarget,
  startTraffic,
  startUploadReceiver,
  toolboxRunning,
  waitFor,
  type Target,
  type UploadReceiver,
  HostTestRun,
} from './runner-fixtures';

/**
 * The host runner against the real Docker engine, with the toolbox image built from this
 * machine's binaries. Each test runs the built script exactly as SSM would (bash, SSM_* env).
 */

jest.setTimeout(90_000);

const run = new HostTestRun('run');
const { runId, newSession, leftovers } = run;
let image: string;
/** The image of the target containers (busybox httpd); the toolbox image itself where that has busybox. */
let targetImage: string;
let target: Target;
let receiver: UploadReceiver;
let home: string;

function values(sessionId: string, overrides: Parameters<typeof runValues>[1] = {}) {
  return runValues({ sessionId, containerId: target.id, image }, overrides);
}

beforeAll(async () => {
  requireDocker(); // fails (never skips) without an engine, in CI and out of it
  ({ toolbox: image, target: targetImage } = await ensureSandboxImages());
  target = await startTarget(targetImage, runId);
  receiver = await startUploadReceiver();
  home = await run.open();
});

afterAll(async () => {
  await receiver?.close();
  await run.close();
});

describe('host runner on a real engine', () => {
  it('reuses the sandbox toolbox image, which carries the tools the runner starts', async () => {
    const again = await ensureSandboxImages();

    expect(again).toMatchObject({ toolbox: image, built: false });
    expect(again.tools).toEqual(expect.arrayContaining(['tcpdump', 'ngrep', 'strace']));
  });

  it('captures HTTP with tcpdump, uploads a verified gzip and leaves nothing behind', async () => {
    const sessionId = newSession();
    const key = `sessions/${sessionId}/artifact.pcap.gz`;
    const traffic = startTraffic(target.address, { pauseMs: 150 });

    const started = Date.now();
    const result = await runHostRunner(
      values(sessionId, { durationSeconds: '3', filter: 'tcp port 80', uploadUrl: receiver.url(key) }),
      { home },
    );
    const elapsedMs = Date.now() - started;
    await traffic.stop();

    expect(result.exitCode).toBe(0);
    const manifest = result.manifest!;
    expect(manifest).toMatchObject({
      v: 1,
      sessionId,
      status: 'OK',
      tool: { name: 'tcpdump', exitCode: 0, dropped: 0 },
      artifact: { format: 'pcap', compression: 'gzip', linkType: 'EN10MB', truncated: false, uploaded: true },
    });
    expect(manifest.error).toBeUndefined();
    expect(manifest.artifact!.hostPath).toBeUndefined();
    expect(manifest.tool.packets).toBeGreaterThan(0);
    // The object is what was received, and it unpacks to the artifact the manifest describes.
    const object = receiver.uploads.get(`/bucket/${key}`)!;
    expect(object).toBeDefined();
    expect(object.length).toBe(manifest.artifact!.objectBytes);
    expect(sha256(object)).toBe(manifest.artifact!.objectSha256);
    const pcap = gunzipSync(object);
    expect(pcap.length).toBe(manifest.artifact!.bytes);
    expect(sha256(pcap)).toBe(manifest.artifact!.sha256);
    // A clean pcap of the HTTP exchange.
    const file = join(home, `${sessionId}.pcap`);
    await writeFile(file, pcap);
    const read = readPcap(file, ['-A']);
    expect(read.clean).toBe(true);
    expect(read.text).toContain('GET / HTTP/1.1');
    expect(read.text).toContain('HTTP/1.1 200 OK');
    expect(
      read.text
        .trim()
        .split('\n')
        .filter((line) => /^\d\d:\d\d:/.test(line)),
    ).toHaveLength(manifest.tool.packets!);
    // On time, and everything gone.
    const { startedAt, captureStartedAt, captureEndedAt, endedAt } = manifest.timings;
    expect(captureEndedAt! - captureStartedAt!).toBeGreaterThanOrEqual(2500);
    expect(captureEndedAt! - captureStartedAt!).toBeLessThan(3000 + 5000);
    expect(startedAt).toBeLessThanOrEqual(captureStartedAt!);
    expect(endedAt).toBeGreaterThanOrEqual(captureEndedAt!);
    expect(elapsedMs).toBeLessThan(15_000);
    expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('labels the running toolbox with its session, expiry, tool, caller and reason, and echoes them in the manifest', async () => {
    const sessionId = newSession();
    const caller = 'arn:aws:sts::123456789012:assumed-role/oncall/alice';
    const reason = 'INC-42 TLS resets (canary #3), see wiki/x';
    const run = values(sessionId, { durationSeconds: '3', caller, reason });
    const running = runHostRunner(run, { home });
    await waitFor('the capture to start', () => toolboxRunning(sessionId), 20_000);

    const labels = JSON.parse(
      await docker(['inspect', '--format', '{{json .Config.Labels}}', `debug-task-${sessionId}`]),
    ) as Record<string, string>;
    const result = await running;

    expect(labels).toMatchObject({
      'debug-task.session': sessionId,
      'debug-task.expires-at': run.expiresAt,
      'debug-task.tool': 'tcpdump',
      'debug-task.caller': caller,
      'debug-task.reason': reason,
    });
    expect(result.exitCode).toBe(0);
    expect(result.manifest).toMatchObject({ status: 'OK', audit: { caller, reason } });
  });

  it('refuses a filter tcpdump cannot compile with INVALID_FILTER and tcpdump’s message, leaving nothing', async () => {
    const sessionId = newSession();

    const result = await runHostRunner(values(sessionId, { filter: 'tcp port and and' }), { home });

    expect(result.exitCode).toBe(2);
    expect(result.manifest).toMatchObject({ sessionId, status: 'FAILED', error: { code: 'INVALID_FILTER' } });
    expect(result.manifest!.error!.message).toMatch(
      /tcpdump rejected the filter "tcp port and and": .*syntax error/,
    );
    expect(result.manifest!.artifact).toBeUndefined();
    expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
  });

  it('fails fast with TOOLBOX_IMAGE_UNAVAILABLE naming an image that cannot be pulled', async () => {
    const sessionId = newSession();
    const missing = '127.0.0.1:1/debug-task-missing:none';

    const started = Date.now();
    const result = await runHostRunner(values(sessionId, { image: missing }), { home });

    expect(Date.now() - started).toBeLessThan(20_000);
    expect(result.exitCode).toBe(4);
    expect(result.manifest).toMatchObject({ status: 'FAILED', error: { code: 'TOOLBOX_IMAGE_UNAVAILABLE' } });
    expect(result.manifest!.error!.message).toContain(missing);
    expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
  });

  it('keeps the artifact on the host with UPLOAD_FAILED when the upload cannot get through', async () => {
    const sessionId = newSession();
    const port = await closedPort();
    const uploadUrl = `http://127.0.0.1:${port}/bucket/sessions/${sessionId}/artifact.txt.gz?X-Amz-Signature=x`;

    const result = await runHostRunner(
      values(sessionId, { tool: 'snapshot', durationSeconds: '2', uploadUrl }),
      {
        home,
        env: { DEBUG_TASK_UPLOAD_TRIES: '2' },
      },
    );

    expect(result.exitCode).toBe(4);
    const manifest = result.manifest!;
    expect(manifest).toMatchObject({
      status: 'UPLOAD_FAILED',
      error: { code: 'UPLOAD_FAILED' },
      artifact: { format: 'text', uploaded: false },
    });
    expect(manifest.error!.message).not.toContain('X-Amz-Signature'); // the signature stays on the host
    const kept = manifest.artifact!.hostPath!;
    expect(kept).toBe(join(home, sessionId, 'artifact.txt.gz'));
    const object = await readFile(kept);
    expect(sha256(object)).toBe(manifest.artifact!.objectSha256);
    expect(gunzipSync(object).toString()).toContain('=== ');
    expect(await containersLabelled(`debug-task.session=${sessionId}`)).toEqual([]);
    expect(result.stderr).toContain('upload attempt 2 of 2 failed');
  });

  it('cleanup keeps a kept artifact until its keep-until, then removes it', async () => {
    const sessionId = newSession();
    const expiresAt = nowSeconds() + 2 + 4;
    const uploadUrl = `http://127.0.0.1:${await closedPort()}/bucket/k?X-Amz-Signature=x`;
    const failed = await runHostRunner(
      values(sessionId, { tool: 'snapshot', durationSeconds: '2', uploadUrl, expiresAt: String(expiresAt) }),
      // No extra keep period (a day by default): keep-until is then expiresAt.
      { home, env: { DEBUG_TASK_UPLOAD_TRIES: '1', DEBUG_TASK_KEEP_SECONDS: '0' } },
    );
    expect(failed.manifest?.status).toBe('UPLOAD_FAILED');
    const cleanup = { action: 'cleanup', sessionId };

    const early = await runHostRunner(cleanup, { home });
    await waitFor('expiresAt to pass', async () => (nowSeconds() > expiresAt ? true : undefined), 15_000);
    const late = await runHostRunner(cleanup, { home });

    expect(early.exitCode).toBe(0);
    expect(early.manifest).toMatchObject({ status: 'OK', action: 'cleanup', cleanup: { workDir: 'kept' } });
    expect(late.exitCode).toBe(0);
    expect(late.manifest).toMatchObject({
      status: 'OK',
      cleanup: { workDir: 'removed', containersRemoved: 0 },
    });
    expect(existsSync(join(home, sessionId))).toBe(false);
  });

  it('cuts a flood at maxBytes into a pcap that tcpdump reads cleanly, and stops early', async () => {
    const sessionId = newSession();
    const maxBytes = 20_000;
    const traffic = startTraffic(target.address, { parallel: 8, pauseMs: 0, maxRequests: 3000 });

    const flood = values(sessionId, {
      durationSeconds: '5',
      maxBytes: String(maxBytes),
      filter: 'tcp port 80',
      uploadUrl: receiver.url(`${sessionId}.gz`),
    });

    const result = await runHostRunner(flood, { home });
    await traffic.stop();

    expect(result.exitCode).toBe(0);
    const manifest = result.manifest!;
    expect(manifest.artifact).toMatchObject({ truncated: true, uploaded: true });
    expect(manifest.artifact!.bytes).toBeLessThanOrEqual(maxBytes);
    expect(manifest.artifact!.bytes).toBeGreaterThan(maxBytes - 2000);
    const pcap = gunzipSync(receiver.uploads.get(`/bucket/${sessionId}.gz`)!);
    expect(pcap.length).toBe(manifest.artifact!.bytes);
    const file = join(home, `${sessionId}.pcap`);
    await writeFile(file, pcap);
    const read = readPcap(file);
    expect(read).toMatchObject({ clean: true, stderr: '' });
    expect(read.text.trim().split('\n')).toHaveLength(manifest.tool.packets!);
    // The size cap ended tcpdump: no need to wait for the whole duration.
    expect(manifest.timings.captureEndedAt! - manifest.timings.captureStartedAt!).toBeLessThan(5000);
  });

  it('stops on time when the filter matches nothing', async () => {
    const sessionId = newSession();

    const started = Date.now();
    const result = await runHostRunner(
      values(sessionId, { durationSeconds: '3', filter: 'udp port 9 and udp[8:1] = 85' }),
      {
        home,
      },
    );
    const elapsedMs = Date.now() - started;

    expect(result.exitCode).toBe(0);
    expect(result.manifest).toMatchObject({
      status: 'OK',
      tool: { exitCode: 0, packets: 0 },
      artifact: { bytes: 24, truncated: false, uploaded: false },
    });
    const { captureStartedAt, captureEndedAt } = result.manifest!.timings;
    expect(captureEndedAt! - captureStartedAt!).toBeGreaterThanOrEqual(2500);
    expect(captureEndedAt! - captureStartedAt!).toBeLessThan(3000 + 5000);
    expect(elapsedMs).toBeLessThan(3000 + 8000);
  });

  it('refuses a second session with HOST_BUSY when the host is at maxSessions', async () => {
    const running = newSession();
    const refused = newSession();
    const first = runHostRunner(values(running, { durationSeconds: '4' }), { home });
    await waitFor('the first session to run', () => toolboxRunning(running), 20_000);

    const second = await runHostRunner(values(refused, { maxSessions: '1' }), { home });

    expect(second.exitCode).toBe(4);
    expect(second.manifest).toMatchObject({
      sessionId: refused,
      status: 'FAILED',
      error: { code: 'HOST_BUSY' },
    });
    expect(second.manifest!.error!.message).toMatch(/already runs \d+ debug session\(s\), its maximum is 1/);
    expect(await leftovers(refused)).toEqual({ containers: [], workDir: false });
    expect((await first).manifest?.status).toBe('OK');
  });

  it('reports CONTAINER_NOT_FOUND for a container that is not on the host', async () => {
    const sessionId = newSession();

    const result = await runHostRunner(values(sessionId, { containerId: 'feedface0123456789ab' }), { home });

    expect(result.exitCode).toBe(3);
    expect(result.manifest).toMatchObject({ status: 'FAILED', error: { code: 'CONTAINER_NOT_FOUND' } });
    expect(result.manifest!.error!.message).toContain('feedface0123456789ab');
  });

  it('removes everything and reports CANCELLED when aborted mid-capture', async () => {
    const sessionId = newSession();
    const abort = new AbortController();
    const running = runHostRunner(values(sessionId, { durationSeconds: '30' }), {
      home,
      signal: abort.signal,
    });
    await waitFor('the capture to start', () => toolboxRunning(sessionId), 20_000);

    const started = Date.now();
    abort.abort();
    const result = await running;

    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result.exitCode).toBe(130);
    expect(result.manifest).toMatchObject({ status: 'FAILED', error: { code: 'CANCELLED' } });
    expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
  });

  it('has the watchdog remove the container by expiresAt when the runner is killed with SIGKILL', async () => {
    const sessionId = newSession();
    const duration = 3;
    const expiresAt = nowSeconds() + duration + 4;
    const scriptDir = await mkdtemp(join(tmpdir(), 'debug-task-kill-'));
    const script = join(scriptDir, '_script.sh');
    await writeFile(script, buildRunnerScript(), { mode: 0o700 });
    const env = runnerEnv(
      values(sessionId, { durationSeconds: String(duration), expiresAt: String(expiresAt) }),
      { home },
    );
    const runner = spawn('bash', [script], { env, stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    runner.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const stdoutClosed = new Promise<number>((resolve) =>
      runner.stdout.on('close', () => resolve(Date.now())),
    );
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      runner.on('exit', (_code, signal) => resolve(signal)),
    );
    await waitFor('the capture to start', () => toolboxRunning(sessionId), 20_000);

    runner.kill('SIGKILL');
    const killedAt = Date.now();
    expect(await exited).toBe('SIGKILL');
    // Nothing it started holds its stdout: SSM would otherwise wait for the pipe until expiresAt.
    expect((await stdoutClosed) - killedAt).toBeLessThan(2000);
    // Nobody cleaned up: the container outlives the runner (and stays after the tool's own stop).
    expect(await containersLabelled(`debug-task.session=${sessionId}`)).toHaveLength(1);
    expect(parseManifest(stdout)).toBeUndefined();

    await waitFor(
      'the watchdog',
      () => sessionContainersGone(sessionId),
      (expiresAt - nowSeconds() + 5) * 1000,
    );
    const removedAt = nowSeconds();

    expect(removedAt).toBeGreaterThanOrEqual(expiresAt);
    expect(removedAt).toBeLessThanOrEqual(expiresAt + 3);
    await waitFor(
      'the work dir to go',
      async () => (existsSync(join(home, sessionId)) ? undefined : true),
      5000,
    );
    await rm(scriptDir, { recursive: true, force: true });
    expect(await docker(['ps', '-aq', '--filter', `label=debug-task.session=${sessionId}`])).toBe('');
  });
});
