import { spawn, type SpawnOptions } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { nowMs } from './stats';

/** Child processes of the benchmark: every one has a time limit, output is captured. */

export interface ProcResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, ms. */
  ms: number;
}

export class ProcError extends Error {
  constructor(
    message: string,
    readonly result: ProcResult,
  ) {
    super(`${message}\n${result.stderr.slice(-1500)}`);
  }
}

export interface RunOpts extends Pick<SpawnOptions, 'cwd' | 'env'> {
  timeoutMs?: number;
  /** Resolve instead of rejecting on a non-zero exit. */
  allowFailure?: boolean;
  /** Called once per stderr line as it arrives, with the time it arrived (nowMs). */
  onStderrLine?: (line: string, atMs: number) => void;
}

export function run(command: string, args: readonly string[], opts: RunOpts = {}): Promise<ProcResult> {
  return new Promise((resolve, reject) => {
    const start = nowMs();
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (!opts.onStderrLine) return;
      const at = nowMs();
      const lines = (partial + d).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) opts.onStderrLine(line, at);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const result = { code, stdout, stderr, ms: nowMs() - start };
      if (code !== 0 && !opts.allowFailure) {
        reject(new ProcError(`${command} ${args.slice(0, 4).join(' ')} ... exited ${code}`, result));
      } else resolve(result);
    });
  });
}

/** A process started in the background, whose stderr is watched for a line. */
export interface Watched {
  /** Resolves to the time (nowMs) the text first appeared on stderr. */
  sawText: Promise<number>;
  done: Promise<ProcResult>;
  kill(signal?: NodeJS.Signals): void;
}

export function spawnWatching(
  command: string,
  args: readonly string[],
  text: string,
  opts: RunOpts = {},
): Watched {
  let seen: (at: number) => void = () => undefined;
  let seenFailed: (error: Error) => void = () => undefined;
  const sawText = new Promise<number>((resolve, reject) => {
    seen = resolve;
    seenFailed = reject;
  });
  let found = false;
  let buffer = '';
  const start = nowMs();
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    if (found) return;
    buffer = (buffer + d).slice(-4096);
    if (buffer.includes(text)) {
      found = true;
      seen(nowMs());
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const done = new Promise<ProcResult>((resolve, reject) => {
    child.on('error', (error) => {
      clearTimeout(timer);
      seenFailed(error);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const result = { code, stdout, stderr, ms: nowMs() - start };
      if (!found) seenFailed(new ProcError(`${command} ended (${code}) before printing "${text}"`, result));
      resolve(result);
    });
  });
  sawText.catch(() => undefined); // callers that never await it must not see an unhandled rejection
  return { sawText, done, kill: (signal = 'SIGTERM') => child.kill(signal) };
}

/** Polls a file until it contains `text`; resolves to the time (nowMs) it was seen. */
export async function waitForFileText(path: string, text: string, timeoutMs: number): Promise<number> {
  const deadline = nowMs() + timeoutMs;
  while (nowMs() < deadline) {
    const content = await readFile(path, 'utf8').catch(() => '');
    if (content.includes(text)) return nowMs();
    await new Promise((resolve) => setTimeout(resolve, 3));
  }
  throw new Error(`"${text}" did not appear in ${path} within ${timeoutMs} ms`);
}
