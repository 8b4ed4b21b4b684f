import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { spawn, spawnSync } from 'node:child_process';
import { parseManifest, runnerEnv, type HostRunnerResult } from '../../lib/host/local-runner';
import { buildRunnerScript } from '../../lib/host/runner-script';
import { nowSeconds, readPcap, runValues, sha256, useHostTarget, waitFor } from './runner-fixtures';

/**
 * action=stop against the real engine: a capture stopped early is kept (uploaded, a clean pcap with
 * its packets, stoppedEarly in its manifest), ended as its duration would have ended it.
 */

jest.setTimeout(90_000);

const host = useHostTarget('stop');
const { newSession, leftovers } = host.run;

/** A new pid namespace with its own /proc, as root or as a user namespace's root; [] where neither is allowed. */
const PID_NAMESPACE =
  [
    ['unshare', '--pid', '--fork', '--mount-proc'],
    ['unshare', '--user', '--map-root-user', '--pid', '--fork', '--mount-proc'],
  ].find(([command, ...args]) => spawnSync(command, [...args, 'true']).status === 0) ?? [];

/**
 * Runs in the new pid namespace (a file of its own, started by node there): the capture's runner and,
 * 2 s after its toolbox runs, the stop's, both the built runner started by bash as SSM would; writes
 * what each printed, its exit status and how long the stop took to end the capture.
 */
const IN_NAMESPACE = `
const { spawn, execFileSync } = require('node:child_process');
const { readFileSync, writeFileSync } = require('node:fs');
const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const runner = (env) => {
  const child = spawn('bash', [spec.script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => (out.stdout += d));
  child.stderr.on('data', (d) => (out.stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ ...out, exitCode: code })));
};
const running = () =>
  execFileSync('docker', ['ps', '-q', '--filter', 'name=^' + spec.container + '$', '--filter', 'status=running'], {
    encoding: 'utf8',
  }).trim() !== '';
(async () => {
  const capture = runner(spec.captureEnv);
  const deadline = Date.now() + 20000;
  while (!running() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 2000));
  const stopAt = Date.now();
  const stopped = await runner(spec.stopEnv);
  const result = await capture;
  writeFileSync(spec.resultFile, JSON.stringify({ stopped, result, tookMs: Date.now() - stopAt }));
})();
`;

/**
 * captureThenStop's capture and stop, both run by runners in a pid namespace of their own (a
 * runner in a container given the engine's socket: the toolbox's processes are not in its /proc).
 */
async function captureThenStopInPidNamespaceOfItsOwn() {
  const sessionId = newSession();
  const key = `sessions/${sessionId}/artifact.pcap.gz`;
  const files = {
    script: join(host.home, 'ns-runner.sh'),
    wrapper: join(host.home, 'ns-wrapper.js'),
    spec: join(host.home, 'ns-spec.json'),
    resultFile: join(host.home, 'ns-result.json'),
  };
  await writeFile(files.script, buildRunnerScript(), { mode: 0o700 });
  await writeFile(files.wrapper, IN_NAMESPACE);
  const captureValues = runValues(
    { sessionId, containerId: host.target.id, image: host.image },
    { durationSeconds: '60', filter: 'tcp port 80', uploadUrl: host.receiver.url(key) },
  );
  await writeFile(
    files.spec,
    JSON.stringify({
      script: files.script,
      container: `debug-task-${sessionId}`,
      resultFile: files.resultFile,
      captureEnv: runnerEnv(captureValues, { home: host.home }),
      stopEnv: runnerEnv({ action: 'stop', sessionId }, { home: host.home }),
    }),
  );
  const traffic = host.traffic({ pauseMs: 100 });
  const [command, ...args] = [...PID_NAMESPACE, process.execPath, files.wrapper, files.spec];
  const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', resolve));
  await traffic.stop();
  expect(exitCode).toBe(0);
  const ran = JSON.parse(await readFile(files.resultFile, 'utf8')) as Record<
    'stopped' | 'result',
    { stdout: string; stderr: string; exitCode: number | null }
  > & { tookMs: number };
  const asResult = (r: (typeof ran)['stopped']): HostRunnerResult => ({
    ...r,
    manifest: parseManifest(r.stdout),
  });
  return { sessionId, key, stopped: asResult(ran.stopped), result: asResult(ran.result), tookMs: ran.tookMs };
}

/**
 * A 60 s tcpdump of the target's HTTP traffic, stopped 2 s after its toolbox runs by `stopper`:
 * the stop's result, the capture's, how long the stop took to end it, and the artifact's key.
 */
async function captureThenStop(stopper: (sessionId: string) => Promise<HostRunnerResult>) {
  const sessionId = newSession();
  const key = `sessions/${sessionId}/artifact.pcap.gz`;
  const traffic = host.traffic({ pauseMs: 100 });
  const running = host.runCapture(sessionId, {
    durationSeconds: '60',
    filter: 'tcp port 80',
    uploadUrl: host.receiver.url(key),
  });
  await host.toolboxStarted(sessionId);
  await new Promise((resolve) => setTimeout(resolve, 2000));

  const stopAt = Date.now();
  const stopped = await stopper(sessionId);
  const result = await running;
  const tookMs = Date.now() - stopAt;
  await traffic.stop();
  return { sessionId, key, stopAt, stopped, result, tookMs };
}

async function keptPcap(key: string, name: string): Promise<ReturnType<typeof readPcap>> {
  const object = host.receiver.uploads.get(`/bucket/${key}`)!;
  expect(object).toBeDefined();
  const file = join(host.home, `${name}.pcap`);
  await writeFile(file, gunzipSync(object));
  return readPcap(file);
}

describe('action=stop on a real engine', () => {
  it('stops a 60 s tcpdump within seconds and keeps a clean, uploaded pcap marked stoppedEarly', async () => {
    const { sessionId, key, stopAt, stopped, result, tookMs } = await captureThenStop(host.stop);

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
    const object = host.receiver.uploads.get(`/bucket/${key}`)!;
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
      host.runCapture(child, { durationSeconds: '60', uploadUrl: host.receiver.url(keys[i]) }),
    );
    for (const child of children) await host.toolboxStarted(child);

    const stopped = await host.stop(sessionId);
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
    const running = host.runCapture(sessionId, {
      durationSeconds: '60',
      startAt: String(startAt),
      expiresAt: String(startAt + 90),
      uploadUrl: host.receiver.url(key),
    });
    await waitFor(
      'the run to wait for startAt',
      async () => ((await leftovers(sessionId)).workDir ? true : undefined),
      10_000,
    );

    const stopped = await host.stop(sessionId);
    const result = await running;

    expect(stopped.manifest).toMatchObject({ stop: { captures: 1, signalled: 0 } });
    expect(result.exitCode).toBe(0);
    expect(result.manifest).toMatchObject({ status: 'OK', stoppedEarly: true, artifact: { uploaded: true } });
    expect(Date.now() / 1000 - startAt).toBeLessThan(15);
  });

  it('stops the tool from inside its toolbox when the runner does not see the engine’s processes', async () => {
    // A runner in a container given the engine's socket (a development container) has a pid
    // namespace of its own: the toolbox's processes are not in its /proc. Here, where the machine
    // allows it, both runners (the capture's and the stop's) run in a new pid namespace (unshare);
    // where it does not, they already are in one (as in a container). Either way the log says which
    // way the tool was signalled.
    const { key, stopped, result, tookMs } = await captureThenStopInPidNamespaceOfItsOwn();

    // Whoever claims the signal first sends it: the stop action, or the capture's runner when its
    // `docker run -d` returned after the stop's marker was written (stop_if_asked; a loaded machine
    // orders it so). Either way exactly one of them signalled, from inside the toolbox.
    const fromInside = [stopped, result].filter((r) => r.stderr.includes('signalled the tool from inside'));
    expect(fromInside).toHaveLength(1);
    expect(stopped.exitCode).toBe(0);
    expect(stopped.manifest).toMatchObject({
      status: 'OK',
      stop: { captures: 1, signalled: fromInside[0] === stopped ? 1 : 0 },
    });
    expect(result.exitCode).toBe(0);
    expect(tookMs).toBeLessThan(15_000);
    expect(result.manifest).toMatchObject({ status: 'OK', stoppedEarly: true, artifact: { uploaded: true } });
    const read = await keptPcap(key, result.manifest!.sessionId);
    expect(read.clean).toBe(true);
    expect(read.text.trim().split('\n')).toHaveLength(result.manifest!.tool.packets!);
  });

  it('has nothing to stop for a session this host does not run', async () => {
    const stopped = await host.stop(newSession());
    expect(stopped.exitCode).toBe(0);
    expect(stopped.manifest).toMatchObject({ status: 'OK', stop: { captures: 0, signalled: 0 } });
  });
});
