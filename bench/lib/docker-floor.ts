import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, waitForFileText } from './proc';
import { nowMs } from './stats';
import type { SuiteContext } from './context';

/**
 * What Docker and Node cost a session by themselves on this machine, with none of our code between:
 * the part of a session's overhead no change of ours can take away (BENCHMARKS.md, figure 2).
 */

export const LISTENING = 'listening on';
export const CAPS = ['--cap-drop', 'ALL', '--cap-add', 'NET_RAW', '--cap-add', 'SETGID'];
export const TCPDUMP = ['tcpdump', '-p', '-Z', 'root', '-n', '-s', '262144', '-w'];

/** Every flag the runner gives the toolbox (limits, labels, mounts, read-only), the target's namespaces. */
function runnerFlags(ctx: SuiteContext, name: string, targetId: string, dir: string): string[] {
  return [
    '--name', name, '--label', `debug-task.bench=${ctx.runId}`, '--label', 'debug-task.expires-at=0',
    '--network', `container:${targetId}`, '--pid', `container:${targetId}`, ...CAPS,
    '--security-opt', 'no-new-privileges', '--read-only',
    '--cpus', '0.5', '--memory', '256m', '--memory-swap', '256m', '--pids-limit', '64',
    '-v', `${dir}:/out`, ctx.image,
  ]; // prettier-ignore
}

function benchName(ctx: SuiteContext): string {
  return `debug-task-bench-${ctx.runId}-${Math.random().toString(36).slice(2, 8)}`;
}

/** `docker run -d` with the runner's flags, to tcpdump's "listening" read from the mounted dir. */
export async function runnerFlagsDockerRun(ctx: SuiteContext, targetId: string): Promise<number> {
  const dir = await mkdtemp(join(ctx.tmp, 'flags-'));
  const name = benchName(ctx);
  try {
    await writeFile(
      join(dir, 'tb.sh'),
      `timeout -s INT 1 ${TCPDUMP.join(' ')} - 2>/out/tool.err | head -c 1000000 >/out/artifact\n`,
    );
    const start = nowMs();
    const seen = waitForFileText(join(dir, 'tool.err'), LISTENING, 30_000);
    await run('docker', ['run', '-d', ...runnerFlags(ctx, name, targetId, dir), 'sh', '/out/tb.sh']);
    return (await seen) - start;
  } finally {
    await run('docker', ['rm', '-f', name], { allowFailure: true });
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * From a container's last act (a file it writes just before its process exits) to `docker wait`
 * returning: Docker's own share of every session's end, as the runner reads nothing of the toolbox
 * before that wait (its output guard). Timed against the file's mtime: one clock, the kernel's, to
 * its tick (4 ms here).
 */
export async function dockerExitToWait(ctx: SuiteContext, targetId: string): Promise<number> {
  const dir = await mkdtemp(join(ctx.tmp, 'exit-'));
  const name = benchName(ctx);
  try {
    await run('docker', [
      'run',
      '-d',
      ...runnerFlags(ctx, name, targetId, dir),
      'sh',
      '-c',
      'sleep 0.3; : >/out/ended',
    ]);
    await run('docker', ['wait', name]);
    const returnedAt = Date.now(); // the wall clock, as the file's mtime
    const ended = await stat(join(dir, 'ended'));
    return returnedAt - ended.mtimeMs;
  } finally {
    await run('docker', ['rm', '-f', name], { allowFailure: true });
    await rm(dir, { recursive: true, force: true });
  }
}

/** `node -e 0`, spawned and awaited: the start every CLI run pays before its first line. */
export async function nodeStart(): Promise<number> {
  return (await run(process.execPath, ['-e', '0'])).ms;
}
