import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DebugTaskError } from '../../lib/domain/errors';
import { ensureLocalToolboxImage, searchDirs } from '../../lib/sandbox/local-image';
import { ensureSandboxImages } from '../../lib/sandbox/sandbox-images';
import { requireDocker } from '../support/docker';
import { docker, TEST_LABEL } from './runner-fixtures';

jest.setTimeout(180_000);

/**
 * The sandbox's choice of images on the real engine: toolbox/Dockerfile when its base is there, this
 * machine's binaries when the Dockerfile cannot be built, one error when neither can, and an
 * unreachable or silent registry given up in seconds. Each case has its own build context (so its own
 * content-hash tags) and its own tag for the host-binaries image: the machine's images are not used.
 */

const runId = randomBytes(4).toString('hex');
const dirs: string[] = [];
const tags: string[] = [];
/** An image with busybox (sh) that is on the engine already: the base of the test Dockerfiles. */
let base: string;

/** A build context holding `dockerfile` (plus `files`), labelled as this run's. */
function context(dockerfile: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'debug-task-images-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'Dockerfile'), `${dockerfile}\nLABEL ${TEST_LABEL}=${runId}\n`);
  for (const [name, content] of Object.entries(files))
    writeFileSync(join(dir, name), content, { mode: 0o755 });
  return dir;
}

/** A tag for the host-binaries image that no other test uses. */
function localTag(name: string): string {
  const tag = `debug-task-test-${name}:${runId}`;
  tags.push(tag);
  return tag;
}

/** A directory holding links to this machine's `names` only: a machine with fewer tools. */
function binariesDir(names: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'debug-task-bins-'));
  dirs.push(dir);
  for (const name of names) {
    const found = searchDirs()
      .map((d) => join(d, name))
      .find((path) => {
        try {
          accessSync(path, constants.X_OK);
          return true;
        } catch {
          return false;
        }
      });
    if (!found) throw new Error(`${name} is not on this machine (the README's packages install it)`);
    symlinkSync(found, join(dir, name));
  }
  return dir;
}

beforeAll(async () => {
  requireDocker(); // fails (never skips) without an engine, in CI and out of it
  ({ target: base } = await ensureSandboxImages());
});

afterAll(async () => {
  const built = await docker(['images', '-q', '--filter', `label=${TEST_LABEL}=${runId}`]);
  await docker(['rmi', '-f', ...new Set([...built.split('\n').filter(Boolean), ...tags])]).catch(() => '');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('ensureSandboxImages on a real engine', () => {
  it('builds toolbox/Dockerfile when its base image is on the engine, says so once, and reuses it after', async () => {
    const dockerfileDir = context(`FROM ${base}\nLABEL debug-task.tools=busybox,tcpdump`);
    const progress: string[] = [];

    const first = await ensureSandboxImages({
      dockerfileDir,
      localTag: localTag('unused'),
      onProgress: (line) => progress.push(line),
    });
    const again = await ensureSandboxImages({ dockerfileDir, localTag: localTag('unused') });

    expect(first).toMatchObject({ source: 'dockerfile', built: true, tools: ['busybox', 'tcpdump'] });
    expect(first.toolbox).toMatch(/^debug-task-toolbox:df-[0-9a-f]{12}$/);
    // Its toolbox image has busybox: it serves as the demo's target too.
    expect(first.target).toBe(first.toolbox);
    expect(progress).toEqual([
      expect.stringMatching(/^building the toolbox image .* from toolbox\/Dockerfile/),
    ]);
    expect(again).toEqual({ ...first, built: false });
  });

  it("adds Debian's busybox on top for the demo's target when the toolbox image has none", async () => {
    // A stand-in apt-get (no Debian mirror is reachable here) that records what it was asked.
    const aptGet = '#!/bin/sh\necho "$@" >> /apt-get.log\n';
    const dockerfileDir = context(
      `FROM ${base}\nCOPY apt-get /usr/local/bin/apt-get\nLABEL debug-task.tools=tcpdump,ngrep`,
      { 'apt-get': aptGet },
    );

    const images = await ensureSandboxImages({ dockerfileDir, localTag: localTag('unused') });

    expect(images.source).toBe('dockerfile');
    expect(images.target).toBe(images.toolbox.replace('debug-task-toolbox:', 'debug-task-demo-target:'));
    expect(await docker(['run', '--rm', images.target, 'cat', '/apt-get.log'])).toBe(
      'update\ninstall -y --no-install-recommends busybox',
    );
  });

  it("falls back to this machine's binaries when toolbox/Dockerfile cannot be built, and says why", async () => {
    const dockerfileDir = context(`FROM ${base}\nRUN exit 3`);
    const tag = localTag('fallback');
    const progress: string[] = [];

    const images = await ensureSandboxImages({
      dockerfileDir,
      localTag: tag,
      onProgress: (l) => progress.push(l),
    });

    expect(images).toMatchObject({ source: 'host-binaries', built: true, toolbox: tag, target: tag });
    expect(images.tools).toEqual(expect.arrayContaining(['busybox', 'tcpdump']));
    // A line for each attempt: the Dockerfile's, then this one with the reason the first failed.
    expect(progress).toEqual([
      expect.stringMatching(/^building the toolbox image .* from toolbox\/Dockerfile/),
      expect.stringMatching(
        /^building the toolbox image .* from this machine's binaries \(busybox, tcpdump.*\), as toolbox\/Dockerfile cannot be built here: docker build failed: .*returned a non-zero code: 3/,
      ),
    ]);
  });

  it("builds the image from this machine's binaries again once the machine has gained a tool, then reuses it", async () => {
    // A demo run before ngrep was installed (the README's demo needs only tcpdump and busybox).
    const tag = localTag('gained');
    const first = await ensureLocalToolboxImage({ tag, dirs: [binariesDir(['busybox', 'tcpdump'])] });
    expect(first).toMatchObject({ built: true, tools: ['busybox', 'tcpdump'] });

    // ngrep installed since: the next start builds the image again, with it.
    const more = binariesDir(['busybox', 'tcpdump', 'ngrep']);
    const dockerfileDir = context(`FROM ${base}`); // never built: the host-binaries image decides
    const progress: string[] = [];
    const images = await ensureSandboxImages({
      dockerfileDir,
      localTag: tag,
      hostBinaryDirs: [more],
      onProgress: (l) => progress.push(l),
    });
    expect(images).toMatchObject({ source: 'host-binaries', built: true, toolbox: tag });
    expect(images.tools).toEqual(['busybox', 'tcpdump', 'ngrep']);
    expect(progress).toEqual([
      expect.stringMatching(
        /^building the toolbox image .* again .*\(busybox, tcpdump, ngrep\): it has gained a tool/,
      ),
    ]);

    // Nothing gained since: reused as it is.
    const again = await ensureSandboxImages({ dockerfileDir, localTag: tag, hostBinaryDirs: [more] });
    expect(again).toMatchObject({ built: false, tools: ['busybox', 'tcpdump', 'ngrep'] });
  });

  it('names both remedies in one error, in a second, when the base cannot be pulled and binaries are missing', async () => {
    // .invalid never resolves (RFC 2606): the engine's pull fails at its name lookup, on any machine.
    const dockerfileDir = context('FROM registry.invalid/debug-task/none:1');
    const started = Date.now();

    const error = await ensureSandboxImages({
      dockerfileDir,
      localTag: localTag('unused'),
      hostBinaryDirs: [dockerfileDir], // nothing there
    }).catch((e: unknown) => e);

    expect(Date.now() - started).toBeLessThan(5000);
    expect(error).toBeInstanceOf(DebugTaskError);
    const typed = error as DebugTaskError;
    expect(typed.code).toBe('SANDBOX_UNAVAILABLE');
    expect(typed.exitCode).toBe(5);
    expect(typed.message).toMatch(
      /^No toolbox image can be made on this machine: toolbox\/Dockerfile cannot be built \(docker pull registry\.invalid\/debug-task\/none:1 failed: .+\), and the image made from this machine's binaries needs busybox, tcpdump, which are missing\.$/,
    );
    expect(typed.hint).toContain('pull registry.invalid/debug-task/none:1');
    expect(typed.hint).toContain('`sudo apt-get install busybox-static tcpdump` (Debian/Ubuntu)');
  });

  describe('with a registry that takes connections and never answers', () => {
    let server: Server;
    const sockets = new Set<Socket>();
    let connections = 0;
    beforeAll(async () => {
      server = createServer((socket) => {
        connections += 1;
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    });

    it('gives the Dockerfile up after registryAnswerMs, not after the engine’s own timeouts', async () => {
      const { port } = server.address() as { port: number };
      const dockerfileDir = context(`FROM 127.0.0.1:${port}/debug-task/none:1`);
      const started = Date.now();

      const error = await ensureSandboxImages({
        dockerfileDir,
        localTag: localTag('unused'),
        hostBinaryDirs: [dockerfileDir],
        registryAnswerMs: 1000,
      }).catch((e: unknown) => e as DebugTaskError);

      expect(Date.now() - started).toBeLessThan(4000);
      expect(connections).toBeGreaterThan(0); // the engine did reach it: the silence is what was given up
      expect((error as DebugTaskError).message).toContain(
        `the registry did not answer a pull of 127.0.0.1:${port}/debug-task/none:1 within 1 s`,
      );
    });
  });
});
