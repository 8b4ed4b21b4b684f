import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderSessionView } from '../../../lib/cli/commands/sessions';
import {
  CONFIRM_THRESHOLD,
  checkFleetFlags,
  collectFleet,
  confirmFleet,
  renderPreview,
  renderFleetStatus,
  reuploadFailedChildren,
} from '../../../lib/cli/fleet';
import { DebugTaskClient } from '../../../lib/client/api-client';
import { renderSessionList } from '../../../lib/cli/output';
import { mapLimit } from '../../../lib/domain/map-limit';
import type { Progress } from '../../../lib/cli/progress';
import { DebugTaskError } from '../../../lib/domain/errors';
import type { SessionResult, SessionView, TargetsPreview } from '../../../lib/domain/session';
import {
  CLUSTER,
  CLUSTER_ARN,
  SESSION_ID,
  startFakeFleetApi,
  taskArn,
  type FakeFleetApi,
} from '../../support/fake-fleet-api';

const quiet: Progress = { update: () => undefined, note: () => undefined, done: () => undefined };
const A = 'a'.repeat(32);
const B = 'b'.repeat(32);

describe('fleet flags', () => {
  it('returns --max-tasks as a number for a service, nothing otherwise', () => {
    expect(checkFleetFlags({ service: 'web' }, { maxTasks: ' 12 ' })).toBe(12);
    expect(checkFleetFlags({ service: 'web' }, {})).toBeUndefined();
    expect(checkFleetFlags({ task: A }, { wait: false })).toBeUndefined();
  });
  it.each([
    [{ task: A, service: 'web' }, {}, /not both/],
    [{}, {}, /No task or --service/],
    [{ task: A }, { dryRun: true }, /--dry-run applies/],
    [{ service: 'web' }, { maxTasks: '1e3' }, /not a whole number/],
    [{ service: 'web' }, { merge: true, wait: false }, /--no-wait/],
  ])('refuses %j %j with INVALID_ARGUMENT and a hint', (target, flags, message) => {
    const error = (() => {
      try {
        checkFleetFlags(target, flags);
      } catch (e) {
        return e as DebugTaskError;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(DebugTaskError);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) });
    expect(error!.exitCode).toBe(2);
    expect(error!.hint).toMatch(/\S/);
  });
});

describe('the preview', () => {
  const preview: TargetsPreview = {
    target: { cluster: 'prod', service: 'web' },
    targets: [
      { taskArn: taskArn(A), container: 'app', instanceId: 'i-0123456789abcdef0' },
      { taskArn: taskArn(B), container: 'sidecar-long-name', instanceId: 'i-0fedcba9876543210' },
    ],
    skipped: [
      { taskArn: taskArn('c'.repeat(32)), code: 'SSM_AGENT_OFFLINE', message: 'Agent offline\u001b[2J.' },
    ],
    listed: 10,
    maxTasks: 3,
    leftOut: 7,
    instances: 2,
  };
  it('lists targets in columns, skipped with code and message (escaped), and the sum', () => {
    expect(renderPreview(preview)).toBe(
      [
        'service web (cluster prod)',
        `  task                              container          instance`,
        `  ${A}  app                i-0123456789abcdef0`,
        `  ${B}  sidecar-long-name  i-0fedcba9876543210`,
        'skipped 1:',
        `  ${'c'.repeat(32)}  SSM_AGENT_OFFLINE: Agent offline\\u001b[2J.`,
        '2 of 10 tasks (cap 3, 7 left out), on 2 hosts',
        '',
      ].join('\n'),
    );
  });
});

describe('confirmation', () => {
  const ask = jest.fn<Promise<boolean>, [string]>();
  beforeEach(() => ask.mockReset());

  it(`does not ask up to ${CONFIRM_THRESHOLD} targets, nor with --yes`, async () => {
    await confirmFleet(CONFIRM_THRESHOLD, { interactive: true, ask });
    await confirmFleet(CONFIRM_THRESHOLD, { interactive: false, ask });
    await confirmFleet(500, { interactive: false, yes: true, ask });
    await confirmFleet(500, { interactive: true, yes: true, ask });
    expect(ask).not.toHaveBeenCalled();
  });
  it('asks on a terminal above the threshold, and goes on on yes', async () => {
    ask.mockResolvedValue(true);
    await confirmFleet(6, { interactive: true, ask });
    expect(ask).toHaveBeenCalledWith('Capture on 6 tasks? [y/N] ');
  });
  it('stops with CANCELLED (exit 130) on no: nothing was started', async () => {
    ask.mockResolvedValue(false);
    await expect(confirmFleet(6, { interactive: true, ask })).rejects.toMatchObject({
      code: 'CANCELLED',
      exitCode: 130,
      message: expect.stringMatching(/Nothing was started/),
    });
  });
  it('without a terminal above the threshold: INVALID_ARGUMENT telling to add --yes', async () => {
    await expect(confirmFleet(6, { interactive: false, ask })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      exitCode: 2,
      hint: expect.stringMatching(/Add --yes/),
    });
    expect(ask).not.toHaveBeenCalled();
  });
});

describe('downloading a fleet into one folder', () => {
  let dir: string;
  let api: FakeFleetApi;
  afterEach(async () => {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function finished(): Promise<SessionView> {
    // The stand-in answers RUNNING `runningPolls` times first; 0: the result at once.
    return (
      await fetch(`${api.url}/clusters/${CLUSTER}/sessions/${SESSION_ID}`)
    ).json() as Promise<SessionView>;
  }

  it('writes <taskId>.pcap per child (both sha256s checked) and manifest.json, a few at a time', async () => {
    dir = mkdtempSync(join(tmpdir(), 'debug-task-fleet-'));
    const tasks = Array.from({ length: 9 }, (_, i) => String(i).repeat(32));
    api = await startFakeFleetApi({
      children: tasks.map((taskId, i) => (i === 4 ? { taskId, tamper: true } : { taskId })),
      runningPolls: 0,
    });
    const view = await finished();
    const outcome = await collectFleet(view, { folder: join(dir, 'f'), progress: quiet });
    expect(outcome.counts).toMatchObject({ targets: 9, succeeded: 8, failed: 1 });
    expect(outcome.children[4]).toMatchObject({ status: 'FAILED', error: { code: 'UPLOAD_FAILED' } });
    expect(outcome.children[4].path).toBeUndefined();
    expect(readdirSync(join(dir, 'f')).sort()).toEqual(
      [...tasks.filter((_, i) => i !== 4).map((t) => `${t}.pcap`), 'manifest.json'].sort(),
    );
    expect(JSON.parse(readFileSync(join(dir, 'f', 'manifest.json'), 'utf8'))).toEqual(view.result);
    expect(api.calls.filter((c) => c.startsWith('GET /artifacts/'))).toHaveLength(9);
  });

  it('merges the captures with mergecap, in time order', async () => {
    dir = mkdtempSync(join(tmpdir(), 'debug-task-fleet-'));
    api = await startFakeFleetApi({
      children: [
        {
          taskId: A,
          packets: [
            [5, 0],
            [7, 0],
          ],
        },
        { taskId: B, packets: [[6, 0]] },
      ],
      runningPolls: 0,
    });
    const outcome = await collectFleet(await finished(), {
      folder: dir,
      merge: true,
      progress: quiet,
    });
    expect(outcome.merged).toEqual({ path: join(dir, 'merged.pcap'), via: 'mergecap' });
    const merged = execFileSync('tcpdump', ['-nn', '-tt', '-r', join(dir, 'merged.pcap')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(
      merged
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[0]),
    ).toEqual(['5.000000', '6.000000', '7.000000']);
  });

  it('reports a merge failure apart from the captures', async () => {
    dir = mkdtempSync(join(tmpdir(), 'debug-task-fleet-'));
    api = await startFakeFleetApi({
      children: [
        { taskId: A, packets: [[5, 0]] },
        { taskId: B, packets: [[4, 0]], linkType: 113 },
      ],
      runningPolls: 0,
    });
    const outcome = await collectFleet(await finished(), {
      folder: dir,
      merge: true,
      progress: quiet,
    });
    expect(outcome.merged).toBeUndefined();
    expect(outcome.mergeError).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/^mergecap failed: /),
    });
    expect(readdirSync(dir).sort()).toEqual([`${A}.pcap`, `${B}.pcap`, 'manifest.json'].sort());
    expect(outcome.counts.succeeded).toBe(2);
  });

  it('keeps the order of results while running a few at a time', async () => {
    let running = 0;
    let most = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0], 2, async (n) => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, n * 5));
      running--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0]);
    expect(most).toBe(2);
    dir = mkdtempSync(join(tmpdir(), 'debug-task-fleet-'));
    api = await startFakeFleetApi({ children: [] });
  });
});

describe('re-uploading the children whose upload failed (debug-task fetch)', () => {
  let dir: string;
  let api: FakeFleetApi;
  afterEach(async () => {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const client = () =>
    new DebugTaskClient({
      apiUrl: api.url,
      region: 'xx-test-1',
      credentials: { accessKeyId: 'AKIATESTFAKE0000000', secretAccessKey: 'test-secret-not-real' },
    });

  it('uploads again what the hosts kept, follows the re-upload to its end, then downloads every child', async () => {
    dir = mkdtempSync(join(tmpdir(), 'debug-task-fleet-'));
    api = await startFakeFleetApi({
      children: [{ taskId: A }, { taskId: B, uploadFailed: true }],
      runningPolls: 0,
    });
    const view = (await (
      await fetch(`${api.url}/clusters/${CLUSTER}/sessions/${SESSION_ID}`)
    ).json()) as SessionView;
    expect(view.result?.children[1].error?.code).toBe('UPLOAD_FAILED');
    const notes: string[] = [];

    const complete = await reuploadFailedChildren(
      client(),
      view,
      { ...quiet, note: (t) => notes.push(t) },
      1,
    );
    const outcome = await collectFleet(complete, { folder: dir, progress: quiet });

    expect(api.reuploaded).toEqual([`${SESSION_ID}-0001`]);
    expect(api.calls.filter((c) => c.includes('/reupload'))).toEqual([
      `POST /clusters/${CLUSTER}/sessions/${SESSION_ID}/reupload`,
      `GET /clusters/${CLUSTER}/sessions/${SESSION_ID}/reupload/r1`,
      `GET /clusters/${CLUSTER}/sessions/${SESSION_ID}/reupload/r1`,
    ]);
    expect(notes).toEqual(['1 task(s) ended UPLOAD_FAILED: uploading again what their hosts kept']);
    expect(outcome.counts).toMatchObject({ targets: 2, succeeded: 2, failed: 0 });
    expect(readdirSync(dir).sort()).toEqual([`${A}.pcap`, `${B}.pcap`, 'manifest.json']);
  });

  it('asks nothing when no child ended UPLOAD_FAILED', async () => {
    dir = mkdtempSync(join(tmpdir(), 'debug-task-fleet-'));
    api = await startFakeFleetApi({ children: [{ taskId: A }], runningPolls: 0 });
    const view = (await (
      await fetch(`${api.url}/clusters/${CLUSTER}/sessions/${SESSION_ID}`)
    ).json()) as SessionView;

    await expect(reuploadFailedChildren(client(), view, quiet, 1)).resolves.toBe(view);

    expect(api.calls.filter((c) => c.includes('/reupload'))).toEqual([]);
  });

  it('keeps the view as it was, with a note, when the re-upload fails: the other children are downloaded', async () => {
    dir = mkdtempSync(join(tmpdir(), 'debug-task-fleet-'));
    api = await startFakeFleetApi({
      children: [{ taskId: A }, { taskId: B, uploadFailed: true }],
      runningPolls: 0,
    });
    const view = (await (
      await fetch(`${api.url}/clusters/${CLUSTER}/sessions/${SESSION_ID}`)
    ).json()) as SessionView;
    const notes: string[] = [];
    const broken = new DebugTaskClient({
      apiUrl: 'http://127.0.0.1:9/',
      region: 'xx-test-1',
      credentials: { accessKeyId: 'AKIATESTFAKE0000000', secretAccessKey: 'test-secret-not-real' },
      timeoutMs: 2000,
    });

    const complete = await reuploadFailedChildren(broken, view, { ...quiet, note: (t) => notes.push(t) }, 1);
    const outcome = await collectFleet(complete, { folder: dir, progress: quiet });

    expect(complete).toBe(view);
    expect(notes.at(-1)).toMatch(/^the re-upload failed .*; the other tasks are downloaded$/);
    expect(outcome.counts).toMatchObject({ succeeded: 1, failed: 1 });
    expect(outcome.children[1].error?.code).toBe('UPLOAD_FAILED');
  });
});

describe('list and status', () => {
  it('list: id, status, started, target, caller; "-" where an older API gives none', () => {
    const text = renderSessionList([
      {
        sessionId: 'dt-20261125120000-abc123',
        status: 'RUNNING',
        startedAt: '2026-11-25T12:00:00.123Z',
        target: 'service web (cluster prod)',
        caller: 'arn:aws:sts::123456789012:assumed-role/Admin/alice',
        kind: 'service',
      },
      { sessionId: 'dt-20261124120000-zzz999', status: 'SUCCEEDED' },
    ]);
    expect(text.split('\n')).toEqual([
      'id                        status     started               target                      caller',
      'dt-20261125120000-abc123  RUNNING    2026-11-25T12:00:00Z  service web (cluster prod)  assumed-role/Admin/alice',
      'dt-20261124120000-zzz999  SUCCEEDED  -                     -                           -',
      '',
    ]);
    expect(renderSessionList([])).toBe('no sessions\n');
  });

  it('list: a session a trigger started shows trigger:<name> as its caller', () => {
    const text = renderSessionList([
      {
        sessionId: 'dt-20261206120000-abc123',
        status: 'RUNNING',
        target: 'service web (cluster prod)',
        caller: 'arn:aws:events:xx-test-1:123456789012:rule/DebugTask-TriggersOn5xx-1AB2C3',
        trigger: 'on-5xx',
      },
    ]);
    expect(text.split('\n')[1]).toMatch(/ {2}trigger:on-5xx$/);
  });

  it('status of a fleet: its counts and one line per task', () => {
    const result: SessionResult = {
      kind: 'service',
      sessionId: SESSION_ID,
      status: 'SUCCEEDED',
      target: { cluster: 'prod', clusterArn: CLUSTER_ARN, service: 'web' },
      tool: 'tcpdump',
      counts: { listed: 3, targets: 2, succeeded: 1, failed: 1, skipped: 1, leftOut: 0 },
      startAt: 1,
      children: [
        {
          index: 0,
          sessionId: `${SESSION_ID}-0000`,
          taskArn: taskArn(A),
          clusterArn: CLUSTER_ARN,
          container: 'app',
          instanceId: 'i-0123456789abcdef0',
          status: 'SUCCEEDED',
          tool: { name: 'tcpdump', exitCode: 0, packets: 42 },
          artifact: {
            format: 'pcap',
            compression: 'gzip',
            bytes: 4200,
            sha256: 'x',
            objectBytes: 1,
            objectSha256: 'y',
            truncated: false,
            s3Uri: 's3://b/k',
            bucket: 'b',
            key: 'k',
          },
        },
        {
          index: 1,
          sessionId: `${SESSION_ID}-0001`,
          taskArn: taskArn(B),
          clusterArn: CLUSTER_ARN,
          container: 'app',
          instanceId: 'i-0123456789abcdef0',
          status: 'FAILED',
          error: { code: 'CONTAINER_NOT_FOUND', message: 'The container is gone.', hint: 'h' },
        },
      ],
      skipped: [{ taskArn: taskArn('c'.repeat(32)), code: 'FARGATE_UNSUPPORTED', message: 'Fargate.' }],
      recordUri: 's3://b/sessions/x/manifest.json',
      timings: { requestedAt: '2026-11-25T12:00:00.000Z', collectedAt: '2026-11-25T12:02:00.000Z' },
    };
    expect(renderFleetStatus(result).split('\n')).toEqual([
      'counts  2 tasks: 1 succeeded, 1 failed; 1 skipped, 0 left out (3 listed)',
      '  task                              status     packets  bytes',
      `  ${A}  SUCCEEDED  42       4.2 kB  s3://b/k`,
      `  ${B}  FAILED     -        -       CONTAINER_NOT_FOUND: The container is gone.`,
      `skipped ${'c'.repeat(32)}  FARGATE_UNSUPPORTED: Fargate.`,
      'record  s3://b/sessions/x/manifest.json',
      '',
    ]);
    const view: SessionView = { sessionId: SESSION_ID, status: 'SUCCEEDED', result };
    expect(renderSessionView(view)).toMatch(/^dt-20261125120000-abc123 {2}SUCCEEDED\ncounts {2}2 tasks/);
  });
});
