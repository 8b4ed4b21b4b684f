import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { exitCodeOf, runCli, spawnCli, textOf } from '../support/cli';
import { containersOfSession } from '../support/docker';
import { useSandboxWithTarget } from '../support/sandbox-with-target';

jest.setTimeout(300_000);

/**
 * --follow on the local sandbox, the whole path: the runner's chunks (presigned POST to the S3
 * stand-in), the chunks route, the CLI writing them in order. `debug-task <task> --follow -o - |
 * tcpdump -r -` shows packets while the capture still runs, and the stream is the verified artifact.
 */
describe('--follow on the local sandbox', () => {
  const e2e = useSandboxWithTarget('follow');
  const capture = (...more: string[]) => e2e.captureArgs('--filter', 'tcp port 80', ...more);

  /** The session's child as `debug-task status` reports it once the session has ended. */
  async function endedChild(sessionId: string) {
    const status = await runCli(['status', sessionId, '--api-url', e2e.sandbox.apiUrl, '--json'], {
      env: e2e.cliEnv(),
    });
    expect(status.code).toBe(0);
    return status.json().result.children[0] as {
      timings: { captureStartedAt: number; captureEndedAt: number };
      artifact: { sha256: string; bytes: number };
      follow: { chunks: number; failedChunks: number };
    };
  }

  it('-o - | tcpdump -r - shows packets before the capture ends; the stream is the artifact', async () => {
    const cli = spawnCli(capture('--duration', '10s', '--follow', '-o', '-'), {
      env: { ...process.env, ...e2e.cliEnv() },
    });
    // tcpdump reads the stream as it comes (-l: a line as soon as a packet is read).
    const reader = spawn('tcpdump', ['-n', '-l', '-r', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const stream: Buffer[] = [];
    cli.stdout.on('data', (d: Buffer) => {
      stream.push(d);
      reader.stdin.write(d);
    });
    cli.stdout.on('end', () => reader.stdin.end());
    let firstPacketAt: number | undefined;
    let packetLines = 0;
    reader.stdout.on('data', (d: Buffer) => {
      firstPacketAt ??= Date.now();
      packetLines += d
        .toString()
        .split('\n')
        .filter((line) => / IP /.test(line)).length;
    });
    const stderr = textOf(cli.stderr);

    const [code, readerCode] = await Promise.all([exitCodeOf(cli), exitCodeOf(reader)]);

    expect(code).toBe(0);
    expect(readerCode).toBe(0);
    expect(packetLines).toBeGreaterThan(0);
    const sessionId = /session (dt-[a-z0-9]+-[a-z0-9]+) started/.exec(stderr())?.[1];
    expect(sessionId).toBeDefined();
    const child = await endedChild(sessionId!);
    // While tcpdump in the toolbox still captured: before the capture's end as its host recorded it
    // (the same machine's clock), and well before the session ended.
    expect(firstPacketAt).toBeDefined();
    expect(firstPacketAt!).toBeLessThan(child.timings.captureEndedAt);
    const joined = Buffer.concat(stream);
    expect(createHash('sha256').update(joined).digest('hex')).toBe(child.artifact.sha256);
    expect(joined.length).toBe(child.artifact.bytes);
    expect(child.follow.failedChunks).toBe(0);
    expect(child.follow.chunks).toBeGreaterThan(1);
    expect(stderr()).toMatch(
      /follow {4}\d+ chunks streamed while it ran; the stream is the artifact, verified/,
    );
    expect(stderr()).toMatch(/artifact {2}-\n/);
    expect(containersOfSession(sessionId!)).toEqual([]);
  });

  it('-o FILE grows while the capture runs and ends as the verified artifact (--json says how it was streamed)', async () => {
    const file = join(e2e.workdir, 'followed.pcap');
    const cli = spawnCli(capture('--duration', '8s', '--follow', '-o', file, '--json'), {
      env: { ...process.env, ...e2e.cliEnv() },
    });
    const stdout = textOf(cli.stdout);
    // The file's size over time: more than a pcap header (24 bytes) while the CLI still runs.
    let grewAt: number | undefined;
    const watch = setInterval(() => {
      try {
        if (grewAt === undefined && statSync(file).size > 24) grewAt = Date.now();
      } catch {
        // not created yet
      }
    }, 100);
    const code = await exitCodeOf(cli);
    clearInterval(watch);

    expect(code).toBe(0);
    const outcome = JSON.parse(stdout().trim().split('\n').at(-1)!);
    const child = await endedChild(outcome.sessionId);
    expect(grewAt).toBeDefined();
    expect(grewAt!).toBeLessThan(child.timings.captureEndedAt);
    expect(outcome.artifact.path).toBe(file);
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(outcome.artifact.sha256);
    expect(outcome.follow).toMatchObject({
      completedFromArtifactBytes: 0,
      streamedBytes: outcome.artifact.bytes,
    });
    expect(outcome.follow.chunks).toBeGreaterThan(1);
  });

  it('a first Ctrl-C stops and keeps as always: the stream ends with the capture, verified, exit 0', async () => {
    const file = join(e2e.workdir, 'stopped.pcap');
    const cli = spawnCli(capture('--duration', '60s', '--follow', '-o', file, '--json'), {
      env: { ...process.env, ...e2e.cliEnv() },
    });
    const stdout = textOf(cli.stdout);
    const exited = exitCodeOf(cli);
    // Interrupted once packets are streaming (the file holds more than its pcap header).
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const size = (() => {
        try {
          return statSync(file).size;
        } catch {
          return 0;
        }
      })();
      if (size > 24) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    cli.kill('SIGINT');
    const code = await exited;

    expect(code).toBe(0);
    const outcome = JSON.parse(stdout().trim().split('\n').at(-1)!);
    expect(outcome.stoppedEarly.atSeconds).toBeLessThan(60);
    expect(outcome.follow.chunks).toBeGreaterThan(0);
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(outcome.artifact.sha256);
  });

  it('demo --follow -o - streams the same way (its own sandbox), the stream verified', async () => {
    const cli = spawnCli(['demo', '--duration', '6s', '--follow', '-o', '-'], { env: process.env });
    const reader = spawn('tcpdump', ['-n', '-r', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    cli.stdout.pipe(reader.stdin);
    const packets = textOf(reader.stdout);
    const stderr = textOf(cli.stderr);
    const [code, readerCode] = await Promise.all([exitCodeOf(cli), exitCodeOf(reader)]);
    expect(code).toBe(0);
    expect(readerCode).toBe(0);
    expect(packets()).toMatch(/ IP .*\.80[: ]/);
    expect(stderr()).toMatch(
      /follow {4}\d+ chunks? streamed while it ran; the stream is the artifact, verified/,
    );
  });

  it('refuses --follow of a service before anything starts (exit 2): one task is followed', async () => {
    const callsBefore = e2e.sandbox.calls().length;
    const run = await runCli(
      [
        '--service',
        'web',
        '--cluster',
        'sandbox',
        '--tool',
        'tcpdump',
        '--follow',
        '-o',
        '-',
        '--api-url',
        e2e.sandbox.apiUrl,
      ],
      { env: e2e.cliEnv() },
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/Follow one task of it/);
    expect(e2e.sandbox.calls().length).toBe(callsBefore);
  });
});
