import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, spawnCli } from '../support/cli';
import { containersOfSession, containersOfTasks, demoTasksOf } from '../support/docker';
import { useSandboxWithTarget } from '../support/sandbox-with-target';

jest.setTimeout(300_000);

/**
 * Issue 13: Ctrl-C stops and keeps, as in tcpdump; `debug-task stop` does the same from another
 * shell; --snaplen cuts every packet; --ring keeps the last window only. The whole path: CLI -> API -> state machine -> SSM document
 * -> runner -> toolbox, on the sandbox. Leftover checks look at this run's sessions and tasks only.
 */

/** Packets of a pcap, its header's snaplen and its largest captured packet (capinfos, tshark). */
function pcapFacts(path: string): {
  packets: number;
  snaplen: number;
  largest: number;
  largestOnWire: number;
} {
  const info = execFileSync('capinfos', ['-c', '-l', path], { encoding: 'utf8' });
  const lengths = execFileSync(
    'tshark',
    ['-r', path, '-T', 'fields', '-e', 'frame.cap_len', '-e', 'frame.len'],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  )
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t').map(Number));
  return {
    packets: Number(/Number of packets:\s+(\d+)/.exec(info)?.[1]),
    snaplen: Number(/Packet size limit:\s+file hdr: (\d+)/.exec(info)?.[1]),
    largest: Math.max(0, ...lengths.map(([cap]) => cap)),
    largestOnWire: Math.max(0, ...lengths.map(([, wire]) => wire)),
  };
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('debug-task demo and a first Ctrl-C', () => {
  it('stops 3 s into a 60 s capture, exits 0 within seconds and keeps a verified pcap with packets', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'debug-task-e2e-stop-'));
    try {
      const out = join(tmp, 'out.pcap');
      const child = spawnCli(['demo', '--duration', '60s', '-o', out, '--json'], {
        env: { ...process.env, TMPDIR: tmp },
      });
      let stderr = '';
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no capture within 180 s:\n${stderr}`)), 180_000);
        void closed.then((code) =>
          reject(new Error(`the demo ended (${code}) before capturing:\n${stderr}`)),
        );
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          if (/capturing/.test(stderr)) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      await new Promise((r) => setTimeout(r, 3000));

      const interruptedAt = Date.now();
      child.kill('SIGINT');
      const code = await closed;
      const tookSeconds = (Date.now() - interruptedAt) / 1000;

      expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
      expect(tookSeconds).toBeLessThan(30);
      const result = JSON.parse(stdout.trim().split('\n').at(-1)!);
      expect(result).toMatchObject({ status: 'SUCCEEDED', stoppedEarly: { ofSeconds: 60 } });
      expect(result.stoppedEarly.atSeconds).toBeLessThan(30);
      expect(result.timings.captureSeconds).toBeLessThan(30);
      expect(sha256(out)).toBe(result.artifact.sha256);
      const facts = pcapFacts(out);
      expect(facts.packets).toBeGreaterThan(0);
      expect(facts.packets).toBe(result.tool.packets);
      expect(stderr).toMatch(/stopping dt-[a-z0-9-]+: the capture so far is collected and kept/);
      expect(containersOfSession(result.sessionId)).toEqual([]);
      expect(containersOfTasks(demoTasksOf(stderr))).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('debug-task stop and --snaplen on the sandbox', () => {
  const e2e = useSandboxWithTarget('stop');
  const api = () => ['--api-url', e2e.sandbox.apiUrl];

  it('`stop` from a second process ends a 60 s capture early and keeps it; `fetch` downloads it', async () => {
    const started = await runCli(e2e.captureArgs('--duration', '60s', '--no-wait'), { env: e2e.cliEnv() });
    const id = started.stdout.trim();
    expect(id).toMatch(/^dt-/);
    const deadline = Date.now() + 60_000;
    while (containersOfSession(id).length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
    }
    await new Promise((r) => setTimeout(r, 3000));

    const stopAt = Date.now();
    const stop = await runCli(['stop', id, ...api()], { env: e2e.cliEnv() });
    const tookSeconds = (Date.now() - stopAt) / 1000;

    expect({ code: stop.code, stderr: stop.code === 0 ? '' : stop.stderr }).toEqual({ code: 0, stderr: '' });
    expect(stop.stdout).toMatch(
      // Poll sees the stop within its longest wait (10 s): the capture ends well before its minute.
      new RegExp(
        `^${id} {2}SUCCEEDED {2}\\(stopped early, at 0:[0-3]\\d of 1:00; the capture so far is kept`,
      ),
    );
    expect(tookSeconds).toBeLessThan(30);
    expect(containersOfSession(id)).toEqual([]);

    const file = join(e2e.workdir, 'stopped.pcap');
    const fetched = await runCli(['fetch', id, ...api(), '-o', file, '--json'], { env: e2e.cliEnv() });
    expect(fetched.code).toBe(0);
    expect(sha256(file)).toBe(fetched.json().artifact.sha256);
    expect(pcapFacts(file).packets).toBeGreaterThan(0);

    const again = await runCli(['stop', id, ...api()], { env: e2e.cliEnv() });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/SUCCEEDED {2}\(already ended: nothing to stop/);
  });

  it('--ring 3s over a 12 s capture keeps only the last window, and says so', async () => {
    const file = join(e2e.workdir, 'ring.pcap');
    const run = await runCli(e2e.captureArgs('--duration', '12s', '--ring', '3s', '-o', file, '--json'), {
      env: e2e.cliEnv(),
    });

    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    const outcome = run.json();
    expect(outcome.ring).toMatchObject({ windowSeconds: 3, wrapped: true });
    expect(outcome.ring.rotatedOut).toBeGreaterThanOrEqual(5);
    expect(outcome.timings.captureSeconds).toBeGreaterThanOrEqual(11);
    const times = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.time_epoch'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .trim()
      .split('\n')
      .map(Number);
    expect(times.length).toBeGreaterThan(0);
    // The window (3 s), at most one file (1 s) more and the pruner's second: not the 12 s captured.
    expect(times[times.length - 1] - times[0]).toBeLessThanOrEqual(3 + 1 + 1.5);
    expect(Math.abs(Date.parse(outcome.ring.firstPacketAt) - times[0] * 1000)).toBeLessThanOrEqual(1);
    expect(outcome.ring.keptSeconds).toBeLessThanOrEqual(3 + 1 + 1.5);
  });

  it('--snaplen 96 gives a pcap whose header says 96 and no packet over 96 bytes', async () => {
    const file = join(e2e.workdir, 'snap.pcap');
    const run = await runCli(e2e.captureArgs('--duration', '4s', '--snaplen', '96', '-o', file, '--json'), {
      env: e2e.cliEnv(),
    });

    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    const facts = pcapFacts(file);
    expect(facts.snaplen).toBe(96);
    expect(facts.packets).toBeGreaterThan(0);
    expect(facts.largest).toBeLessThanOrEqual(96);
    // The HTTP responses are larger on the wire: the cut is real, not an empty capture.
    expect(facts.largestOnWire).toBeGreaterThan(96);
  });
});
