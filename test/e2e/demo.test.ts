import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tcpdumpLines } from '../support/pcap';
import { runCli } from '../support/cli';
import { containersOfSession, containersOfTasks, demoTasksOf, requireDocker } from '../support/docker';

jest.setTimeout(240_000);

/**
 * What the demo left of its own in the temporary folder it was given (TMPDIR: its own, so other
 * runs on this machine do not count; tsx, which runs the CLI here, keeps its cache there too).
 */
const leftIn = (dir: string) => readdirSync(dir).filter((d) => d.startsWith('debug-task'));

describe('debug-task demo (the whole path on the local sandbox)', () => {
  let workdir: string;
  beforeAll(() => {
    requireDocker();
    workdir = mkdtempSync(join(tmpdir(), 'debug-task-e2e-'));
  });
  afterAll(() => rmSync(workdir, { recursive: true, force: true }));

  it('captures the demo task’s HTTP traffic into a verified pcap and leaves nothing behind', async () => {
    const tmp = mkdtempSync(join(workdir, 'tmp-'));

    const run = await runCli(['demo', '--duration', '3s', '--json'], { cwd: workdir, env: { TMPDIR: tmp } });

    expect(run.code).toBe(0);
    const result = run.json();
    expect(result).toMatchObject({
      status: 'SUCCEEDED',
      tool: { name: 'tcpdump' },
      artifact: { format: 'pcap' },
    });
    const pcap = readFileSync(result.artifact.path);
    expect(createHash('sha256').update(pcap).digest('hex')).toBe(result.artifact.sha256);
    expect(pcap.length).toBe(result.artifact.bytes);
    // A real peer reads it: tcpdump prints one line per packet; the demo's requests are on port 80.
    const packets = tcpdumpLines(result.artifact.path);
    expect(packets.length).toBeGreaterThan(20);
    expect(packets.every((line) => /\.80[ :]/.test(line))).toBe(true);
    const requests = execFileSync(
      'tshark',
      ['-r', result.artifact.path, '-Y', 'http.request', '-T', 'fields', '-e', 'http.request.method'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    expect(
      requests
        .trim()
        .split('\n')
        .filter((m) => m === 'GET').length,
    ).toBeGreaterThan(5);
    // The clock starts when tcpdump listens (issue 16): the file spans the duration asked for, and
    // the summary's capture time is at least what the file covers (capinfos -u: first to last packet).
    const span = Number(
      execFileSync('capinfos', ['-u', '-T', '-r', '-M', result.artifact.path], { encoding: 'utf8' })
        .trim()
        .split('\t')
        .pop(),
    );
    expect(span).toBeGreaterThanOrEqual(2.5);
    expect(result.timings.captureSeconds).toBeGreaterThanOrEqual(3);
    expect(result.timings.captureSeconds).toBeGreaterThanOrEqual(span);
    expect(result).not.toHaveProperty('warnings');
    // Nothing left: no toolbox or demo container, no sandbox directory.
    expect(containersOfSession(result.sessionId)).toEqual([]);
    const tasks = demoTasksOf(run.stderr);
    expect(tasks).toHaveLength(1);
    expect(containersOfTasks(tasks)).toEqual([]);
    expect(leftIn(tmp)).toEqual([]);
  });

  it('refuses a hostile filter with INVALID_FILTER (exit 2) before anything runs', async () => {
    const run = await runCli(['demo', '--filter', 'port 80 $(touch /tmp/pwned)', '--json'], { cwd: workdir });

    expect(run.code).toBe(2);
    expect(run.json().error.code).toBe('INVALID_FILTER');
    // Refused before a demo task (or anything else) was started.
    expect(demoTasksOf(run.stderr)).toEqual([]);
  });

  it('says how to start Docker and exits 5 when no engine answers', async () => {
    const run = await runCli(['demo', '--json'], {
      cwd: workdir,
      env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
    });

    expect(run.code).toBe(5);
    expect(run.json().error).toMatchObject({
      code: 'SANDBOX_UNAVAILABLE',
      hint: expect.stringMatching(/docker-up|systemctl start docker/),
    });
  });
});
