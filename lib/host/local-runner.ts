import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DebugTaskError } from '../domain/errors';
import { HOST_PARAMS, type HostParamName, type HostParamValues } from '../domain/params';
import { RunnerManifestSchema } from '../domain/runner-manifest';
import type { RunnerManifest } from '../domain/session';
import { assertValidHostParams } from '../domain/params';
import { buildRunnerScript } from './runner-script';

/**
 * Runs the built host runner on this machine the way SSM Run Command runs it on a host: the script
 * written to a file and started by bash, every parameter as `SSM_<name>` (defaults applied),
 * stdin closed. Used by `debug-task local` and the host tests.
 */

export interface HostRunnerOptions {
  /** Work root of the runner (DEBUG_TASK_HOME); the runner's default is /var/lib/debug-task. */
  home?: string;
  /** Aborting sends SIGTERM to the runner, whose trap removes everything it started. */
  signal?: AbortSignal;
  /** Each line of the runner's stderr (its progress), as it comes. */
  onStderr?: (line: string) => void;
  /** Extra environment, e.g. DEBUG_TASK_UPLOAD_TRIES in tests. */
  env?: Record<string, string>;
}

export interface HostRunnerResult {
  /** The last stdout line, parsed; undefined when it is missing or not a manifest. */
  manifest: RunnerManifest | undefined;
  /** The runner's exit status; null when a signal ended it. */
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** A runner that ignores SIGTERM this long gets SIGKILL (its watchdog still cleans up). */
const KILL_AFTER_MS = 30_000;
/** Kept of stderr: the end matters most. */
const MAX_STDERR_CHARS = 1_000_000;

/** Environment variables the runner (docker, curl) needs from ours; nothing else leaks in. */
const PASSED_ENV = [
  'PATH',
  'HOME',
  'DOCKER_HOST',
  'DOCKER_CONFIG',
  'DOCKER_CONTEXT',
  'DOCKER_CERT_PATH',
  'DOCKER_TLS_VERIFY',
];

export async function runHostRunner(
  values: HostParamValues,
  opts: HostRunnerOptions = {},
): Promise<HostRunnerResult> {
  assertValidHostParams(values);
  if (opts.signal?.aborted) {
    throw new DebugTaskError('CANCELLED', 'The local session was cancelled before the runner started.');
  }
  const dir = await mkdtemp(join(tmpdir(), 'debug-task-runner-'));
  try {
    const scriptPath = join(dir, '_script.sh');
    await writeFile(scriptPath, buildRunnerScript(), { mode: 0o700 });
    return await runScript(scriptPath, runnerEnv(values, opts), opts);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** SSM_<name> for every parameter, as the agent exports ENV_VAR parameters (defaults applied). */
export function runnerEnv(
  values: HostParamValues,
  opts: Pick<HostRunnerOptions, 'home' | 'env'> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of PASSED_ENV) if (process.env[name] !== undefined) env[name] = process.env[name];
  for (const name of Object.keys(HOST_PARAMS) as HostParamName[]) {
    const param = HOST_PARAMS[name];
    env[`SSM_${name}`] = values[name] ?? ('default' in param ? param.default : '');
  }
  if (opts.home) env.DEBUG_TASK_HOME = opts.home;
  return { ...env, ...opts.env };
}

function runScript(
  scriptPath: string,
  env: NodeJS.ProcessEnv,
  opts: HostRunnerOptions,
): Promise<HostRunnerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [scriptPath], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partialLine = '';
    let killTimer: NodeJS.Timeout | undefined;

    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-MAX_STDERR_CHARS);
      if (!opts.onStderr) return;
      const lines = (partialLine + chunk).split('\n');
      partialLine = lines.pop() ?? '';
      for (const line of lines) opts.onStderr(line);
    });

    const onAbort = (): void => {
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    child.on('error', (error) => {
      opts.signal?.removeEventListener('abort', onAbort);
      reject(
        new DebugTaskError('SANDBOX_UNAVAILABLE', `Could not start bash: ${error.message}`, { cause: error }),
      );
    });
    child.on('close', (code) => {
      opts.signal?.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      if (partialLine && opts.onStderr) opts.onStderr(partialLine);
      resolve({ manifest: parseManifest(stdout), exitCode: code, stdout, stderr });
    });
  });
}

/**
 * The runner's manifest is its last non-empty stdout line, read with the schema every reader uses
 * (lib/domain/runner-manifest.ts); for action=sweep: `parseSweepManifest`.
 */
export function parseManifest(stdout: string): RunnerManifest | undefined {
  const last = stdout.trimEnd().split('\n').pop();
  if (!last) return undefined;
  try {
    const parsed = RunnerManifestSchema.safeParse(JSON.parse(last));
    return parsed.success ? (parsed.data as RunnerManifest) : undefined;
  } catch {
    // Not JSON: the runner died before it could print its manifest.
    return undefined;
  }
}
