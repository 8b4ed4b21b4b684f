/**
 * `npm test`'s `pretest`: checks, before any test runs, what the suites need from this machine (a
 * Docker engine that answers, the tools the tests run, a way to make the toolbox image) and prints
 * ONE message listing what is missing and the command that installs it, exiting 1. It never skips
 * anything: a machine that lacks something fails, with CI set or not. Each test that needs Docker
 * still checks it too (test/support/docker.ts), for runs of single files with `npx jest`.
 *
 * Usage: tsx test/prerequisites.ts
 */
import { assertDockerAvailable } from '../lib/sandbox/docker';
import { RUNNER_COMMANDS, assertLinuxHost, onPath } from '../lib/sandbox/machine';
import { missingHostBinaries } from '../lib/sandbox/local-image';

/** A program the tests run, and the packages that bring it. */
export interface TestTool {
  readonly binary: string;
  readonly debian: string;
  /** Homebrew formula; absent: macOS has it. */
  readonly brew?: string;
  /** Only the host and e2e tests run it (they need Linux anyway): not looked for elsewhere. */
  readonly linuxOnly?: boolean;
}

/**
 * What the tests run themselves, and the host runner's own commands (the host and e2e tests run it
 * on this machine, as `demo` does: lib/sandbox/machine.ts).
 */
export const TEST_TOOLS: readonly TestTool[] = [
  { binary: 'bash', debian: 'bash' },
  { binary: 'curl', debian: 'curl' },
  ...RUNNER_COMMANDS.filter(({ name }) => name !== 'bash' && name !== 'curl').map(({ name, apt }) => ({
    binary: name,
    debian: apt,
    linuxOnly: true,
  })),
  { binary: 'tcpdump', debian: 'tcpdump' },
  { binary: 'tshark', debian: 'tshark', brew: 'wireshark' },
  { binary: 'capinfos', debian: 'tshark', brew: 'wireshark' },
  { binary: 'mergecap', debian: 'tshark', brew: 'wireshark' },
  // The SSM document's bootstrap is checked as POSIX sh (test/host/runner-script.test.ts).
  { binary: 'shellcheck', debian: 'shellcheck', brew: 'shellcheck' },
];

/**
 * What the toolbox image made from this machine's binaries carries for the host tests. Always
 * needed: where toolbox/Dockerfile can be built the tests use that image, but they also test the
 * fallback to this one (test/host/sandbox-images.test.ts).
 */
export const IMAGE_TOOLS = ['busybox', 'tcpdump', 'ngrep', 'strace', 'ss', 'ip', 'ps'] as const;

export interface Missing {
  /** Why the Docker engine cannot be used (not installed, not answering, not Linux); absent: fine. */
  readonly docker?: string;
  /** The tools of TEST_TOOLS not on PATH. */
  readonly tools: readonly TestTool[];
  /** The binaries of IMAGE_TOOLS this machine lacks. */
  readonly image: readonly { name: string; apt: string }[];
}

export interface CheckOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly platform?: NodeJS.Platform;
  /** Where the toolbox image's binaries are looked for; default: PATH, then bin and sbin. */
  readonly imageBinaryDirs?: readonly string[];
}

export async function findMissing(options: CheckOptions = {}): Promise<Missing> {
  const env = options.env ?? process.env;
  const platform = options.platform ?? process.platform;
  const tools: TestTool[] = [];
  for (const tool of TEST_TOOLS) {
    if (tool.linuxOnly && platform !== 'linux') continue;
    if (!(await onPath(tool.binary, env.PATH ?? ''))) tools.push(tool);
  }

  let docker: string | undefined;
  try {
    assertLinuxHost(platform);
    await assertDockerAvailable(env);
  } catch (error) {
    // The install line below starts an engine; another fix (the docker group) is said here.
    const { hint, details } = error as { hint?: string; details?: Record<string, unknown> };
    const otherFix = details?.docker === 'permission-denied' || platform !== 'linux';
    docker = `${(error as Error).message}${otherFix && hint ? ` ${hint}` : ''}`;
  }
  // Elsewhere than Linux the host tests cannot run at all: the message says so instead.
  const image = platform === 'linux' ? await missingHostBinaries(IMAGE_TOOLS, options.imageBinaryDirs) : [];
  return { docker, tools, image };
}

/** The one message for what is missing; undefined when nothing is. */
export function renderMissing(
  missing: Missing,
  platform: NodeJS.Platform = process.platform,
): string | undefined {
  const lines: string[] = [];
  const debian = new Set<string>();
  const brew = new Set<string>();
  if (missing.docker) {
    lines.push(`- a Docker engine (the host and e2e tests run containers): ${missing.docker}`);
    if (platform === 'linux') debian.add('docker.io');
  }
  if (missing.tools.length > 0) {
    lines.push(`- ${missing.tools.map((tool) => tool.binary).join(', ')} (the tests run them)`);
    for (const tool of missing.tools) {
      debian.add(tool.debian);
      if (tool.brew) brew.add(tool.brew);
    }
  }
  if (missing.image.length > 0) {
    const names = missing.image.map((binary) => binary.name).join(', ');
    lines.push(`- ${names} (the tests make a toolbox image of this machine's binaries)`);
    for (const binary of missing.image) debian.add(binary.apt);
  }
  if (lines.length === 0) return undefined;

  const fix: string[] = [];
  if (platform === 'linux') {
    const start = missing.docker ? ' && sudo systemctl enable --now docker' : '';
    fix.push(`Debian/Ubuntu: sudo apt-get install -y ${[...debian].join(' ')}${start}`);
  } else {
    if (brew.size > 0) fix.push(`macOS: brew install ${[...brew].join(' ')}`);
    fix.push(
      'The host and e2e tests need Linux: run `npm test` in a Linux VM with Docker (e.g. ' +
        '`limactl start template://docker`); here, `npx jest --selectProjects unit infra pack` runs the rest.',
    );
  }
  return ['npm test needs what this machine lacks:', ...lines, ...fix, 'Nothing was run.'].join('\n');
}

if (require.main === module) {
  findMissing().then(
    (missing) => {
      const message = renderMissing(missing);
      if (message) {
        console.error(message);
        process.exitCode = 1;
      }
    },
    (error: unknown) => {
      console.error(
        `The check of the tests' prerequisites failed: ${(error as Error).stack ?? String(error)}`,
      );
      process.exitCode = 1;
    },
  );
}
