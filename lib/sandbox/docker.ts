import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { DebugTaskError } from '../domain/errors';

const run = promisify(execFile);

/**
 * Runs the docker CLI with an argument array (never a shell string); resolves to trimmed stdout.
 * `env` (default: this process's) is where `docker` is found and which engine it talks to (DOCKER_HOST).
 */
export async function docker(args: string[], timeoutMs = 60_000, env?: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await run('docker', args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env });
  return stdout.trim();
}

/**
 * A forced exit's last resort (a second Ctrl-C): removes the containers of a session and of its
 * children (labelled `<id>` or `<id>-NNNN`), synchronously, since the process exits right after.
 */
export function removeSessionContainersNow(sessionId: string): void {
  const listed = spawnSync(
    'docker',
    [
      'ps',
      '-a',
      '--filter',
      'label=debug-task.session',
      '--format',
      '{{.ID}} {{.Label "debug-task.session"}}',
    ],
    { encoding: 'utf8', timeout: 10_000 },
  );
  const ids = (listed.stdout ?? '')
    .split('\n')
    .map((line) => line.split(' '))
    .filter(([, session]) => session === sessionId || session?.startsWith(`${sessionId}-`))
    .map(([id]) => id);
  if (ids.length > 0) spawnSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore', timeout: 10_000 });
}

/** How to get a Docker engine running, per system: the hint of every "no engine" error. */
export const INSTALL_DOCKER_HINT =
  'Debian/Ubuntu: `sudo apt-get install docker.io && sudo systemctl enable --now docker` ' +
  '(then `sudo usermod -aG docker $USER` and log in again, or run as root); ' +
  'other Linux: install Docker Engine (https://docs.docker.com/engine/install/) and start it.';

/**
 * SANDBOX_UNAVAILABLE (exit 5) saying what is wrong (no docker CLI, no permission on the engine's
 * socket, no engine answering) and how to fix it, when no Docker engine answers.
 */
export async function assertDockerAvailable(env?: NodeJS.ProcessEnv): Promise<void> {
  try {
    await docker(['version', '--format', '{{.Server.Version}}'], 10_000, env);
  } catch (cause) {
    throw dockerUnavailable(cause);
  }
}

export function dockerUnavailable(cause: unknown): DebugTaskError {
  const error = cause as NodeJS.ErrnoException & { stderr?: string; killed?: boolean };
  if (error.code === 'ENOENT') {
    return new DebugTaskError('SANDBOX_UNAVAILABLE', 'The docker command is not installed on this machine.', {
      hint: `Install and start Docker: ${INSTALL_DOCKER_HINT}`,
      cause,
      details: { docker: 'not-installed' },
    });
  }
  const said = (error.stderr ?? '').trim().split('\n').at(-1) ?? '';
  if (/permission denied/i.test(said)) {
    return new DebugTaskError(
      'SANDBOX_UNAVAILABLE',
      `The Docker engine refuses this user: ${said.slice(0, 200)}`,
      {
        hint: 'Add yourself to the docker group (`sudo usermod -aG docker $USER`, then log in again), or run as root.',
        cause,
        details: { docker: 'permission-denied' },
      },
    );
  }
  return new DebugTaskError(
    'SANDBOX_UNAVAILABLE',
    `No Docker engine answers on this machine${said ? `: ${said.slice(0, 200)}` : '.'}`,
    {
      hint: `Start it (\`sudo systemctl start docker\`), or install it: ${INSTALL_DOCKER_HINT}`,
      cause,
      details: { docker: 'not-answering' },
    },
  );
}
