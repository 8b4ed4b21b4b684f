import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { runHostRunner } from '../../lib/host/local-runner';
import { ensureSandboxImages } from '../../lib/sandbox/sandbox-images';
import { requireDocker } from '../support/docker';
import {
  closedPort,
  containersLabelled,
  docker,
  nowSeconds,
  runValues,
  sha256,
  startTarget,
  startUploadReceiver,
  type Target,
  type UploadReceiver,
  HostTestRun,
} from './runner-fixtures';

/**
 * "No lost capture" on a real engine: an upload that cannot get through keeps the artifact (with
 * its facts and a keep-until), action=reupload sends it byte for byte to a fresh URL and leaves
 * nothing behind, and a second re-upload finds nothing (ARTIFACT_NOT_ON_HOST). Also: a tool that
 * ignores SIGINT is killed by the runner at duration + 5 s, with a message that says so.
 */

jest.setTimeout(90_000);

const run = new HostTestRun('reupload');
const { runId, sessions, newSession } = run;
let image: string;
/** The image of the target containers (busybox httpd); the toolbox image itself where that has busybox. */
let targetImage: string;
let stubbornImage: string;
let target: Target;
let receiver: UploadReceiver;
let home: string;

/** Containers this run started, running or not (the target aside). */
async function toolboxContainers(): Promise<string[]> {
  return (await Promise.all(sessions.map((id) => containersLabelled(`debug-task.session=${id}`)))).flat();
}

beforeAll(async () => {
  requireDocker(); // fails (never skips) without an engine, in CI and out of it
  ({ toolbox: image, target: targetImage } = await ensureSandboxImages());
  target = await startTarget(targetImage, runId);
  receiver = await startUploadReceiver();
  home = await run.open();
  // A "tcpdump" that ignores SIGINT (as a hung tool would): first on the toolbox's PATH.
  const context = await mkdtemp(join(tmpdir(), 'debug-task-stubborn-'));
  await writeFile(join(context, 'tcpdump'), "#!/bin/sh\ntrap '' INT\necho started >&2\nexec sleep 3600\n", {
    mode: 0o755,
  });
  await writeFile(
    join(context, 'Dockerfile'),
    `FROM ${image}\nCOPY tcpdump /usr/local/sbin/tcpdump\nLABEL ${'debug-task.host-test'}=${runId}\n`,
  );
  stubbornImage = `debug-task-toolbox:stubborn-${runId}`;
  await docker(['build', '-q', '-t', stubbornImage, context]);
  await rm(context, { recursive: true, force: true });
});

afterAll(async () => {
  await receiver?.close();
  await run.close();
  if (stubbornImage) await docker(['rmi', '-f', stubbornImage]).catch(() => undefined);
});

describe('action=reupload', () => {
  it('uploads a kept artifact byte for byte to a fresh URL, removes the work dir, and finds nothing the second time', async () => {
    const sessionId = newSession();
    const deadUrl = `http://127.0.0.1:${await closedPort()}/bucket/sessions/${sessionId}/artifact.txt.gz?X-Amz-Signature=x`;
    const failed = await runHostRunner(
      runValues(
        { sessionId, containerId: target.id, image },
        { tool: 'snapshot', durationSeconds: '2', uploadUrl: deadUrl },
      ),
      { home, env: { DEBUG_TASK_UPLOAD_TRIES: '1' } },
    );
    expect(failed.exitCode).toBe(4);
    const kept = failed.manifest!.artifact!;
    expect(failed.manifest).toMatchObject({ status: 'UPLOAD_FAILED', error: { code: 'UPLOAD_FAILED' } });
    expect(kept.hostPath).toBe(join(home, sessionId, 'artifact.txt.gz'));
    // Kept a day past the failure, not merely until expiresAt (seconds away by then).
    const keepUntil = Number(await readFile(join(home, sessionId, 'keep-until'), 'utf8'));
    expect(keepUntil).toBeGreaterThan(nowSeconds() + 86_000);
    expect(failed.manifest!.error!.message).toMatch(/kept at .* until \d{4}-\d\d-\d\dT/);
    expect((await readdir(join(home, sessionId))).sort()).toEqual([
      'artifact.facts',
      'artifact.txt.gz',
      'keep-until',
      'manifest.json',
    ]);
    const object = await readFile(kept.hostPath!);
    // Every container the runner starts carries its session's label (the whole engine is shared with other tests).
    expect(await containersLabelled(`debug-task.session=${sessionId}`)).toEqual([]);

    const key = `sessions/${sessionId}/artifact.txt.gz`;
    const reupload = await runHostRunner(
      { action: 'reupload', sessionId, uploadUrl: receiver.url(key) },
      { home },
    );

    expect(reupload.exitCode).toBe(0);
    expect(reupload.manifest).toMatchObject({
      v: 1,
      sessionId,
      status: 'OK',
      action: 'reupload',
      tool: { name: 'snapshot', exitCode: null },
      artifact: {
        format: 'text',
        compression: 'gzip',
        bytes: kept.bytes,
        sha256: kept.sha256,
        objectBytes: kept.objectBytes,
        objectSha256: kept.objectSha256,
        truncated: false,
        uploaded: true,
      },
    });
    expect(reupload.manifest!.artifact!.hostPath).toBeUndefined();
    expect(reupload.stdout.trim().split('\n')).toHaveLength(1);
    const received = receiver.uploads.get(`/bucket/${key}`)!;
    expect(received.equals(object)).toBe(true);
    expect(sha256(received)).toBe(kept.objectSha256);
    expect(sha256(gunzipSync(received))).toBe(kept.sha256);
    expect(existsSync(join(home, sessionId))).toBe(false);
    // No container was started for it (none is left either: \`docker ps -a\` lists stopped ones too).
    expect(await containersLabelled(`debug-task.session=${sessionId}`)).toEqual([]);

    const again = await runHostRunner(
      { action: 'reupload', sessionId, uploadUrl: receiver.url(`${key}-2`) },
      { home },
    );
    expect(again.exitCode).toBe(4);
    expect(again.manifest).toMatchObject({
      sessionId,
      status: 'FAILED',
      action: 'reupload',
      error: { code: 'ARTIFACT_NOT_ON_HOST' },
    });
    expect(again.manifest!.error!.message).toMatch(/it is gone.*never kept.*keep-until.*already re-uploaded/);
    expect(again.manifest!.artifact).toBeUndefined();
    expect(receiver.uploads.has(`/bucket/${key}-2`)).toBe(false);
  });

  it('keeps the artifact as it was when the re-upload fails too, and refuses a run without uploadUrl', async () => {
    const sessionId = newSession();
    const dead = () =>
      closedPort().then((port) => `http://127.0.0.1:${port}/bucket/k?X-Amz-Signature=secret`);
    const failed = await runHostRunner(
      runValues(
        { sessionId, containerId: target.id, image },
        { tool: 'snapshot', durationSeconds: '1', uploadUrl: await dead() },
      ),
      { home, env: { DEBUG_TASK_UPLOAD_TRIES: '1' } },
    );
    expect(failed.manifest?.status).toBe('UPLOAD_FAILED');
    const before = (await readdir(join(home, sessionId))).sort();

    const missingUrl = await runHostRunner({ action: 'reupload', sessionId }, { home });
    const again = await runHostRunner(
      { action: 'reupload', sessionId, uploadUrl: await dead() },
      { home, env: { DEBUG_TASK_UPLOAD_TRIES: '2' } },
    );

    expect(missingUrl.exitCode).toBe(2);
    expect(missingUrl.manifest?.error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(missingUrl.manifest!.error!.message).toContain('uploadUrl is required');
    expect(again.exitCode).toBe(4);
    expect(again.manifest).toMatchObject({
      status: 'UPLOAD_FAILED',
      error: { code: 'UPLOAD_FAILED' },
      artifact: { uploaded: false, hostPath: failed.manifest!.artifact!.hostPath },
    });
    expect(again.manifest!.error!.message).toContain('still kept at');
    expect(again.manifest!.error!.message).not.toContain('secret');
    expect((await readdir(join(home, sessionId))).sort()).toEqual(before);
  });

  it('refuses to upload a kept artifact that was altered on the host', async () => {
    const sessionId = newSession();
    const failed = await runHostRunner(
      runValues(
        { sessionId, containerId: target.id, image },
        {
          tool: 'snapshot',
          durationSeconds: '1',
          uploadUrl: `http://127.0.0.1:${await closedPort()}/b/k?X-Amz-Signature=x`,
        },
      ),
      { home, env: { DEBUG_TASK_UPLOAD_TRIES: '1' } },
    );
    await writeFile(failed.manifest!.artifact!.hostPath!, 'not the capture');
    const key = `sessions/${sessionId}/altered`;

    const reupload = await runHostRunner(
      { action: 'reupload', sessionId, uploadUrl: receiver.url(key) },
      { home },
    );

    expect(reupload.exitCode).toBe(4);
    expect(reupload.manifest?.error).toMatchObject({ code: 'CAPTURE_FAILED' });
    expect(reupload.manifest!.error!.message).toContain('altered on the host');
    expect(receiver.uploads.has(`/bucket/${key}`)).toBe(false);
  });
});

describe('a tool that ignores SIGINT', () => {
  it('is killed with its toolbox once its budget is spent, and the session fails with CAPTURE_FAILED saying so', async () => {
    const sessionId = newSession();
    const duration = 2;
    const started = Date.now();
    const result = await runHostRunner(
      runValues(
        { sessionId, containerId: target.id, image: stubbornImage },
        { tool: 'tcpdump', durationSeconds: String(duration), uploadUrl: receiver.url(`x/${sessionId}`) },
      ),
      { home },
    );
    const took = (Date.now() - started) / 1000;

    expect(result.exitCode).toBe(4);
    expect(result.manifest).toMatchObject({ status: 'FAILED', error: { code: 'CAPTURE_FAILED' } });
    expect(result.manifest!.error!.message).toContain('ignored SIGINT');
    // The runner's budget: the duration, plus the wait for the tool to listen (the capture's clock
    // starts then, at most READY_WAIT_SECONDS=10 after the container), plus STOP_GRACE_SECONDS=5
    // (lib/host/runner/lib/settings.sh).
    expect(result.stderr).toContain(`did not stop within ${duration + 10 + 5}s: killing it`);
    expect(took).toBeGreaterThanOrEqual(duration + 5);
    expect(took).toBeLessThan(duration + 10 + 5 + 20);
    expect(await toolboxContainers()).toEqual([]);
    expect(existsSync(join(home, sessionId))).toBe(false);
    expect(receiver.uploads.has(`/bucket/x/${sessionId}`)).toBe(false);
  });
});
