import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { runHostRunner } from '../../lib/host/local-runner';
import { TOOLS, TOOL_NAMES, type ToolName } from '../../lib/domain/tools';
import { ensureLocalToolboxImage } from '../../lib/sandbox/local-image';
import { requireDocker } from '../support/docker';
import {
  docker,
  HostTestRun,
  runValues,
  startTarget,
  startTraffic,
  startUploadReceiver,
  TEST_LABEL,
  type Target,
  type UploadReceiver,
} from './runner-fixtures';

/**
 * Each tool's capability profile on the real engine: the runner starts the toolbox with
 * --cap-drop ALL and exactly the catalog's capabilities (read back from the running container),
 * and the tool captures or traces with them; the same tool with one of them taken away fails. The
 * only traffic is this test's own, to a target it started.
 */

jest.setTimeout(90_000);

const exec = promisify(execFile);
const run = new HostTestRun('profiles');
const { runId, newSession, leftovers } = run;
let image: string;
let target: Target;
let receiver: UploadReceiver;
let home: string;

beforeAll(async () => {
  requireDocker(); // fails (never skips) without an engine
  ({ image } = await ensureLocalToolboxImage());
  target = await startTarget(image, runId);
  receiver = await startUploadReceiver();
  home = await run.open();
});

afterAll(async () => {
  await receiver?.close();
  await run.close();
});

/** Runs `tool` through the runner with traffic; returns the manifest, the artifact's text, the caps seen. */
async function capture(tool: ToolName) {
  const sessionId = newSession();
  const key = `sessions/${sessionId}/artifact`;
  const traffic = startTraffic(target.address, { pauseMs: 100 });
  const running = runHostRunner(
    runValues(
      { sessionId, containerId: target.id, image },
      { tool, durationSeconds: tool === 'snapshot' ? '2' : '3', uploadUrl: receiver.url(key) },
    ),
    { home },
  );
  const seen = await hostConfigOf(`debug-task-${sessionId}`, 60_000);
  const result = await running;
  await traffic.stop();
  const object = receiver.uploads.get(`/bucket/${key}`);
  return { sessionId, result, seen, text: object ? gunzipSync(object).toString('latin1') : '' };
}

/**
 * The container's capabilities, read as soon as it exists (running or exited: the snapshot's lives
 * about a second, until the runner removes it), by inspecting it again and again without a pause.
 */
async function hostConfigOf(name: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const inspected = await docker([
      'inspect',
      '--format',
      '{"add":{{json .HostConfig.CapAdd}},"drop":{{json .HostConfig.CapDrop}},"privileged":{{.HostConfig.Privileged}}}',
      name,
    ]).catch(() => undefined);
    if (inspected) {
      return JSON.parse(inspected) as { add: string[] | null; drop: string[] | null; privileged: boolean };
    }
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${name} to exist.`);
  }
}

/** The tool run directly next to the target with these capabilities only: its status and stderr. */
async function runWithCaps(caps: string[], argv: string[]): Promise<{ status: number; stderr: string }> {
  const traffic = startTraffic(target.address, { pauseMs: 100, maxRequests: 30 });
  try {
    const { stderr } = await exec(
      'docker',
      [
        'run', '--rm', '--label', `${TEST_LABEL}=${runId}`,
        '--network', `container:${target.id}`, '--pid', `container:${target.id}`,
        '--cap-drop', 'ALL', ...caps.flatMap((cap) => ['--cap-add', cap]),
        '--security-opt', 'no-new-privileges', '--read-only',
        image, 'timeout', '-s', 'INT', '2', ...argv,
      ], // prettier-ignore
      { timeout: 30_000 },
    );
    return { status: 0, stderr };
  } catch (error) {
    const failed = error as { code?: number; stderr?: string };
    return { status: failed.code ?? -1, stderr: failed.stderr ?? '' };
  } finally {
    await traffic.stop();
  }
}

/** The tool's argv as the runner passes it (tcpdump and ngrep without promiscuous mode). */
const ARGV: Record<'tcpdump' | 'ngrep' | 'strace', string[]> = {
  tcpdump: ['tcpdump', '-p', '-Z', 'root', '-U', '-n', '-w', '/dev/null'],
  ngrep: ['ngrep', '-p', '-R', '-q', '-t', '-W', 'byline', '-l', 'GET'],
  strace: ['strace', '-f', '-tt', '-p', '1', '-o', '/dev/null'],
};

describe('each tool with exactly its capabilities, on the real engine', () => {
  /** What each tool's artifact shows when it worked with its profile. */
  const WORKED: Record<ToolName, (text: string, packets?: number | null) => void> = {
    // NET_RAW + SETGID, no promiscuous mode: HTTP packets captured.
    tcpdump: (_text, packets) => expect(packets).toBeGreaterThan(0),
    // NET_RAW only: the requests' lines.
    ngrep: (text) => expect(text).toContain('GET / HTTP/1.1'),
    // SYS_PTRACE only: the system calls of the target's main process (busybox httpd).
    strace: (text) => expect(text).toMatch(/accept|poll|clone|fork|wait/),
    // No capability: the target's listening socket, its processes, its address.
    snapshot: (text) => {
      expect(text).toMatch(/LISTEN .*:80 /);
      expect(text).toContain('httpd');
      expect(text).toContain(target.address);
    },
  };

  it.each(TOOL_NAMES)(
    'runs %s with --cap-drop ALL and only the catalog’s capabilities, and it works',
    async (tool) => {
      const { sessionId, result, seen, text } = await capture(tool);

      // Engines differ in how they spell what they were given (`NET_RAW` or `CAP_NET_RAW`).
      const bare = (caps: string[] | null) => caps?.map((cap) => cap.replace(/^CAP_/, '')).sort() ?? null;
      expect({ ...seen, add: bare(seen.add) }).toEqual({
        add: TOOLS[tool].capabilities.length ? [...TOOLS[tool].capabilities].sort() : null,
        drop: ['ALL'],
        privileged: false,
      });
      expect(result.manifest).toMatchObject({ status: 'OK', tool: { name: tool, exitCode: 0 } });
      WORKED[tool](text, result.manifest?.tool.packets);
      expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
    },
  );

  it.each([
    ['tcpdump', 'NET_RAW', /permission to perform this capture|Operation not permitted/],
    ['tcpdump', 'SETGID', /Couldn't change to 'root'/],
    ['ngrep', 'NET_RAW', /permission|Operation not permitted/],
    ['strace', 'SYS_PTRACE', /Operation not permitted/],
  ] as const)('fails to run %s without %s', async (tool, missing, message) => {
    const profile = TOOLS[tool].capabilities;
    const full = await runWithCaps([...profile], ARGV[tool]);
    const without = await runWithCaps(
      profile.filter((cap) => cap !== missing),
      ARGV[tool],
    );

    // timeout -s INT ends a working tool: 124 from timeout, or the tool's own status on SIGINT.
    expect(full.stderr).not.toMatch(message);
    expect(without.status).not.toBe(124);
    expect(without.stderr).toMatch(message);
  });
});
