import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { DebugTaskError } from '../domain/errors';

/**
 * What `demo`, `local` and the sandbox need from this machine beyond a Docker engine: they run the
 * host runner (lib/host/runner.sh) here, with bash, as the SSM agent runs it on an ECS host.
 */

/**
 * The commands the runner runs on the host itself (not in the toolbox), each with the Debian package
 * that brings it. Most are in every Debian/Ubuntu; curl is not in a minimal one, and without it the
 * capture would be made and then fail to upload.
 */
export const RUNNER_COMMANDS: readonly { readonly name: string; readonly apt: string }[] = [
  { name: 'bash', apt: 'bash' },
  { name: 'curl', apt: 'curl' },
  { name: 'gzip', apt: 'gzip' },
  { name: 'sha256sum', apt: 'coreutils' },
  { name: 'timeout', apt: 'coreutils' },
  { name: 'flock', apt: 'util-linux' },
  { name: 'setsid', apt: 'util-linux' },
];

/**
 * The runner bind-mounts its own work directory into the toolbox container and the demo reaches its
 * task at the container's address. Docker Desktop on macOS or Windows runs the engine in a VM, where
 * neither holds; so these commands need Linux (WSL 2 is Linux).
 */
export function assertLinuxHost(platform: NodeJS.Platform = process.platform): void {
  if (platform === 'linux') return;
  const system = platform === 'darwin' ? 'macOS' : platform === 'win32' ? 'Windows' : platform;
  throw new DebugTaskError(
    'SANDBOX_UNAVAILABLE',
    `debug-task demo and local need Linux: they run the host runner (bash) on this machine next to the ` +
      `Docker engine, bind-mounting its files into containers and reaching containers by their address, ` +
      `and on ${system} the engine runs in a virtual machine where neither works.`,
    {
      hint:
        platform === 'win32'
          ? 'Run them inside WSL 2 (Ubuntu) with Docker installed there, or on a Linux machine.'
          : 'Run them inside a Linux VM that has Docker and Node.js (for example Lima: ' +
            '`limactl start template://docker`, then `lima` and install Node.js 20+), or on a Linux machine. ' +
            'Everything else (deploy, sessions on ECS, tools, doctor) works on macOS as it is.',
      details: { platform },
    },
  );
}

/** SANDBOX_UNAVAILABLE naming the runner's commands missing from PATH, and the packages to install. */
export async function assertRunnerCommands(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const missing: (typeof RUNNER_COMMANDS)[number][] = [];
  for (const command of RUNNER_COMMANDS)
    if (!(await onPath(command.name, env.PATH ?? ''))) missing.push(command);
  if (missing.length === 0) return;
  const names = missing.map((command) => command.name).join(', ');
  throw new DebugTaskError(
    'SANDBOX_UNAVAILABLE',
    `The host runner runs on this machine, as the SSM agent runs it on an ECS host, and needs ${names}, ` +
      `which ${missing.length > 1 ? 'are' : 'is'} not on PATH.`,
    {
      hint: `Install ${missing.length > 1 ? 'them' : 'it'}: \`sudo apt-get install ${[...new Set(missing.map((c) => c.apt))].join(' ')}\` (Debian/Ubuntu).`,
      details: { missing: missing.map((command) => command.name) },
    },
  );
}

/** Whether an executable `name` is in one of PATH's directories. */
export async function onPath(name: string, path: string): Promise<boolean> {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    try {
      await access(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}
