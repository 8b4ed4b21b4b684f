import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pullImage } from '../../../lib/sandbox/sandbox-images';

/**
 * `docker pull` with a deadline for the registry's first answer. No registry is reachable here, so
 * the engine's side is played by a stub `docker` on PATH that prints what the real CLI prints (its
 * first stdout line comes once the registry has answered with the manifest). The real engine's
 * failures are in test/host/sandbox-images.test.ts.
 */
describe('pullImage', () => {
  let dir: string;
  /** The environment the pull runs with: the stub first on PATH. */
  let env: NodeJS.ProcessEnv;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'debug-task-pull-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function stubDocker(script: string): void {
    writeFileSync(join(dir, 'docker'), `#!/bin/sh\necho $$ > "${dir}/pid"\n${script}\n`, { mode: 0o755 });
    env = { ...process.env, PATH: `${dir}${delimiter}${process.env.PATH}` };
  }

  it('resolves once the pull ends, however long the download takes after the registry answered', async () => {
    stubDocker(
      'echo "bookworm-slim: Pulling from library/debian"\nsleep 1\necho "Status: Downloaded newer image"',
    );
    const answered = jest.fn();

    await pullImage('debian:bookworm-slim', { answerWithinMs: 300, onAnswered: answered, env });

    expect(answered).toHaveBeenCalledTimes(1);
  });

  it('gives up at once when the registry has not answered within the deadline, and ends the pull', async () => {
    stubDocker('exec sleep 30');
    const started = Date.now();

    await expect(pullImage('debian:bookworm-slim', { answerWithinMs: 300, env })).rejects.toThrow(
      'the registry did not answer a pull of debian:bookworm-slim within 0.3 s',
    );

    expect(Date.now() - started).toBeLessThan(2000);
    const pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  });

  it("rejects with the engine's own last line when the pull fails", async () => {
    stubDocker(
      'echo "Error response from daemon: manifest for debian:nope not found: manifest unknown" >&2\nexit 1',
    );

    await expect(pullImage('debian:nope', { answerWithinMs: 300, env })).rejects.toThrow(
      'docker pull debian:nope failed: Error response from daemon: manifest for debian:nope not found: manifest unknown',
    );
  });

  it('gives up a download that runs past its total time', async () => {
    stubDocker('echo "x: Pulling from y"\nexec sleep 30');

    await expect(pullImage('x', { answerWithinMs: 300, totalMs: 500, env })).rejects.toThrow(
      'the pull of x took over 0.5 s',
    );
  });
});
