import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DebugTaskError } from '../domain/errors';

const run = promisify(execFile);

/** Runs the docker CLI with an argument array (never a shell string); resolves to trimmed stdout. */
export async function docker(args: string[], timeoutMs = 60_000): Promise<string> {
  const { stdout } = await run('docker', args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

/** SANDBOX_UNAVAILABLE (exit 5) with how to start an engine, when no Docker engine answers. */
export async function assertDockerAvailable(): Promise<void> {
  try {
    await docker(['version', '--format', '{{.Server.Version}}'], 10_000);
  } catch (cause) {
    throw new DebugTaskError('SANDBOX_UNAVAILABLE', 'No Docker engine answers on this machine.', {
      hint: 'Start one: `sudo systemctl start docker`, or on a bare Debian machine `sudo ../shared/env/docker-up` (installs docker.io and starts dockerd).',
      cause,
    });
  }
}
