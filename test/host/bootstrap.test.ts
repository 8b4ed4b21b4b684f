import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { exitCodeFor } from '../../lib/domain/errors';
import { commandParameters, type HostParamValues } from '../../lib/domain/params';
import { parseManifest } from '../../lib/host/local-runner';
import {
  RUNNER_CACHE_DIR,
  buildCommandDocument,
  buildRunnerScript,
  runnerSha256,
} from '../../lib/host/runner-script';
import { ensureLocalToolboxImage } from '../../lib/sandbox/local-image';
import { prepareRunShellScript, resolveParameters } from '../../lib/sandbox/ssm-document';
import { ScriptProcess } from '../../lib/sandbox/ssm-script-process';
import { requireDocker } from '../support/docker';
import {
  HostTestRun,
  containersLabelled,
  runValues,
  startTarget,
  startUploadReceiver,
  type UploadReceiver,
} from './runner-fixtures';

/**
 * The SSM document's bootstrap on the real engine, run as the agent runs it (the sandbox's
 * emulation: parameters resolved, substituted, SSM_<name> in env mode only; a script file run by
 * bash): the runner is fetched from runnerUrl, checked against the sha256 the document names,
 * cached by that hash and run; a runner whose bytes differ is refused with RUNNER_UNAVAILABLE and
 * nothing starts.
 */

jest.setTimeout(120_000);

const run = new HostTestRun('bootstrap');
const { runId, newSession, leftovers } = run;
const document = buildCommandDocument({ fetchProtocols: 'http' });
const sha256 = runnerSha256();
let image: string;
let targetId: string;
let receiver: UploadReceiver;
let home: string;
let runnerServer: RunnerServer;

/** Serves the runner (or what the test says) on loopback and counts the fetches. */
interface RunnerServer {
  url: string;
  body: string;
  fetches: number;
  close(): Promise<void>;
}

async function startRunnerServer(): Promise<RunnerServer> {
  const state: RunnerServer = { url: '', body: buildRunnerScript(), fetches: 0, close: async () => {} };
  const server: Server = createServer((_req, res) => {
    state.fetches++;
    res.writeHead(200, { 'Content-Type': 'text/x-shellscript' }).end(state.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  state.url = `http://127.0.0.1:${port}/runner/${sha256}.sh?X-Amz-Signature=abc`;
  state.close = () => new Promise((resolve) => server.close(() => resolve()));
  return state;
}

/** The document run as an agent of that mode runs it; the result and the manifest it printed. */
async function runDocument(values: HostParamValues, paramMode: 'env' | 'text') {
  const resolved = resolveParameters(document, commandParameters(values));
  const prepared = prepareRunShellScript(document, resolved, paramMode);
  const dir = await mkdtemp(join(tmpdir(), 'debug-task-bootstrap-cmd-'));
  try {
    const process_ = await ScriptProcess.start({
      dir,
      script: prepared.script,
      env: {
        PATH: process.env.PATH ?? '',
        ...prepared.env,
        DEBUG_TASK_HOME: home,
        DEBUG_TASK_UPLOAD_TRIES: '1',
      },
      timeoutSeconds: prepared.timeoutSeconds,
      killGraceMs: 2000,
    });
    await process_.done;
    const result = process_.result!;
    return { ...result, manifest: parseManifest(result.stdout) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  requireDocker(); // fails (never skips) without an engine
  ({ image } = await ensureLocalToolboxImage());
  ({ id: targetId } = await startTarget(image, runId));
  receiver = await startUploadReceiver();
  runnerServer = await startRunnerServer();
  home = await run.open();
});

afterAll(async () => {
  await runnerServer?.close();
  await receiver?.close();
  await run.close();
});

function captureValues(sessionId: string): HostParamValues {
  return {
    ...runValues({ sessionId, containerId: targetId, image }, { tool: 'snapshot', durationSeconds: '2' }),
    uploadUrl: receiver.url(`sessions/${sessionId}/artifact.txt.gz`),
    runnerUrl: runnerServer.url,
    executionTimeout: '120',
  };
}

describe('the SSM document bootstrap on the real engine', () => {
  const cached = () => join(home, RUNNER_CACHE_DIR, `${sha256}.sh`);

  it('fetches the runner, checks its sha256, caches it root-only by that hash and runs it (text mode: an old agent)', async () => {
    const sessionId = newSession();
    runnerServer.body = buildRunnerScript();
    const before = runnerServer.fetches;

    const result = await runDocument(captureValues(sessionId), 'text');

    expect(result.manifest).toMatchObject({ sessionId, status: 'OK', paramMode: 'text' });
    expect(result.responseCode).toBe(0);
    expect(runnerServer.fetches).toBe(before + 1);
    expect(existsSync(cached())).toBe(true);
    expect(statSync(join(home, RUNNER_CACHE_DIR)).mode & 0o777).toBe(0o700);
    expect(statSync(cached()).mode & 0o077).toBe(0);
    // Only the runner is left in the cache: the temporary download was renamed into place.
    expect(readdirSync(join(home, RUNNER_CACHE_DIR))).toEqual([`${sha256}.sh`]);
    const text = gunzipSync(
      receiver.uploads.get(`/bucket/sessions/${sessionId}/artifact.txt.gz`)!,
    ).toString();
    expect(text.length).toBeGreaterThan(0);
  });

  it('runs the cached runner without fetching it again (env mode: a current agent)', async () => {
    const sessionId = newSession();
    const before = runnerServer.fetches;

    const result = await runDocument(captureValues(sessionId), 'env');

    expect(result.manifest).toMatchObject({ sessionId, status: 'OK', paramMode: 'env' });
    expect(runnerServer.fetches).toBe(before);
  });

  it('refuses a tampered runner with RUNNER_UNAVAILABLE, caches nothing and starts nothing', async () => {
    await rm(join(home, RUNNER_CACHE_DIR), { recursive: true, force: true });
    const sessionId = newSession();
    // One byte more than the reviewed file: a line that would start a container.
    runnerServer.body = buildRunnerScript().replace(
      '\nmain() {',
      `\ndocker run -d --label debug-task.session=${sessionId} ${image} sleep 60\nmain() {`,
    );

    const result = await runDocument(captureValues(sessionId), 'env');

    expect(result.responseCode).toBe(exitCodeFor('RUNNER_UNAVAILABLE'));
    expect(JSON.parse(result.stdout.trim())).toMatchObject({
      sessionId,
      status: 'FAILED',
      error: { code: 'RUNNER_UNAVAILABLE', message: expect.stringContaining('another sha256') },
    });
    // Timed from the fetch's start (the cached path takes no clock) to the refusal.
    const { timings } = JSON.parse(result.stdout.trim()) as {
      timings: { startedAt: number; endedAt: number };
    };
    expect(timings.startedAt).toBeGreaterThan(Date.now() - 60_000);
    expect(timings.endedAt).toBeGreaterThanOrEqual(timings.startedAt);
    expect(existsSync(cached())).toBe(false);
    expect(readdirSync(join(home, RUNNER_CACHE_DIR))).toEqual([]);
    expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
    expect(await containersLabelled(`debug-task.session=${sessionId}`)).toEqual([]);
  });

  it('never runs a cached runner that was changed since (it fetches again, and refuses a bad fetch), and refuses a plan whose runner cannot be fetched, with the host summary shape', async () => {
    runnerServer.body = buildRunnerScript();
    const sessionId = newSession();
    await runDocument(captureValues(sessionId), 'env'); // caches the good runner
    writeFileSync(cached(), `${buildRunnerScript()}\n# changed on the host\n`);
    // A cached file that no longer verifies is never run: it is fetched again, and here the fetched
    // one is no better (a tampered source), so nothing runs at all.
    runnerServer.body = `${buildRunnerScript()}\n# tampered at the source\n`;

    const changed = await runDocument(captureValues(newSession()), 'env');
    expect(changed.responseCode).toBe(exitCodeFor('RUNNER_UNAVAILABLE'));
    expect(changed.stdout).toContain('"code":"RUNNER_UNAVAILABLE"');
    expect(changed.stdout).toContain('the file fetched from runnerUrl has another sha256');

    await rm(join(home, RUNNER_CACHE_DIR), { recursive: true, force: true });
    const planId = newSession();
    const unreachable = await runDocument(
      {
        action: 'plan',
        sessionId: planId,
        planUrl: receiver.url('plan.tsv'),
        runnerUrl: 'http://127.0.0.1:9/runner.sh',
        executionTimeout: '120',
      },
      'text',
    );
    expect(unreachable.responseCode).toBe(exitCodeFor('RUNNER_UNAVAILABLE'));
    expect(JSON.parse(unreachable.stdout.trim())).toMatchObject({
      v: 2,
      action: 'plan',
      sessionId: planId,
      status: 'FAILED',
      error: { code: 'RUNNER_UNAVAILABLE', message: expect.stringContaining('fetching runnerUrl failed') },
      children: 0,
    });
  });
});
