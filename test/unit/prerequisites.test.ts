import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findMissing, renderMissing } from '../prerequisites';

/**
 * npm test's pretest (test/prerequisites.ts): what the suites need from the machine, in one message.
 * A machine that lacks things is played by an empty PATH and a Docker host that does not exist; the
 * machine with everything is checked in test/host/prerequisites.test.ts (it needs the engine).
 */

const ROOT = join(__dirname, '..', '..');
const NO_ENGINE = 'unix:///nonexistent/docker.sock';

describe("npm test's check of its prerequisites", () => {
  let empty: string;
  beforeAll(() => (empty = mkdtempSync(join(tmpdir(), 'debug-task-empty-'))));
  afterAll(() => rmSync(empty, { recursive: true, force: true }));

  it('lists everything missing (engine, tools, image binaries) in one message with one install command', async () => {
    const missing = await findMissing({
      env: { PATH: empty, DOCKER_HOST: NO_ENGINE },
      platform: 'linux',
      imageBinaryDirs: [empty],
    });

    const message = renderMissing(missing, 'linux')!;

    expect(message.split('\n')).toEqual([
      'npm test needs what this machine lacks:',
      '- a Docker engine (the host and e2e tests run containers): The docker command is not installed on this machine.',
      '- bash, curl, gzip, sha256sum, timeout, flock, setsid, tcpdump, tshark, capinfos, mergecap, shellcheck (the tests run them)',
      "- busybox, tcpdump, ngrep, strace, ss, ip, ps (the tests make a toolbox image of this machine's binaries)",
      'Debian/Ubuntu: sudo apt-get install -y docker.io bash curl gzip coreutils util-linux tcpdump tshark shellcheck busybox-static ngrep strace iproute2 procps && sudo systemctl enable --now docker',
      'Nothing was run.',
    ]);
  });

  it('names an engine that does not answer, and starts it with the same install line', async () => {
    const missing = await findMissing({ env: { ...process.env, DOCKER_HOST: NO_ENGINE }, platform: 'linux' });

    expect(missing.docker).toMatch(/^No Docker engine answers on this machine: .*nonexistent\/docker\.sock/);
    expect(renderMissing({ ...missing, tools: [], image: [] }, 'linux')).toContain(
      'sudo apt-get install -y docker.io && sudo systemctl enable --now docker',
    );
  });

  it('on macOS, says the host and e2e tests need Linux, what runs there, and the brew formula', async () => {
    const missing = await findMissing({ env: { PATH: empty }, platform: 'darwin' });

    const message = renderMissing(missing, 'darwin')!;

    expect(message).toContain('debug-task demo and local need Linux');
    expect(message).toContain('macOS: brew install wireshark');
    expect(message).toContain('`npx jest --selectProjects unit infra pack` runs the rest');
    expect(message).not.toContain('apt-get');
    expect(missing.image).toEqual([]);
  });

  it('says nothing when nothing is missing', () => {
    expect(renderMissing({ tools: [], image: [] }, 'linux')).toBeUndefined();
  });

  it('stops npm test before any test runs: exit 1, the message on stderr', () => {
    const run = spawnSync(
      join(ROOT, 'node_modules', '.bin', 'tsx'),
      [join(ROOT, 'test', 'prerequisites.ts')],
      {
        env: { ...process.env, DOCKER_HOST: NO_ENGINE },
        encoding: 'utf8',
      },
    );

    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^npm test needs what this machine lacks:\n- a Docker engine/);
    const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts;
    expect(scripts.pretest).toBe('tsx test/prerequisites.ts');
  });

  it('asks for no package that the README and CI do not install', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const readmeLine =
      /\*\*Debian\/Ubuntu\*\*: `sudo apt-get install -y ([^`]+)`/.exec(readme)?.[1].split(' ') ?? [];
    const ciRun = readFileSync(join(ROOT, '.ci', 'run'), 'utf8');
    const ciList = /for pkg in ([^;]+); do/.exec(ciRun)?.[1].split(' ') ?? [];
    // Everything missing, so every package the check can ask for, but those every Debian has.
    const all = await findMissing({ env: { PATH: empty }, platform: 'linux', imageBinaryDirs: [empty] });
    const essential = ['bash', 'gzip', 'coreutils', 'util-linux'];
    const asked = [...all.tools.map((tool) => tool.debian), ...all.image.map((binary) => binary.apt)].filter(
      (pkg) => !essential.includes(pkg),
    );

    expect(asked).toEqual(expect.arrayContaining(['tshark', 'busybox-static', 'iproute2']));
    expect(readmeLine).toEqual(expect.arrayContaining(['docker.io', ...asked]));
    expect(ciList).toEqual(expect.arrayContaining(asked));
  });
});
