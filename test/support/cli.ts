import {
  spawn,
  type ChildProcess,
  type ChildProcessWithoutNullStreams,
  type SpawnOptions,
} from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The last line of stdout, parsed (the --json contract). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON shapes
  json: () => Record<string, any>;
}

const ROOT = join(__dirname, '..', '..');

/**
 * Starts the real CLI (bin/debug-task.ts) in ONE process, as a user's `debug-task` is: node with
 * tsx's loader (`--import tsx`), not the tsx command, which is a second process that relays
 * signals and SIGKILLs its child when it does not acknowledge one within 30 ms: a Ctrl-C test
 * would then test tsx under load, not the CLI's own cleanup.
 */
export function spawnCli(args: string[], options: SpawnOptions = {}): ChildProcessWithoutNullStreams {
  const tsx = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  return spawn(process.execPath, ['--import', tsx, join(ROOT, 'bin', 'debug-task.ts'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options,
  }) as ChildProcessWithoutNullStreams;
}

/** Runs the real CLI as a user would (`spawnCli`), with a time limit. */
export function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        code,
        stdout,
        stderr,
        json: () => JSON.parse(stdout.trim().split('\n').at(-1) ?? 'null'),
      });
    });
  });
}

/** A child's exit code, once it has exited and its output streams have closed. */
export function exitCodeOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.on('close', resolve));
}

/** What `stream` has given so far, as text (read it after the process has closed for all of it). */
export function textOf(stream: Readable): () => string {
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return () => text;
}
