import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { runHostRunner } from '../../lib/host/local-runner';
import { ensureSandboxImages } from '../../lib/sandbox/sandbox-images';
import { requireDocker } from '../support/docker';
import {
  HostTestRun,
  nowSeconds,
  readPcap,
  runValues,
  sha256,
  startTarget,
  startTraffic,
  startUploadReceiver,
  toolboxRunning,
  waitFor,
  type Target,
  type UploadReceiver,
} from './runner-fixtures';

/**
 * action=stop against the real engine: a capture stopped early is kept (uploaded, a clean pcap with
 * its packets, stoppedEarly in its manifest), ended as its duration would have ended it.
 */

jest.setTimeout(90_000);

const run = new HostTestRun('stop');
const { runId, newSession, leftovers } = run;
let image: string;
let target: Target;
let receiver: UploadReceiver;
let home: string;

beforeAll(async () => {
  requireDocker(); // fails (never skips) without an engine, in CI and out of it
  let targetImage: string;
  ({ toolbox: image, target: targetImage } = await ensureSandboxImages());
  target = await startTarget(targetImage, runId);
  receiver = await startUploadReceiver();
  home = await run.open();
});

afterAll(async () => {
  await receiver?.close();
  await run.close();
});

/** Runs action=stop for `sessionId` as SSM would. */
function stop(sessionId: string) {
  return runHostRunner({ action: 'stop', sessionId }, { home });
}

async function keptPcap(key: string, name: string): Promise<ReturnType<typeof readPcap>> {
  const object = receiver.uploads.get(`/bucket/${key}`)!;
  expect(object).toBeDefined();
  const file = join(home, `${name}.pcap`);
  await writeFile(file, gunzipSync(object));
  return readPcap(file);
}

describe('action=stop on a real engine', () => {
  it('stops a 60 s tcpdump within seconds and keeps a clean, uploaded pcap marked stoppedEarly', async () => {
    const sessionId = newSession();
    const key = `sessions/${sessionId}/artifact.pcap.gz`;
    const traffic = startTraffic(target.address, { pauseMs: 100 });
    const running = runHostRunner(
      runValues(
        { sessionId, containerId: target.id, image },
        { durationSeconds: '60', filter: 'tcp port 80', uploadUrl: receiver.url(key) },
      ),
      { home },
    );
    await waitFor('the capture to start', () => toolboxRunning(sessionId), 20_000);
    await new Promise((resolve) => setTimeout(resolve, 2000));

    const stopAt = Date.now();
    const stopped = await stop(sessionId);
    const result = await running;
    const tookMs = Date.now() - stopAt;
    await traffic.stop();

    expect(stopped.exitCode).toBe(0);
    expect(stopped.manifest).toMatchObject({
      status: 'OK',
      action: 'stop',
      stop: { captures: 1, signalled: 1 },
    });
    expect(result.exitCode).toBe(0);
    expect(tookMs).toBeLessThan(10_000);
    const manifest = result.manifest!;
    expect(manifest).toMatchObject({
      status: 'OK',
      stoppedEarly: true,
      tool: { name: 'tcpdump', exitCode: 0 },
      artifact: { format: 'pcap', uploaded: true, truncated: false },
    });
    const { captureStartedAt, captureEndedAt, stoppedAt } = manifest.timings;
    expect(stoppedAt).toBeGreaterThanOrEqual(stopAt - 1000);
    expect(captureEndedAt! - captureStartedAt!).toBeLessThan(20_000);
    expect(manifest.tool.packets).toBeGreaterThan(0);
    const object = receiver.uploads.get(`/bucket/${key}`)!;
    expect(sha256(object)).toBe(manifest.artifact!.objectSha256);
    const read = await keptPcap(key, sessionId);
    expect(read.clean).toBe(true);
    expect(read.text.trim().split('\n')).toHaveLength(manifest.tool.packets!);
    expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
  });

  it('stops every child of a session by the session id', async () => {
    const sessionId = newSession();
    const children = [`${sessionId}-0000`, `${sessionId}-0001`];
    const keys = children.map((child) => `sessions/${sessionId}/children/${child}/artifact.pcap.gz`);
    const runs = children.map((child, i) =>
      runHostRunner(
        runValues(
          { sessionId: child, containerId: target.id, image },
          { durationSeconds: '60', uploadUrl: receiver.url(keys[i]) },
        ),
        { home },
      ),
    );
    for (const child of children) await waitFor('the child to start', () => toolboxRunning(child), 20_000);

    const stopped = await stop(sessionId);
    const results = await Promise.all(runs);

    expect(stopped.manifest).toMatchObject({ status: 'OK', stop: { captures: 2, signalled: 2 } });
    for (const [i, result] of results.entries()) {
      expect(result.exitCode).toBe(0);
      expect(result.manifest).toMatchObject({ sessionId: children[i], status: 'OK', stoppedEarly: true });
      expect((await keptPcap(keys[i], children[i])).clean).toBe(true);
      expect(await leftovers(children[i])).toEqual({ containers: [], workDir: false });
    }
  });

  it('stops a capture asked to stop before its toolbox started, right after the start', async () => {
    const sessionId = newSession();
    const key = `sessions/${sessionId}/artifact.pcap.gz`;
    const startAt = nowSeconds() + 4;
    const running = runHostRunner(
      runValues(
        { sessionId, containerId: target.id, image },
        {
          durationSeconds: '60',
          startAt: String(startAt),
          expiresAt: String(startAt + 90),
          uploadUrl: receiver.url(key),
        },
      ),
      { home },
    );
    await waitFor(
      'the run to wait for startAt',
      async () => ((await leftovers(sessionId)).workDir ? true : undefined),
      10_000,
    );

    const stopped = await stop(sessionId);
    const result = await running;

    expect(stopped.manifest).toMatchObject({ stop: { captures: 1, signalled: 0 } });
    expect(result.exitCode).toBe(0);
    expect(result.manifest).toMatchObject({ status: 'OK', stoppedEarly: true, artifact: { uploaded: true } });
    expect(Date.now() / 1000 - startAt).toBeLessThan(15);
  });

  it('has nothing to stop for a session this host does not run', async () => {
    const stopped = await stop(newSession());
    expect(stopped.exitCode).toBe(0);
    expect(stopped.manifest).toMatchObject({ status: 'OK', stop: { captures: 0, signalled: 0 } });
  });
});
