import { once } from 'node:events';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { SandboxReady } from '../../lib/cli/commands/sandbox';
import { spawnCli } from './cli';

export interface RunningSandbox {
  child: ChildProcessWithoutNullStreams;
  ready: Promise<SandboxReady>;
  stderr: () => string;
}

/** Starts `debug-task sandbox` and resolves with its ready line (or fails with its stderr). */
export function startSandboxCommand(args: string[]): RunningSandbox {
  const child = spawnCli(['sandbox', ...args]);
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = new Promise<SandboxReady>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n')) resolve(JSON.parse(line) as SandboxReady);
    });
    child.on('close', (code) => reject(new Error(`sandbox exited ${code} before it was ready:\n${stderr}`)));
  });
  return { child, ready, stderr: () => stderr };
}

/** SIGTERM, as a user's Ctrl-C or a service manager stops it; resolves with its exit code. */
export async function stopSandboxCommand(sandbox: RunningSandbox): Promise<number | null> {
  if (sandbox.child.exitCode !== null) return sandbox.child.exitCode;
  sandbox.child.kill('SIGTERM');
  const [code] = (await once(sandbox.child, 'close')) as [number | null];
  return code;
}
