import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runHostRunner } from '../../lib/host/local-runner';
import { ensureSandboxImages } from '../../lib/sandbox/sandbox-images';
import { requireDocker } from '../support/docker';
import {
  docker,
  HostTestRun,
  runValues,
  startHostNamespaceTarget,
  startTarget,
  toolboxRunning,
  waitFor,
} from './runner-fixtures';

/**
 * The toolbox's gate on the real engine (start_toolbox_overlapped): the toolbox container is started
 * beside the target's checks, but its script runs nothing until the runner opens the gate, which it
 * does only once every check passed; a refused start removes the gated container before the runner
 * reports, the tool never having run.
 *
 * The runner's `docker` is the real one behind a pass-through wrapper first on PATH: it holds the
 * target's inspect (the first of the checks) for a while, so that the gated toolbox is seen running
 * while the checks are still under way, and it writes down, before each `docker rm` the runner
 * makes, what the containers it removes were running and what the session's /out held then.
 */

jest.setTimeout(90_000);

const INSPECT_HOLD_SECONDS = 3;

const run = new HostTestRun('gate');
const { runId, newSession, leftovers } = run;
let image: string;
let targetId: string;
let hostNetworkTargetId: string;
let home: string;
let wrapperDir: string;

beforeAll(async () => {
  requireDocker(); // fails (never skips) without an engine, in CI and out of it
  const images = await ensureSandboxImages();
  image = images.toolbox;
  ({ id: targetId } = await startTarget(images.target, runId));
  hostNetworkTargetId = await startHostNamespaceTarget('network', images.target, runId);
  home = await run.open();
  wrapperDir = mkdtempSync(join(tmpdir(), 'debug-task-gate-docker-'));
  const realDocker = execFileSync('sh', ['-c', 'command -v docker'], { encoding: 'utf8' }).trim();
  writeFileSync(
    join(wrapperDir, 'docker'),
    `#!/bin/sh
# The real docker, with the target's inspect held (its end time written down), and a record of
# what each docker rm removes: the containers' processes, and the session's /out.
log=${wrapperDir}/log
case "$1 $2" in
  'inspect --type')
    sleep "\${GATE_TEST_INSPECT_HOLD:-0}"
    status=0
    '${realDocker}' "$@" || status=$?
    date +%s%3N >${wrapperDir}/inspect-ended
    exit "$status" ;;
  'run -d') printf 'run -d\\n' >>"$log" ;;
  'rm -f')
    for id in "$@"; do
      case "$id" in rm | -f) ;; *) printf 'top %s\\n' "$('${realDocker}' top "$id" -o pid,args 2>&1 | tail -n +2 | sed 's/^ *[0-9]* *//' | tr '\\n' ';')" >>"$log" ;; esac
    done
    printf 'out %s\\n' "$(ls -A "$DEBUG_TASK_HOME/$SSM_sessionId/out" 2>&1 | tr '\\n' ' ')" >>"$log" ;;
esac
exec '${realDocker}' "$@"
`,
    { mode: 0o755 },
  );
});

afterAll(async () => {
  await run.close();
  if (wrapperDir) rmSync(wrapperDir, { recursive: true, force: true });
});

beforeEach(() => {
  rmSync(join(wrapperDir, 'log'), { force: true });
  rmSync(join(wrapperDir, 'inspect-ended'), { force: true });
});

/** The runner with the wrapped docker, the target's inspect held `holdSeconds`. */
function runGated(
  values: Parameters<typeof runValues>[1] & { sessionId: string; containerId: string },
  holdSeconds: number,
) {
  const { sessionId, containerId, ...overrides } = values;
  return runHostRunner(runValues({ sessionId, containerId, image }, overrides), {
    home,
    env: { PATH: `${wrapperDir}:${process.env.PATH}`, GATE_TEST_INSPECT_HOLD: String(holdSeconds) },
  });
}

/** The wrapper's record: its lines, by their first word. */
function wrapperLog(): { runs: number; tops: string[]; outs: string[] } {
  let text = '';
  try {
    text = readFileSync(join(wrapperDir, 'log'), 'utf8');
  } catch {
    // no docker run nor rm went through the wrapper
  }
  const lines = text.split('\n').filter(Boolean);
  return {
    runs: lines.filter((line) => line === 'run -d').length,
    tops: lines.filter((line) => line.startsWith('top ')).map((line) => line.slice(4)),
    outs: lines.filter((line) => line.startsWith('out ')).map((line) => line.slice(4).trim()),
  };
}

/** The processes of the session's toolbox container, one command line each. */
async function toolboxProcesses(sessionId: string): Promise<string[]> {
  const out = await docker(['top', `debug-task-${sessionId}`, '-o', 'pid,args']);
  return out
    .split('\n')
    .slice(1)
    .map((line) => line.trim().replace(/^\d+\s+/, ''))
    .filter(Boolean);
}

/**
 * What the gated toolbox runs and what its /out holds, seen while the target's inspect is held. On a
 * failure the runner is awaited first: it holds the host lock, which the next test's start needs.
 */
async function seenWhileGated(sessionId: string, running: Promise<unknown>) {
  try {
    await waitFor('the gated toolbox to run', () => toolboxRunning(sessionId), 20_000);
    return {
      processes: await toolboxProcesses(sessionId),
      out: readdirSync(join(home, sessionId, 'out')),
    };
  } catch (error) {
    await running.catch(() => undefined);
    throw error;
  }
}

/** The gated toolbox's one process: the image's sh reading the gate, before any line of its work. */
const GATED = /^sh \/debug-task\/toolbox\.sh /;

describe('host runner: the toolbox starts gated, and its tool runs only once every check passed', () => {
  it('holds the tool while the target is still being checked, then captures', async () => {
    const sessionId = newSession();

    const running = runGated(
      { sessionId, containerId: targetId, durationSeconds: '1' },
      INSPECT_HOLD_SECONDS,
    );
    // The target's inspect is still held: the toolbox runs its script's first line only.
    const gated = await seenWhileGated(sessionId, running);
    const result = await running;

    expect(gated.processes).toEqual([expect.stringMatching(GATED)]);
    expect(gated.out).toEqual([]);
    expect(result.manifest).toMatchObject({ status: 'OK' });
    // The tool was listening (the capture's start: its /out/listening mark) only after the check.
    const inspectEnded = Number(readFileSync(join(wrapperDir, 'inspect-ended'), 'utf8'));
    expect(result.manifest!.timings.captureStartedAt).toBeGreaterThan(inspectEnded);
    // No artifactUrl: the artifact stays in the work dir; no container of the session does.
    expect((await leftovers(sessionId)).containers).toEqual([]);
  });

  it('refuses a target in the host network mode, removing the gated toolbox unopened before it reports', async () => {
    const sessionId = newSession();

    const running = runGated({ sessionId, containerId: hostNetworkTargetId }, INSPECT_HOLD_SECONDS);
    const gated = await seenWhileGated(sessionId, running);
    const result = await running;

    expect(gated.processes).toEqual([expect.stringMatching(GATED)]);
    expect(gated.out).toEqual([]);
    expect(result.exitCode).toBe(3);
    expect(result.manifest).toMatchObject({
      status: 'FAILED',
      error: { code: 'HOST_NETWORK_NOT_ALLOWED', message: expect.stringContaining('No tool was run') },
    });
    // What the runner's teardown removed, as it removed it: the gated sh alone, and an empty /out.
    const log = wrapperLog();
    expect(log.runs).toBe(1);
    expect(log.tops).toEqual([expect.stringMatching(/^sh \/debug-task\/toolbox\.sh [^;]*;$/)]);
    expect(log.outs).toEqual(['']);
    expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
  });

  it('refuses HOST_BUSY at the count under the lock, removing its gated toolbox unopened', async () => {
    const busy = newSession();
    const refused = newSession();
    const first = runHostRunner(
      runValues({ sessionId: busy, containerId: targetId, image }, { durationSeconds: '5' }),
      {
        home,
      },
    );
    await waitFor('the first session to run', () => toolboxRunning(busy), 20_000);

    const second = await runGated({ sessionId: refused, containerId: targetId, maxSessions: '1' }, 0);

    expect(second.exitCode).toBe(4);
    expect(second.manifest).toMatchObject({ status: 'FAILED', error: { code: 'HOST_BUSY' } });
    const log = wrapperLog();
    expect(log.runs).toBe(1); // the gated toolbox was started beside the count
    expect(log.tops).toHaveLength(1);
    // Removed while still gated: at most the sh reading the gate (or nothing yet, when the
    // container was still starting), never a tool.
    expect(log.tops[0]).toMatch(/^(sh \/debug-task\/toolbox\.sh [^;]*;)?$/);
    expect(log.outs).toHaveLength(1);
    expect(log.outs[0]).not.toMatch(/tool\.|artifact|listening/);
    expect(await leftovers(refused)).toEqual({ containers: [], workDir: false });
    expect((await first).manifest?.status).toBe('OK');
  });
});
