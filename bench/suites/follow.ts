import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { startDemoTarget } from '../../lib/sandbox/demo-target';
import { startSandbox } from '../../lib/sandbox/sandbox';
import { FOLLOW_SECONDS } from '../../lib/domain/follow';
import { BUILT_CLI, ROOT, ensureBuiltCli, sandboxCliEnv } from '../lib/build';
import { removeSessionContainers } from '../lib/containers';
import { median, round, sleep } from '../lib/stats';
import type { SuiteContext } from '../lib/context';

/**
 * --follow's delay (issue 13, item 2): from a packet on the wire to its bytes on the CLI's stdout.
 * The built CLI follows a tcpdump session of the sandbox's demo task with `--follow -o -`; meanwhile
 * this process sends the task HTTP requests whose path is a unique marker, every 1.3 s (so that they
 * fall at every phase of the 2 s chunk interval and of the CLI's 1 s polling), noting when each is
 * sent; the CLI's stdout is scanned for each marker as it arrives. delay = seen on stdout - sent.
 */

export interface FollowBenchResult {
  intervalSeconds: number;
  markers: number;
  /** Markers sent and never seen on stdout (a failed chunk would do it): must be 0. */
  missed: number;
  medianMs: number | null;
  maxMs: number | null;
  delaysMs: number[];
}

const MARKER_EVERY_MS = 1300;

/** One HTTP GET of `path` on port 80 (the answer does not matter: the request's packets do). */
function get(address: string, path: string): Promise<void> {
  return new Promise((resolve) => {
    const req = request({ host: address, port: 80, path, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve());
    req.end();
  });
}

export async function followDelay(ctx: SuiteContext): Promise<FollowBenchResult> {
  await ensureBuiltCli(ctx);
  const durationSeconds = ctx.quick ? 8 : 25;
  const target = await startDemoTarget(ctx.image);
  const sandbox = await startSandbox({ toolboxImage: ctx.image }).catch(async (error: unknown) => {
    await target.stop();
    throw error;
  });
  let sessionId: string | undefined;
  try {
    const cli = spawn(
      process.execPath,
      [
        BUILT_CLI, target.taskArn, '--container', target.containerName, '--tool', 'tcpdump',
        '--filter', 'tcp port 80', '--duration', `${durationSeconds}s`, '--api-url', sandbox.apiUrl,
        '--follow', '-o', '-',
      ], // prettier-ignore
      {
        cwd: ROOT,
        env: sandboxCliEnv(sandbox.credentials),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const sent = new Map<string, number>();
    const seen = new Map<string, number>();
    // The stream as text (latin1: one character a byte), scanned from a little before the new bytes.
    let text = '';
    cli.stdout.on('data', (d: Buffer) => {
      const now = Date.now();
      const from = Math.max(0, text.length - 64);
      text += d.toString('latin1');
      for (const marker of sent.keys()) {
        if (!seen.has(marker) && text.indexOf(marker, from) >= 0) seen.set(marker, now);
      }
    });
    let stderr = '';
    cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => cli.on('close', resolve));

    // Markers from the moment the first bytes (the pcap header) are on stdout: the capture runs.
    while (text.length === 0) {
      if (cli.exitCode !== null) throw new Error(`the CLI ended before streaming: ${stderr.slice(-800)}`);
      await sleep(50);
    }
    const stopAt = Date.now() + (durationSeconds - 3) * 1000;
    for (let i = 0; Date.now() < stopAt; i++) {
      const marker = `/follow-mark-${i.toString().padStart(3, '0')}-${ctx.runId}`;
      sent.set(marker, Date.now());
      await get(target.address, marker);
      await sleep(MARKER_EVERY_MS);
    }
    const code = await exited;
    sessionId = /session (dt-[a-z0-9]+-[a-z0-9]+) started/.exec(stderr)?.[1];
    if (code !== 0) throw new Error(`the followed session failed (exit ${code}): ${stderr.slice(-800)}`);
    const delays = [...sent].flatMap(([marker, at]) => {
      const when = seen.get(marker);
      return when === undefined ? [] : [when - at];
    });
    return {
      intervalSeconds: FOLLOW_SECONDS.default,
      markers: sent.size,
      missed: sent.size - delays.length,
      medianMs: delays.length ? round(median(delays), 0) : null,
      maxMs: delays.length ? Math.max(...delays) : null,
      delaysMs: delays,
    };
  } finally {
    if (sessionId) await removeSessionContainers(sessionId);
    await sandbox.stop();
    await target.stop();
  }
}
