import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tcpdumpLines } from '../support/pcap';
import { runCli, spawnCli } from '../support/cli';
import { containersOfSession, containersOfTasks, demoTasksOf, requireDocker } from '../support/docker';

/**
 * `debug-task demo --replicas N`: N tasks of one service on the sandbox, one service-wide session.
 * Needs the fleet control plane (POST /sessions/preview, the fleet state machine, the runner's
 * `fleet` action): it passes once those are merged with the CLI side.
 */

jest.setTimeout(300_000);

/** The .80 addresses a pcap's packets go to or come from (the demo task's own address). */
function httpPeers(path: string): Set<string> {
  const lines = tcpdumpLines(path);
  const peers = new Set<string>();
  for (const line of lines) {
    const match = /(\d+\.\d+\.\d+\.\d+)\.80[ :]/.exec(line);
    if (match) peers.add(match[1]);
  }
  return peers;
}

describe('debug-task demo --replicas (a service-wide session on the local sandbox)', () => {
  let workdir: string;
  beforeAll(() => {
    requireDocker();
    workdir = mkdtempSync(join(tmpdir(), 'debug-task-e2e-fleet-'));
  });
  afterAll(() => rmSync(workdir, { recursive: true, force: true }));

  it('captures on three tasks at once: three verified artifacts, each with its own task’s packets', async () => {
    const run = await runCli(['demo', '--replicas', '3', '--duration', '5s', '--json'], {
      cwd: workdir,
      timeoutMs: 240_000,
    });

    expect(run.code).toBe(0);
    const result = run.json();
    expect(result).toMatchObject({
      status: 'SUCCEEDED',
      kind: 'fleet',
      counts: { targets: 3, succeeded: 3, failed: 0 },
    });
    expect(result.children).toHaveLength(3);
    const peers: string[] = [];
    for (const child of result.children) {
      expect(child.status).toBe('SUCCEEDED');
      const bytes = readFileSync(child.path);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(child.sha256);
      const own = httpPeers(child.path);
      expect(own.size).toBe(1); // only its own task's traffic
      peers.push(...own);
    }
    expect(new Set(peers).size).toBe(3);
    expect(JSON.parse(readFileSync(join(result.folder, 'manifest.json'), 'utf8'))).toMatchObject({
      kind: 'service',
      sessionId: result.sessionId,
    });
    // Nothing of this run is left (other runs may share this engine).
    expect(containersOfSession(result.sessionId)).toEqual([]);
    const tasks = demoTasksOf(run.stderr);
    expect(tasks).toHaveLength(3);
    expect(containersOfTasks(tasks)).toEqual([]);
  });

  /** A 60 s demo fleet, once every child captures; the stderr seen so far, and its end. */
  async function capturingFleet() {
    const child = spawnCli(['demo', '--replicas', '3', '--duration', '60s', '--json'], {
      cwd: workdir,
      env: { ...process.env },
    });
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the fleet never started capturing:\n${out.stderr}`)),
        180_000,
      );
      void closed.then((code) =>
        reject(new Error(`the demo ended (${code}) before capturing:\n${out.stderr}`)),
      );
      child.stderr.on('data', (d: Buffer) => {
        out.stderr += d.toString();
        if (/capturing/.test(out.stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    // Let every toolbox start.
    await new Promise((r) => setTimeout(r, 3000));
    return { child, out, closed };
  }

  /** Nothing of this run is left: its toolboxes, its demo tasks (other runs may share this engine). */
  function expectNothingLeft(stderr: string): void {
    const sessionId = /session (dt-[a-z0-9-]+) started/.exec(stderr)?.[1];
    expect(sessionId).toBeDefined();
    expect(containersOfSession(sessionId!)).toEqual([]);
    const tasks = demoTasksOf(stderr);
    expect(tasks).toHaveLength(3);
    expect(containersOfTasks(tasks)).toEqual([]);
  }

  it('a first Ctrl-C stops every child early and keeps its capture so far: exit 0, three readable pcaps', async () => {
    const { child, out, closed } = await capturingFleet();

    child.kill('SIGINT');
    const code = await closed;

    expect(code).toBe(0);
    const result = JSON.parse(out.stdout.trim().split('\n').at(-1)!);
    expect(result).toMatchObject({
      status: 'SUCCEEDED',
      kind: 'fleet',
      counts: { targets: 3, succeeded: 3 },
    });
    expect(result.stoppedEarly).toMatchObject({ ofSeconds: 60 });
    expect(result.stoppedEarly.atSeconds).toBeLessThan(60);
    const peers: string[] = [];
    for (const fleetChild of result.children) {
      const bytes = readFileSync(fleetChild.path);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(fleetChild.sha256);
      // tcpdump reads it; a few seconds may hold none of the demo's requests, never another task's.
      const own = httpPeers(fleetChild.path);
      expect(own.size).toBeLessThanOrEqual(1);
      peers.push(...own);
    }
    expect(peers.length).toBeGreaterThan(0);
    expect(new Set(peers).size).toBe(peers.length);
    expectNothingLeft(out.stderr);
  });

  it('a second Ctrl-C cancels every child: exit 130, no toolbox container left', async () => {
    const { child, out, closed } = await capturingFleet();

    child.kill('SIGINT');
    // Two signals sent at once are one to the kernel: the second goes once the first was seen.
    for (let i = 0; i < 200 && !/stopping/.test(out.stderr); i++) await new Promise((r) => setTimeout(r, 50));
    expect(out.stderr).toMatch(/stopping/);
    child.kill('SIGINT');
    const code = await closed;

    expect(code).toBe(130);
    expect(JSON.parse(out.stdout.trim().split('\n').at(-1)!).error.code).toBe('CANCELLED');
    expectNothingLeft(out.stderr);
  });
});
