import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSweepManifest } from '../../lib/domain/sweep-manifest';
import { runHostRunner } from '../../lib/host/local-runner';
import { ensureSandboxImages } from '../../lib/sandbox/sandbox-images';
import { requireDocker } from '../support/docker';
import { TEST_LABEL, containersLabelled, docker, nowSeconds, waitFor, HostTestRun } from './runner-fixtures';

/**
 * action=sweep against the real engine: expired containers go, live ones stay; watchdogs of
 * expired sessions are stopped; work dirs go once their session (and kept artifact) has expired
 * and their runner is gone. The work root is this test's own; the engine is shared, so container
 * counts are checked as "at least", and each container of this test by id.
 */

jest.setTimeout(60_000);

const run = new HostTestRun('sweep');
const { runId, newSession } = run;
const children: ChildProcess[] = [];
let image: string;
let home: string;

/** A container labelled as a session's, as the runner labels its toolbox. */
async function sessionContainer(sessionId: string, expiresAt: string, command: string[]): Promise<string> {
  return docker([
    'run',
    '-d',
    '--label',
    `${TEST_LABEL}=${runId}`,
    '--label',
    `debug-task.session=${sessionId}`,
    '--label',
    `debug-task.expires-at=${expiresAt}`,
    image,
    ...command,
  ]);
}

/** A work dir as the runner leaves it: record files by name. */
async function workDir(sessionId: string, files: Record<string, string>, root = home): Promise<string> {
  const dir = join(root, sessionId);
  await mkdir(join(dir, 'out'), { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  return dir;
}

/** Field 22 of /proc/<pid>/stat, as the runner records it in runner.pid. */
function startTime(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[19];
}

/** A process whose argv looks like the runner's watchdog (start_watchdog), in its own session. */
function fakeWatchdog(sessionId: string, expiresAt: number, root = home): ChildProcess {
  const child = spawn(
    'bash',
    ['-c', 'sleep 120; :', 'debug-task-watchdog', sessionId, String(expiresAt), join(root, sessionId), '1'],
    { detached: true, stdio: 'ignore' },
  );
  children.push(child);
  return child;
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

beforeAll(async () => {
  requireDocker();
  // Containers labelled as a session's run busybox: the target image has it whichever way it was made.
  ({ target: image } = await ensureSandboxImages());
  home = await run.open();
});

afterAll(async () => {
  for (const child of children) if (alive(child)) process.kill(-child.pid!, 'SIGTERM');
  await run.close();
});

describe('host runner: action=sweep', () => {
  it('removes what has expired, whatever happened to its session, and leaves the rest', async () => {
    const now = nowSeconds();
    const past = String(now - 60);
    const future = String(now + 600);
    // Containers: an expired session (its toolbox, running, and a helper that exited), a live one,
    // and one whose expiry cannot be read.
    const expired = newSession();
    const live = newSession();
    const unreadable = newSession();
    const expiredIds = [
      await sessionContainer(expired, past, ['/bin/busybox', 'sleep', '120']),
      await sessionContainer(expired, past, ['/bin/busybox', 'true']),
    ];
    const liveId = await sessionContainer(live, future, ['/bin/busybox', 'sleep', '120']);
    const unreadableId = await sessionContainer(unreadable, 'soon', ['/bin/busybox', 'sleep', '120']);
    // Work dirs, each named after a session.
    const keptArtifact = newSession();
    const artifactDue = newSession();
    const runnerAlive = newSession();
    const unrecorded = newSession();
    const oldUnrecorded = newSession();
    await workDir(expired, { 'expires-at': past });
    await workDir(live, { 'expires-at': future });
    await workDir(keptArtifact, { 'expires-at': past, 'keep-until': future, 'artifact.pcap.gz': 'x' });
    await workDir(artifactDue, { 'keep-until': past, 'artifact.pcap.gz': 'x' });
    // Past its expiry but its runner still runs (uploading, within SSM's execution timeout): this
    // test's own process plays the runner.
    await workDir(runnerAlive, {
      'expires-at': past,
      'runner.pid': `${process.pid} ${startTime(process.pid)}\n`,
    });
    await workDir(unrecorded, {});
    const old = await workDir(oldUnrecorded, {});
    const twoDaysAgo = new Date((now - 2 * 86_400) * 1000);
    await utimes(old, twoDaysAgo, twoDaysAgo);
    // Cleanups' end marks (<session>.ended, holding its expiresAt): gone once expired.
    await writeFile(join(home, `${expired}.ended`), `${past}\n`);
    await writeFile(join(home, `${live}.ended`), `${future}\n`);
    // Not ours: left whatever their age.
    await mkdir(join(home, 'notes'));
    await writeFile(join(home, `${expired}.pcap`), 'x');
    // Watchdogs: one of the expired session, one of the live one, one of another work root.
    const stuckWatchdog = fakeWatchdog(expired, now - 60);
    const liveWatchdog = fakeWatchdog(live, now + 600);
    const otherRootWatchdog = fakeWatchdog(expired, now - 60, '/var/lib/elsewhere');
    await waitFor(
      'the watchdogs to start',
      async () => (children.every((c) => c.pid) ? true : undefined),
      5000,
    );

    const started = Date.now();
    const result = await runHostRunner({ action: 'sweep' }, { home });
    const elapsedMs = Date.now() - started;

    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    const manifest = parseSweepManifest(result.stdout);
    expect(manifest).toMatchObject({ v: 1, action: 'sweep', status: 'OK' });
    const sweep = manifest!.sweep!;
    // Containers: both of the expired session went; the others stayed.
    expect(await containersLabelled(`debug-task.session=${expired}`)).toEqual([]);
    expect(await containersLabelled(`debug-task.session=${live}`)).toEqual([liveId.slice(0, 12)]);
    expect(await containersLabelled(`debug-task.session=${unreadable}`)).toEqual([unreadableId.slice(0, 12)]);
    expect(sweep.containersRemoved).toBeGreaterThanOrEqual(expiredIds.length);
    expect(sweep.containersKept).toBeGreaterThanOrEqual(2);
    expect(sweep.containersFailed).toBe(0);
    // Watchdogs: only the expired session's, of this work root.
    await waitFor('the stuck watchdog to stop', async () => (alive(stuckWatchdog) ? undefined : true), 5000);
    expect(alive(liveWatchdog)).toBe(true);
    expect(alive(otherRootWatchdog)).toBe(true);
    expect(sweep.watchdogsStopped).toBe(1);
    // Work dirs: the expired session's and the artifact past its keep-until, plus the one that
    // recorded nothing two days ago; kept: a live session, a kept artifact still wanted, a runner
    // still running, a fresh dir without records.
    const dirs = (ids: string[]) => ids.filter((id) => existsSync(join(home, id)));
    expect(dirs([expired, artifactDue, oldUnrecorded])).toEqual([]);
    expect(dirs([live, keptArtifact, runnerAlive, unrecorded])).toEqual([
      live,
      keptArtifact,
      runnerAlive,
      unrecorded,
    ]);
    expect(sweep).toMatchObject({ workDirsRemoved: 3, workDirsKept: 4, workDirsFailed: 0 });
    expect(existsSync(join(home, `${expired}.ended`))).toBe(false);
    expect(existsSync(join(home, `${live}.ended`))).toBe(true);
    expect(existsSync(join(home, 'notes'))).toBe(true);
    expect(existsSync(join(home, `${expired}.pcap`))).toBe(true);
    expect(sweep.sessions).toEqual(expect.arrayContaining([expired, artifactDue, oldUnrecorded]));
    expect(sweep.sessions).not.toContain(live);
    expect(result.stderr).toMatch(/debug-task sweep: removed \d+ container\(s\) and 3 work dir\(s\)/);
    expect(elapsedMs).toBeLessThan(15_000);
  });

  it('finds nothing to do on a second pass over the same work root', async () => {
    const result = await runHostRunner({ action: 'sweep' }, { home });

    expect(result.exitCode).toBe(0);
    expect(parseSweepManifest(result.stdout)?.sweep).toMatchObject({
      workDirsRemoved: 0,
      workDirsFailed: 0,
      watchdogsStopped: 0,
    });
  });

  it('sweeps an empty host without creating its work root', async () => {
    const missing = join(home, 'never-created');

    const result = await runHostRunner({ action: 'sweep' }, { home: missing });

    expect(result.exitCode).toBe(0);
    expect(parseSweepManifest(result.stdout)?.sweep).toMatchObject({ workDirsRemoved: 0, workDirsKept: 0 });
    expect(existsSync(missing)).toBe(false);
  });
});
