import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { HostParamValues } from '../../lib/domain/params';
import { runHostRunner, type HostRunnerOptions, type HostRunnerResult } from '../../lib/host/local-runner';
import { ensureSandboxImages } from '../../lib/sandbox/sandbox-images';
import { requireDocker } from '../support/docker';

/**
 * Real-engine fixtures for the host runner tests. Traffic goes only to loopback and to the
 * containers these tests start; every container carries TEST_LABEL so afterAll can remove it.
 */

const run = promisify(execFile);
export const TEST_LABEL = 'debug-task.host-test';

/** dt-<8..20 [a-z0-9]>-<4..12 [a-z0-9]>, unique per call. */
export function uniqueSessionId(): string {
  const time = Date.now().toString(36).padStart(9, '0');
  return `dt-${time}${randomBytes(2).toString('hex')}-${randomBytes(4).toString('hex')}`;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function docker(args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { timeout: 60_000, maxBuffer: 8 * 1024 * 1024 });
  return stdout.trim();
}

/** Ids of containers, running or not, with a label (`key` or `key=value`). */
export async function containersLabelled(label: string): Promise<string[]> {
  const out = await docker(['ps', '-aq', '--filter', `label=${label}`]);
  return out ? out.split('\n') : [];
}

/** True once no container of the session is left. */
export async function sessionContainersGone(sessionId: string): Promise<true | undefined> {
  return (await containersLabelled(`debug-task.session=${sessionId}`)).length === 0 ? true : undefined;
}

/** True once the session's toolbox container (not a helper) runs. */
export async function toolboxRunning(sessionId: string): Promise<true | undefined> {
  const out = await docker([
    'ps',
    '-q',
    '--filter',
    `name=^debug-task-${sessionId}$`,
    '--filter',
    'status=running',
  ]);
  return out ? true : undefined;
}

export interface Target {
  id: string;
  address: string;
}

/**
 * A container of the local image serving HTTP on port 80, like the demo's task; on the default
 * bridge, or on `network` (one the test created).
 */
export async function startTarget(image: string, runId: string, network?: string): Promise<Target> {
  const labels = ['--label', `${TEST_LABEL}=${runId}`];
  const id = await docker([
    'run',
    '-d',
    ...labels,
    ...(network ? ['--network', network] : []),
    image,
    '/bin/busybox',
    'httpd',
    '-f',
    '-p',
    '80',
    '-h',
    '/www',
  ]);
  const address = await docker([
    'inspect',
    '-f',
    network
      ? `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`
      : '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}',
    id,
  ]);
  return { id, address };
}

/**
 * A container in one of the host's namespaces (`--network host` or `--pid host`, as ECS's
 * networkMode/pidMode host), doing nothing but sleep: it listens on nothing, so it takes no port of
 * the host.
 */
export async function startHostNamespaceTarget(
  namespace: 'network' | 'pid',
  image: string,
  runId: string,
): Promise<string> {
  return docker([
    'run',
    '-d',
    '--label',
    `${TEST_LABEL}=${runId}`,
    `--${namespace}`,
    'host',
    image,
    '/bin/busybox',
    'sleep',
    '600',
  ]);
}

export async function removeTestContainers(runId: string, sessionIds: string[]): Promise<void> {
  const ids = [
    ...(await containersLabelled(`${TEST_LABEL}=${runId}`)),
    ...(await Promise.all(sessionIds.map((id) => containersLabelled(`debug-task.session=${id}`)))).flat(),
  ];
  if (ids.length > 0) await docker(['rm', '-f', ...ids]).catch(() => undefined);
}

/** One HTTP GET; resolves to the status code (0 when the request failed). */
export function httpGet(address: string, port = 80): Promise<number> {
  return new Promise((resolve) => {
    const req = get({ host: address, port, path: '/', timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/**
 * Requests to the target from `parallel` loops until stop() or `maxRequests` in all: bounded in
 * count and time, and only ever to a container this test started.
 */
export function startTraffic(
  address: string,
  opts: { parallel?: number; pauseMs?: number; maxRequests?: number; port?: number } = {},
) {
  const { parallel = 1, pauseMs = 100, maxRequests = 2000, port = 80 } = opts;
  let sent = 0;
  let stopped = false;
  const loop = async (): Promise<void> => {
    while (!stopped && sent < maxRequests) {
      sent++;
      await httpGet(address, port);
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  };
  const loops = Promise.all(Array.from({ length: parallel }, loop));
  return {
    sent: () => sent,
    stop: async () => {
      stopped = true;
      await loops;
    },
  };
}

export interface UploadReceiver {
  /** A presigned-URL look-alike on 127.0.0.1. */
  url: (key: string) => string;
  uploads: Map<string, Buffer>;
  close: () => Promise<void>;
}

/** Stands in for S3: takes PUT bodies on 127.0.0.1 and keeps them by path. */
export async function startUploadReceiver(): Promise<UploadReceiver> {
  const uploads = new Map<string, Buffer>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'PUT') {
        res.writeHead(405).end();
        return;
      }
      uploads.set(new URL(req.url ?? '/', 'http://x').pathname, Buffer.concat(chunks));
      res.writeHead(200, { ETag: '"test"' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (key) => `http://127.0.0.1:${port}/bucket/${key}?X-Amz-Signature=abc123&X-Amz-Expires=900`,
    uploads,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A loopback port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Reads a pcap with the host's tcpdump: its text, and whether it read the whole file cleanly. */
export function readPcap(
  path: string,
  extraArgs: string[] = [],
): { text: string; clean: boolean; stderr: string } {
  try {
    const text = execFileSync('tcpdump', ['-n', '-r', path, ...extraArgs], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
    return { text, clean: true, stderr: '' };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    return { text: failed.stdout ?? '', clean: false, stderr: failed.stderr ?? '' };
  }
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Values for one run; tests override what they are about. maxSessions is high: the engine is shared. */
export function runValues(
  base: { sessionId: string; containerId: string; image: string },
  overrides: HostParamValues = {},
): HostParamValues {
  const durationSeconds = overrides.durationSeconds ?? '3';
  return {
    action: 'run',
    tool: 'tcpdump',
    durationSeconds,
    maxBytes: '5000000',
    maxSessions: '99',
    expiresAt: String(nowSeconds() + Number(durationSeconds) + 30),
    ...base,
    ...overrides,
  };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * What each host test file keeps for its run: a run id (the label of every container it starts),
 * the sessions it made (their toolboxes are removed at the end whatever happened), and a work root
 * of its own (DEBUG_TASK_HOME). `open` in beforeAll, `close` in afterAll.
 */
export class HostTestRun {
  readonly runId: string;
  readonly sessions: string[] = [];
  home = '';

  constructor(private readonly name: string) {
    this.runId = `${name}-${process.pid}-${Date.now().toString(36)}`;
  }

  async open(): Promise<string> {
    this.home = await mkdtemp(join(tmpdir(), `debug-task-${this.name}-test-`));
    return this.home;
  }

  /** A fresh session id, removed with the run. */
  newSession = (): string => {
    const id = uniqueSessionId();
    this.sessions.push(id);
    return id;
  };

  /** What a session left on the host: its containers, and whether its work dir is still there. */
  leftovers = async (sessionId: string) => ({
    containers: await containersLabelled(`debug-task.session=${sessionId}`),
    workDir: existsSync(join(this.home, sessionId)),
  });

  async close(): Promise<void> {
    await removeTestContainers(this.runId, this.sessions);
    if (this.home) await rm(this.home, { recursive: true, force: true });
  }
}

/**
 * An image of `base` with some files replaced (path in the image -> content, mode 755), made with
 * create + cp + commit (no build, no registry). Tagged `debug-task-test/<name>:<runId>`; remove it
 * with `docker rmi` when done.
 */
export async function derivedImage(
  base: string,
  name: string,
  runId: string,
  files: Record<string, string>,
): Promise<string> {
  const tag = `debug-task-test/${name}:${runId.toLowerCase().replace(/[^a-z0-9_.-]/g, '-')}`;
  const dir = await mkdtemp(join(tmpdir(), 'debug-task-image-'));
  const container = await docker(['create', '--label', `${TEST_LABEL}=${runId}`, base, '/bin/sh']);
  try {
    for (const [path, content] of Object.entries(files)) {
      const local = join(dir, path.replace(/\//g, '_'));
      await writeFile(local, content, { mode: 0o755 });
      await docker(['cp', local, `${container}:${path}`]);
    }
    await docker(['commit', container, tag]);
    return tag;
  } finally {
    await docker(['rm', '-f', container]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/** What `useHostTarget` gives a test file, filled in by its beforeAll. */
export interface HostTarget {
  run: HostTestRun;
  /** The toolbox image (this machine's binaries). */
  image: string;
  /** A busybox httpd container of the run, on the default bridge. */
  target: Target;
  /** Stands in for S3's presigned PUTs. */
  receiver: UploadReceiver;
  /** The run's work root (DEBUG_TASK_HOME). */
  home: string;
  /**
   * Runs the built runner as SSM would on this host: a capture of the target by the toolbox image
   * (runValues, with `overrides`), in the run's work root; `options` add a signal or environment.
   */
  runCapture(
    sessionId: string,
    overrides?: HostParamValues,
    options?: Omit<HostRunnerOptions, 'home'>,
  ): Promise<HostRunnerResult>;
  /** action=stop for `sessionId` (a session or one of its children), as SSM would run it here. */
  stop(sessionId: string): Promise<HostRunnerResult>;
  /** Resolves once the session's toolbox runs (fails after `timeoutMs`). */
  toolboxStarted(sessionId: string, timeoutMs?: number): Promise<true>;
  /** HTTP requests to the target (startTraffic) until stop(). */
  traffic(opts?: Parameters<typeof startTraffic>[1]): ReturnType<typeof startTraffic>;
}

/**
 * The setup most runner tests share: the engine (required: the test fails, never skips, without
 * it), the sandbox's images, one target serving HTTP, an upload receiver and a work root; all of
 * it removed after the file. Call at the top level of a test file.
 */
export function useHostTarget(name: string): HostTarget {
  const context = {
    run: new HostTestRun(name),
    runCapture: (sessionId, overrides, options) =>
      runHostRunner(
        runValues({ sessionId, containerId: context.target.id, image: context.image }, overrides),
        { ...options, home: context.home },
      ),
    stop: (sessionId) => runHostRunner({ action: 'stop', sessionId }, { home: context.home }),
    toolboxStarted: (sessionId, timeoutMs = 20_000) =>
      waitFor(`the toolbox of ${sessionId} to run`, () => toolboxRunning(sessionId), timeoutMs),
    traffic: (opts) => startTraffic(context.target.address, opts),
  } as HostTarget;
  beforeAll(async () => {
    requireDocker();
    const images = await ensureSandboxImages();
    context.image = images.toolbox;
    context.target = await startTarget(images.target, context.run.runId);
    context.receiver = await startUploadReceiver();
    context.home = await context.run.open();
  });
  afterAll(async () => {
    await context.receiver?.close();
    await context.run.close();
  });
  return context;
}
