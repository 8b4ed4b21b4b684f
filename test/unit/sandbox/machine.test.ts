import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DebugTaskError } from '../../../lib/domain/errors';
import { RUNNER_COMMANDS, assertLinuxHost, assertRunnerCommands } from '../../../lib/sandbox/machine';

/** What demo and local need from the machine besides an engine, said before anything starts. */
describe('the machine demo and local run on', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'debug-task-machine-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is refused unless it is Linux, with SANDBOX_UNAVAILABLE saying why and where to run instead', () => {
    expect(() => assertLinuxHost('linux')).not.toThrow();
    let mac: DebugTaskError | undefined;
    try {
      assertLinuxHost('darwin');
    } catch (error) {
      mac = error as DebugTaskError;
    }
    expect(mac).toBeInstanceOf(DebugTaskError);
    expect(mac).toMatchObject({ code: 'SANDBOX_UNAVAILABLE', exitCode: 5, details: { platform: 'darwin' } });
    expect(mac!.message).toMatch(
      /^debug-task demo and local need Linux: .* on macOS the engine runs in a virtual machine/,
    );
    expect(mac!.hint).toContain('limactl start template://docker');
    expect(() => assertLinuxHost('win32')).toThrow(
      expect.objectContaining({ hint: expect.stringContaining('WSL 2') }),
    );
  });

  it("names the runner's commands missing from PATH and the packages that bring them", async () => {
    await expect(assertRunnerCommands({ PATH: dir })).rejects.toMatchObject({
      code: 'SANDBOX_UNAVAILABLE',
      message: `The host runner runs on this machine, as the SSM agent runs it on an ECS host, and needs ${RUNNER_COMMANDS.map((c) => c.name).join(', ')}, which are not on PATH.`,
      hint: 'Install them: `sudo apt-get install bash curl gzip coreutils util-linux` (Debian/Ubuntu).',
    });
  });

  it('asks for curl alone on a minimal Debian, which has the rest', async () => {
    for (const { name } of RUNNER_COMMANDS.filter((command) => command.name !== 'curl')) {
      symlinkSync(
        execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim(),
        join(dir, name),
      );
    }

    await expect(assertRunnerCommands({ PATH: dir })).rejects.toMatchObject({
      message: expect.stringContaining('needs curl, which is not on PATH.'),
      hint: 'Install it: `sudo apt-get install curl` (Debian/Ubuntu).',
    });
    await expect(assertRunnerCommands()).resolves.toBeUndefined();
  });
});
