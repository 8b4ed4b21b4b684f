import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { runHostRunner } from '../../lib/host/local-runner';
import type { HostParamValues } from '../../lib/domain/params';
import { ensureLocalToolboxImage } from '../../lib/sandbox/local-image';
import { requireDocker } from '../support/docker';
import {
  docker,
  HostTestRun,
  runValues,
  startTarget,
  startTraffic,
  startUploadReceiver,
  type Target,
  type UploadReceiver,
} from './runner-fixtures';

/**
 * Issue 16, points 3, 6 and 9 on the real engine: the capture's clock starts when the tool listens
 * (a 3 s tcpdump capture of steady traffic spans at least 2.5 s, measured by Wireshark's capinfos,
 * and the manifest's capture time agrees); ngrep's match expression, strace's syscall list and pid
 * reach the tools as their own argv words; an interface the task does not have is the session's
 * failure on its host (exit 4), naming the interfaces it has. The only traffic is this test's own.
 */

jest.setTimeout(90_000);

const exec = promisify(execFile);
const run = new HostTestRun('clock-args');
const { runId, newSession, leftovers } = run;
let image: string;
let target: Target;
let receiver: UploadReceiver;
let home: string;
let scratch: string;

beforeAll(async () => {
  requireDocker(); // fails (never skips) without an engine
  ({ image } = await ensureLocalToolboxImage());
  target = await startTarget(image, runId);
  receiver = await startUploadReceiver();
  home = await run.open();
  scratch = await mkdtemp(join(tmpdir(), 'debug-task-clock-'));
});

afterAll(async () => {
  await receiver?.close();
  await run.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** One session through the runner with steady traffic to the target; its result and artifact. */
async function capture(overrides: HostParamValues) {
  const sessionId = newSession();
  const key = `sessions/${sessionId}/artifact`;
  const traffic = startTraffic(target.address, { pauseMs: 50, maxRequests: 400 });
  try {
    const result = await runHostRunner(
      runValues({ sessionId, containerId: target.id, image }, { uploadUrl: receiver.url(key), ...overrides }),
      { home },
    );
    const object = receiver.uploads.get(`/bucket/${key}`);
    return { sessionId, result, artifact: object ? gunzipSync(object) : Buffer.alloc(0) };
  } finally {
    await traffic.stop();
  }
}

describe("the capture's clock", () => {
  it('starts when tcpdump listens: a 3 s capture of steady traffic spans at least 2.5 s, as its manifest says', async () => {
    const { sessionId, result, artifact } = await capture({ tool: 'tcpdump', durationSeconds: '3' });

    expect(result.manifest).toMatchObject({ status: 'OK', tool: { name: 'tcpdump', exitCode: 0 } });
    const file = join(scratch, `${sessionId}.pcap`);
    await writeFile(file, artifact);
    // capinfos -u: the time between the first and the last packet of the file.
    const { stdout } = await exec('capinfos', ['-u', '-T', '-r', '-M', file]);
    const span = Number(stdout.trim().split('\t').pop());
    expect(span).toBeGreaterThanOrEqual(2.5);
    const { captureStartedAt, captureEndedAt } = result.manifest!.timings;
    const captured = (captureEndedAt! - captureStartedAt!) / 1000;
    expect(captured).toBeGreaterThanOrEqual(3);
    expect(captured).toBeLessThan(4);
    expect(captured).toBeGreaterThanOrEqual(span);
    expect(result.manifest).not.toHaveProperty('warnings');
    expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
  });

  it('says so in the manifest when nothing was captured, and still succeeds', async () => {
    const { result } = await capture({ tool: 'tcpdump', durationSeconds: '2', filter: 'udp port 9' });

    expect(result.exitCode).toBe(0);
    expect(result.manifest).toMatchObject({ status: 'OK', tool: { packets: 0 } });
    expect(result.manifest!.warnings).toEqual([expect.stringMatching(/^0 packets captured: the filter/)]);
  });
});

describe("the tools' own arguments", () => {
  it('gives ngrep the match expression: only the payloads it matches are kept', async () => {
    const matching = await capture({ tool: 'ngrep', durationSeconds: '2', match: 'GET /' });
    const none = await capture({ tool: 'ngrep', durationSeconds: '2', match: 'NO-SUCH-TEXT' });

    expect(matching.result.manifest).toMatchObject({ status: 'OK', tool: { exitCode: 0 } });
    expect(matching.artifact.toString('latin1')).toContain('GET / HTTP/1.1');
    // ngrep names the expression it matches with ("match: GET /", or "match (JIT): GET /" with PCRE's JIT).
    expect(matching.artifact.toString('latin1')).toMatch(/^match( \(JIT\))?: GET \/ *$/m);
    // The target's answers (HTTP/1.0 200 or 404) do not match, so none is kept.
    expect(matching.artifact.toString('latin1')).not.toMatch(/^HTTP\/1\.[01] /m);
    expect(none.result.manifest).toMatchObject({ status: 'OK', tool: { exitCode: 0 } });
    expect(none.artifact.toString('latin1')).not.toContain('GET /');
  });

  it('gives strace its syscall list: every line traced is one of them', async () => {
    const { result, artifact } = await capture({
      tool: 'strace',
      durationSeconds: '2',
      syscalls: 'accept,accept4,poll,wait4',
    });

    expect(result.manifest).toMatchObject({ status: 'OK', tool: { name: 'strace', exitCode: 0 } });
    // "PID HH:MM:SS.micro name(args..." (resumed and exit lines aside).
    const names = [...artifact.toString('latin1').matchAll(/^\d+ +[0-9:.]+ ([a-z0-9_]+)\(/gm)].map(
      (m) => m[1],
    );
    expect(names.length).toBeGreaterThan(0);
    expect(new Set(names)).toEqual(new Set(names.filter((n) => /^(accept4?|poll|wait4)$/.test(n))));
  });

  it('traces the process --pid names in the task, not its main process', async () => {
    // A shell loop in the target's pid namespace, orphaned to its main process; $! is its pid there.
    const pid = (
      await docker([
        'exec',
        target.id,
        'sh',
        '-c',
        'sh -c "while :; do sleep 0.2; done" </dev/null >/dev/null 2>&1 & echo $!',
      ])
    ).trim();

    const { result, artifact } = await capture({ tool: 'strace', durationSeconds: '2', pid });

    expect(result.manifest).toMatchObject({ status: 'OK', tool: { name: 'strace', exitCode: 0 } });
    const pids = new Set([...artifact.toString('latin1').matchAll(/^(\d+) /gm)].map((m) => m[1]));
    expect(pids.has(pid)).toBe(true);
    expect(pids.has('1')).toBe(false);
  });

  it('fails the session on its host (CAPTURE_FAILED, exit 4) for a pid the task does not have', async () => {
    const { result } = await capture({ tool: 'strace', durationSeconds: '2', pid: '4999999' });

    expect(result.exitCode).toBe(4);
    expect(result.manifest).toMatchObject({
      status: 'FAILED',
      error: { code: 'CAPTURE_FAILED', message: expect.stringMatching(/No such process/) },
    });
  });
});

describe('an interface the task does not have', () => {
  it("is the session's failure on its host (exit 4, not 2), naming the interfaces the task has", async () => {
    const { sessionId, result } = await capture({ tool: 'tcpdump', iface: 'eth9' });

    expect(result.exitCode).toBe(4);
    expect(result.manifest).toMatchObject({
      sessionId,
      status: 'FAILED',
      error: { code: 'CAPTURE_FAILED', message: expect.stringMatching(/eth9 .*\(it has: .*eth0/) },
    });
    expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
  });
});
