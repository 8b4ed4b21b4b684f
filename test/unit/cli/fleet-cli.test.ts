import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../support/cli';
import {
  CLUSTER,
  SERVICE,
  SESSION_ID,
  startFakeFleetApi,
  taskArn,
  type FakeFleetApi,
} from '../../support/fake-fleet-api';
import { spawnCli } from '../../support/cli';

/** The real CLI (bin through tsx) against a stand-in of the fleet routes: the whole CLI side of issue 5. */

jest.setTimeout(60_000);

const NO_API = ['--api-url', 'http://127.0.0.1:9/'];
const ids = (n: number) =>
  Array.from({ length: n }, (_, i) => `${String(i).repeat(2)}aa${'0'.repeat(28)}`.slice(0, 32));

describe('debug-task --service (fleet sessions from the CLI)', () => {
  let dir: string;
  let api: FakeFleetApi | undefined;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'debug-task-fleet-cli-'))));
  afterEach(async () => {
    await api?.stop();
    api = undefined;
    rmSync(dir, { recursive: true, force: true });
  });
  const fleet = (...args: string[]) => [
    '--service',
    SERVICE,
    '--cluster',
    CLUSTER,
    '--tool',
    'tcpdump',
    ...args,
  ];

  describe('refuses bad input with INVALID_ARGUMENT (exit 2) before any request', () => {
    it.each([
      [['--tool', 'tcpdump'], /No task or --service/],
      [
        [
          taskArn('0123456789abcdef0123456789abcdef'),
          '--service',
          'web',
          '--cluster',
          'prod',
          '--tool',
          'tcpdump',
        ],
        /not both/,
      ],
      [['--service', 'web', '--tool', 'tcpdump'], /needs its cluster/],
      [
        [taskArn('0123456789abcdef0123456789abcdef'), '--tool', 'tcpdump', '--dry-run'],
        /--dry-run applies to a service/,
      ],
      [
        [taskArn('0123456789abcdef0123456789abcdef'), '--tool', 'tcpdump', '--merge'],
        /--merge applies to a service/,
      ],
      [
        [taskArn('0123456789abcdef0123456789abcdef'), '--tool', 'tcpdump', '--max-tasks', '3'],
        /--max-tasks applies/,
      ],
      [
        ['--service', 'web', '--cluster', 'prod', '--tool', 'tcpdump', '--max-tasks', 'lots'],
        /not a whole number/,
      ],
      [
        ['--service', 'web', '--cluster', 'prod', '--tool', 'tcpdump', '--max-tasks', '0'],
        /maxTasks must be 1 to 1000/,
      ],
      [['--service', 'web', '--cluster', 'prod', '--tool', 'tcpdump', '--merge', '--no-wait'], /--no-wait/],
      [['--service', 'web;rm', '--cluster', 'prod', '--tool', 'tcpdump'], /service name or ARN/],
    ])('%j', async (args, message) => {
      const run = await runCli([...args, '--json', ...NO_API]);
      expect(run.code).toBe(2);
      expect(run.json().error).toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(message),
      });
      expect(run.json().error.hint).toBeTruthy();
    });
  });

  it.each([
    [['--replicas', '11'], /--replicas must be 1 to 10/],
    [['--replicas', 'three'], /--replicas must be 1 to 10/],
    [['--merge'], /--merge applies to a demo with --replicas only/],
  ])('demo %j: INVALID_ARGUMENT (exit 2) before any container starts', async (args, message) => {
    const run = await runCli(['demo', ...args, '--json'], {
      env: { DOCKER_HOST: 'unix:///nonexistent.sock' },
    });
    expect(run.code).toBe(2);
    expect(run.json().error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(message),
    });
  });

  it('--dry-run prints the preview (targets, skipped, the sum) and starts nothing', async () => {
    api = await startFakeFleetApi({
      children: ids(2).map((taskId) => ({ taskId })),
      skipped: [
        { taskArn: taskArn('f'.repeat(32)), code: 'FARGATE_UNSUPPORTED', message: 'Task runs on Fargate.' },
      ],
      listed: 5,
    });
    const human = await runCli(fleet('--dry-run', '--api-url', api.url));
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/service web \(cluster prod\)/);
    expect(human.stdout).toMatch(/task +container +instance/);
    expect(human.stdout).toMatch(new RegExp(`${ids(2)[1]} +app +i-0123456789abcdef0`));
    expect(human.stdout).toMatch(/f{32} +FARGATE_UNSUPPORTED: Task runs on Fargate\./);
    expect(human.stdout).toMatch(/2 of 5 tasks \(cap 100, 2 left out\), on 1 host/);

    const json = await runCli(fleet('--dry-run', '--json', '--max-tasks', '7', '--api-url', api.url));
    expect(json.code).toBe(0);
    expect(json.json()).toMatchObject({ target: { service: 'web' }, listed: 5, leftOut: 2 });
    expect(json.json().targets).toHaveLength(2);
    expect(api.calls).toEqual([
      `POST /clusters/${CLUSTER}/tools/tcpdump/preview`,
      `POST /clusters/${CLUSTER}/tools/tcpdump/preview`,
    ]);
    expect(api.bodies[1]).toMatchObject({
      target: { service: 'web', cluster: 'prod', maxTasks: 7 },
      tool: 'tcpdump',
    });
  });

  it('above 5 tasks without a terminal, asks for --yes and starts nothing', async () => {
    api = await startFakeFleetApi({ children: ids(6).map((taskId) => ({ taskId })) });
    const run = await runCli(fleet('--json', '--api-url', api.url));
    expect(run.code).toBe(2);
    expect(run.json().error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      hint: expect.stringMatching(/--yes/),
    });
    expect(api.calls).toEqual([`POST /clusters/${CLUSTER}/tools/tcpdump/preview`]);
  });

  it('downloads every child into one folder, verified, with manifest.json and a merged pcap (exit 0)', async () => {
    const tasks = ids(6);
    api = await startFakeFleetApi({
      children: tasks.map((taskId, i) => ({
        taskId,
        packets: [
          [100 + i, 0],
          [110 - i, 5],
        ],
      })),
    });
    const folder = join(dir, 'out');
    const run = await runCli(
      fleet('--yes', '--merge', '--duration', '5s', '--output', folder, '--json', '--api-url', api.url),
    );
    expect(run.stderr).toMatch(/session dt-20261125120000-abc123 started on 6 tasks/);
    expect(run.code).toBe(0);
    const result = run.json();
    expect(result).toMatchObject({
      sessionId: SESSION_ID,
      status: 'SUCCEEDED',
      kind: 'fleet',
      target: { service: 'web', cluster: 'prod' },
      counts: { targets: 6, succeeded: 6, failed: 0 },
      folder,
      merged: { path: join(folder, 'merged.pcap'), via: 'mergecap' },
    });
    expect(readdirSync(folder).sort()).toEqual(
      [...tasks.map((t) => `${t}.pcap`), 'manifest.json', 'merged.pcap'].sort(),
    );
    for (const child of result.children) {
      expect(child.path).toBe(join(folder, `${child.taskArn.split('/').at(-1)}.pcap`));
      expect(createHash('sha256').update(readFileSync(child.path)).digest('hex')).toBe(child.sha256);
    }
    const manifest = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8'));
    // The session's result as the API gave it (kind 'service' since the one path; 'fleet' before).
    expect(manifest).toMatchObject({ kind: 'service', sessionId: SESSION_ID, counts: { targets: 6 } });
    const merged = execFileSync('tcpdump', ['-nn', '-tt', '-r', join(folder, 'merged.pcap')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .trim()
      .split('\n');
    expect(merged).toHaveLength(12);
    const times = merged.map((l) => Number(l.split(' ')[0]));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('exits 4 when some tasks failed, and shows each one’s error in the table', async () => {
    const tasks = ids(3);
    api = await startFakeFleetApi({
      children: [
        {
          taskId: tasks[0],
          packets: [
            [1, 0],
            [2, 0],
            [3, 0],
          ],
        },
        {
          taskId: tasks[1],
          fail: { code: 'HOST_BUSY', message: 'The host already runs 2 sessions.', hint: 'h' },
        },
        { taskId: tasks[2], tamper: true },
      ],
    });
    const run = await runCli(fleet('--output', join(dir, 'f'), '--api-url', api.url));
    expect(run.code).toBe(4);
    expect(run.stdout).toMatch(/task +status +packets +bytes/);
    expect(run.stdout).toMatch(new RegExp(`${tasks[0]} +SUCCEEDED +3 +\\d+ B`));
    expect(run.stdout).toMatch(
      new RegExp(`${tasks[1]} +FAILED +- +- +HOST_BUSY: The host already runs 2 sessions\\.`),
    );
    expect(run.stdout).toMatch(new RegExp(`${tasks[2]} +FAILED .*UPLOAD_FAILED: The object does not match`));
    expect(run.stdout).toMatch(/counts +3 tasks: 1 succeeded, 2 failed; 0 skipped, 0 left out \(3 listed\)/);
    expect(readdirSync(join(dir, 'f')).sort()).toEqual([`${tasks[0]}.pcap`, 'manifest.json']);
  });

  it('a fleet that failed as a whole exits with its error’s code', async () => {
    api = await startFakeFleetApi({
      children: ids(1).map((taskId) => ({ taskId })),
      fleetError: { code: 'AWS_ERROR', message: 'ssm:SendCommand failed', hint: 'h' },
    });
    const run = await runCli(fleet('--json', '--output', join(dir, 'f'), '--api-url', api.url));
    expect(run.code).toBe(5);
    expect(run.json().error.code).toBe('AWS_ERROR');
  });

  it('--merge with a text tool says it does not apply and merges nothing', async () => {
    api = await startFakeFleetApi({ children: ids(1).map((taskId) => ({ taskId })) });
    const run = await runCli([
      '--service', SERVICE, '--cluster', CLUSTER, '--tool', 'strace', '--merge', '--json',
      '--output', join(dir, 'f'), '--api-url', api.url,
    ]); // prettier-ignore
    expect(run.stderr).toMatch(/--merge applies to pcaps only: strace writes text/);
    expect(run.json().merged).toBeUndefined();
    expect(existsSync(join(dir, 'f', 'merged.pcap'))).toBe(false);
  });

  it('fetch of a service uploads again what a failed upload left on its host, then downloads every child (exit 0)', async () => {
    const tasks = ids(3);
    api = await startFakeFleetApi({
      children: tasks.map((taskId, i) => ({ taskId, uploadFailed: i === 1 })),
      runningPolls: 0,
    });
    const folder = join(dir, 'fetched');

    const run = await runCli(['fetch', SESSION_ID, '--output', folder, '--json', '--api-url', api.url]);

    expect(run.code).toBe(0);
    expect(api.reuploaded).toEqual([`${SESSION_ID}-0001`]);
    expect(run.json()).toMatchObject({
      sessionId: SESSION_ID,
      counts: { targets: 3, succeeded: 3, failed: 0 },
    });
    expect(readdirSync(folder).sort()).toEqual([...tasks.map((t) => `${t}.pcap`), 'manifest.json'].sort());
  });

  async function waitUntil(ready: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !ready(); i++) await new Promise((r) => setTimeout(r, 50));
  }

  /** The fleet CLI in node itself, hung RUNNING on the fake API, once it says it started. */
  async function startedFleet(
    args: string[],
    fakeOptions: { stopEndsAfterPolls?: number; stopAnswerDelayMs?: number } = {},
  ) {
    const fake = await startFakeFleetApi({
      children: ids(2).map((taskId) => ({ taskId })),
      hang: true,
      ...fakeOptions,
    });
    api = fake;
    // The CLI in node itself (tsx as a loader): the SIGINT reaches it, not a wrapper that may kill
    // it first on a loaded machine. jest's process.env (setup-env's fake credentials) is passed on.
    const child = spawnCli(fleet(...args, '--api-url', fake.url), { env: { ...process.env } });
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
    await new Promise<void>((resolve) =>
      child.stderr.on('data', (d: Buffer) => {
        out.stderr += d.toString();
        if (out.stderr.includes('started on 2 tasks')) resolve();
      }),
    );
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    return { child, out, closed, calls: fake.calls };
  }

  it('a first Ctrl-C stops the fleet (POST .../stop), keeps every task’s capture and exits 0', async () => {
    const folder = join(dir, 'stopped');
    const { child, out, closed, calls } = await startedFleet(['-o', folder]);

    child.kill('SIGINT');
    const code = await closed;

    expect(code).toBe(0);
    expect(calls).toContain(`POST /clusters/${CLUSTER}/sessions/${SESSION_ID}/stop`);
    expect(calls).not.toContain(`DELETE /clusters/${CLUSTER}/sessions/${SESSION_ID}`);
    expect(out.stdout).toContain('stopped   early, at 0:42 of 5:00; the capture so far is kept');
    expect(readdirSync(folder).sort()).toEqual([...ids(2).map((id) => `${id}.pcap`), 'manifest.json'].sort());
  });

  it('a second Ctrl-C cancels the fleet (DELETE) and exits 130', async () => {
    const { child, out, closed, calls } = await startedFleet(['--json']);

    child.kill('SIGINT');
    // Two signals sent at once are one to the kernel: the second goes once the first was seen.
    await waitUntil(() => out.stderr.includes('stopping'));
    child.kill('SIGINT');
    const code = await closed;

    expect(code).toBe(130);
    expect(calls).toContain(`POST /clusters/${CLUSTER}/sessions/${SESSION_ID}/stop`);
    expect(calls).toContain(`DELETE /clusters/${CLUSTER}/sessions/${SESSION_ID}`);
    expect(JSON.parse(out.stdout.trim().split('\n').at(-1)!).error.code).toBe('CANCELLED');
  });

  it('a second Ctrl-C that comes as the stop ends the session still discards: exit 130, nothing downloaded', async () => {
    const folder = join(dir, 'discarded');
    // The stop has ended the session by the time it answers; the second Ctrl-C comes before that.
    const { child, out, closed, calls } = await startedFleet(['--json', '-o', folder], {
      stopEndsAfterPolls: 0,
      stopAnswerDelayMs: 1500,
    });

    child.kill('SIGINT');
    await waitUntil(() => out.stderr.includes('stopping'));
    child.kill('SIGINT');
    const code = await closed;

    expect(code).toBe(130);
    expect(calls).toContain(`DELETE /clusters/${CLUSTER}/sessions/${SESSION_ID}`);
    const error = JSON.parse(out.stdout.trim().split('\n').at(-1)!).error;
    expect(error).toMatchObject({ code: 'CANCELLED' });
    expect(error.message).toContain('had already ended when it was cancelled: nothing was downloaded');
    expect(error.hint).toContain(`debug-task fetch ${SESSION_ID}`);
    expect(calls.filter((c) => c.startsWith('GET /artifacts/'))).toEqual([]);
    expect(existsSync(folder)).toBe(false);
  });
});
