import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  const lines = execFileSync('tcpdump', ['-nn', '-r', path], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  })
    .trim()
    .split('\n');
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

  it('a Ctrl-C mid-way cancels every child and leaves no toolbox container', async () => {
    const child = spawnCli(['demo', '--replicas', '3', '--duration', '60s', '--json'], {
      cwd: workdir,
      env: { ...process.env },
    });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the fleet never started capturing:\n${stderr}`)),
        180_000,
      );
      child.on('close', (code) => reject(new Error(`the demo ended (${code}) before capturing:\n${stderr}`)));
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/capturing/.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    // Let every toolbox start.
    await new Promise((r) => setTimeout(r, 3000));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

    expect(code).toBe(130);
    // Nothing of this run is left: its toolboxes, its demo tasks (other runs may share this engine).
    const sessionId = /session (dt-[a-z0-9-]+) started/.exec(stderr)?.[1];
    expect(sessionId).toBeDefined();
    expect(containersOfSession(sessionId!)).toEqual([]);
    const tasks = demoTasksOf(stderr);
    expect(tasks).toHaveLength(3);
    expect(containersOfTasks(tasks)).toEqual([]);
  });
});
