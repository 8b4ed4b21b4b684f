import 'aws-sdk-client-mock-jest';
import { HeadObjectCommand, NotFound, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import {
  GetCommandInvocationCommand,
  InvocationDoesNotExist,
  SSMClient,
  type CommandInvocationStatus,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import {
  EARLY_WINDOW_SECONDS,
  MAX_WAIT_SECONDS,
  lastLine,
  nextWaitSeconds,
  pollSession,
  type PollState,
} from '../../../lib/steps/poll';
import { BUCKET, LAUNCHED_AT_MS, SESSION_ID, caught, executionInput, launch, target } from './fixtures';

const s3 = mockClient(S3Client);
const ssm = mockClient(SSMClient);

const state: PollState = { ...executionInput({ durationSeconds: 60 }), target, launch };
const MANIFEST = JSON.stringify({ v: 1, sessionId: SESSION_ID, status: 'OK' });
/** A clock `seconds` after SendCommand returned. */
const at = (seconds: number) => () => LAUNCHED_AT_MS + seconds * 1000;

function notCancelled(): void {
  s3.on(HeadObjectCommand).rejects(
    new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } }),
  );
}

beforeEach(() => {
  s3.reset();
  ssm.reset();
});

describe('pollSession', () => {
  it('throws CANCELLED when the cancel marker exists, without asking SSM', async () => {
    s3.on(HeadObjectCommand).resolves({ ContentLength: 0 });

    const error = await caught(() => pollSession(state, { now: at(20) }));

    expect(error).toMatchObject({ code: 'CANCELLED' });
    expect(s3).toHaveReceivedCommandWith(HeadObjectCommand, {
      Bucket: BUCKET,
      Key: `sessions/${SESSION_ID}/cancel`,
    });
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 0);
  });

  it('asks SSM for the runDebugTask step of this command on this instance', async () => {
    notCancelled();
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });

    await pollSession(state, { now: at(2) });

    expect(ssm).toHaveReceivedCommandWith(GetCommandInvocationCommand, {
      CommandId: launch.commandId,
      InstanceId: launch.instanceId,
      PluginName: 'runDebugTask',
    });
  });

  it('is not done, and polls again in 1 s, while SSM does not know the invocation yet', async () => {
    notCancelled();
    ssm
      .on(GetCommandInvocationCommand)
      .rejects(new InvocationDoesNotExist({ message: 'no invocation', $metadata: {} }));

    const result = await pollSession(state, { now: at(0) });

    expect(result).toEqual({ done: false, status: 'Pending', waitSeconds: 1 });
  });

  it('is done on Success with the last stdout line as manifest, the response code and the end of stderr', async () => {
    notCancelled();
    const stderr = `${'x'.repeat(5000)}the end`;
    ssm.on(GetCommandInvocationCommand).resolves({
      Status: 'Success',
      StatusDetails: 'Success',
      ResponseCode: 0,
      StandardOutputContent: `pulling image\ncapturing\n${MANIFEST}\n\n`,
      StandardErrorContent: stderr,
    });

    const result = await pollSession(state, { now: at(62) });

    expect(result).toEqual({
      done: true,
      status: 'Success',
      waitSeconds: 0,
      manifestLine: MANIFEST,
      responseCode: 0,
      stderrTail: stderr.slice(-2000),
    });
  });

  it('is done on Failed, keeping the manifest of a runner that refused (HOST_BUSY)', async () => {
    notCancelled();
    const busy = JSON.stringify({ v: 1, status: 'FAILED', error: { code: 'HOST_BUSY' } });
    ssm
      .on(GetCommandInvocationCommand)
      .resolves({ Status: 'Failed', ResponseCode: 4, StandardOutputContent: busy });

    const result = await pollSession(state, { now: at(2) });

    expect(result).toMatchObject({ done: true, status: 'Failed', responseCode: 4, manifestLine: busy });
  });

  it.each([
    'DeliveryTimedOut',
    'ExecutionTimedOut',
    'Undeliverable',
    'Terminated',
    'InvalidPlatform',
    'AccessDenied',
  ])('is done, and reports the more precise status, when StatusDetails is %s', async (details) => {
    notCancelled();
    ssm
      .on(GetCommandInvocationCommand)
      .resolves({ Status: 'Failed', StatusDetails: details, ResponseCode: -1 });

    const result = await pollSession(state, { now: at(30) });

    expect(result).toMatchObject({ done: true, status: details, responseCode: -1 });
    expect(result.manifestLine).toBeUndefined();
  });

  it.each<CommandInvocationStatus>(['Cancelled', 'TimedOut'])(
    'is done when the status is %s',
    async (status) => {
      notCancelled();
      ssm.on(GetCommandInvocationCommand).resolves({ Status: status });

      await expect(pollSession(state, { now: at(30) })).resolves.toMatchObject({ done: true, status });
    },
  );

  it.each<CommandInvocationStatus>(['Pending', 'InProgress', 'Delayed', 'Cancelling'])(
    'is not done while the status is %s',
    async (status) => {
      notCancelled();
      ssm.on(GetCommandInvocationCommand).resolves({ Status: status });

      const result = await pollSession(state, { now: at(30) });

      expect(result).toMatchObject({ done: false, status });
      expect(result.waitSeconds).toBeGreaterThanOrEqual(1);
    },
  );

  it('throws SESSION_TIMED_OUT when the command still runs past the deadline', async () => {
    notCancelled();
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });

    const error = await caught(() => pollSession(state, { now: () => (launch.deadline + 1) * 1000 }));

    expect(error).toMatchObject({
      code: 'SESSION_TIMED_OUT',
      details: { status: 'InProgress', deadline: launch.deadline },
    });
  });

  it('reports a command that ended just past the deadline as done rather than timed out', async () => {
    notCancelled();
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', StandardOutputContent: MANIFEST });

    const result = await pollSession(state, { now: () => (launch.deadline + 5) * 1000 });

    expect(result.done).toBe(true);
  });

  it('throws AWS_ERROR naming s3:HeadObject when the cancel marker cannot be checked', async () => {
    s3.on(HeadObjectCommand).rejects(
      new S3ServiceException({
        name: 'Forbidden',
        $fault: 'client',
        message: 'Forbidden',
        $metadata: { httpStatusCode: 403 },
      }),
    );

    const error = await caught(() => pollSession(state, { now: at(2) }));

    expect(error).toMatchObject({ code: 'AWS_ERROR', details: { call: 's3:HeadObject', httpStatus: 403 } });
    expect(error.hint).toContain('may not call s3:HeadObject');
  });

  it('throws AWS_ERROR naming ssm:GetCommandInvocation for any other SSM error', async () => {
    notCancelled();
    ssm
      .on(GetCommandInvocationCommand)
      .rejects(Object.assign(new Error('boom'), { name: 'InternalServerError' }));

    const error = await caught(() => pollSession(state, { now: at(2) }));

    expect(error.message).toBe('ssm:GetCommandInvocation failed: InternalServerError: boom');
  });
});

describe('nextWaitSeconds', () => {
  const base = { startedAtMs: LAUNCHED_AT_MS, durationSeconds: 60, deadline: launch.deadline };
  const wait = (secondsAfterLaunch: number, overrides: Partial<typeof base> = {}) =>
    nextWaitSeconds({ ...base, ...overrides, nowMs: LAUNCHED_AT_MS + secondsAfterLaunch * 1000 });

  it('polls every second during the first seconds, when early failures show', () => {
    expect([0, 1, 2.5, EARLY_WINDOW_SECONDS - 0.1].map((s) => wait(s))).toEqual([1, 1, 1, 1]);
  });

  it('sleeps in long steps, at most MAX_WAIT_SECONDS, while the capture runs', () => {
    expect(wait(EARLY_WINDOW_SECONDS)).toBe(MAX_WAIT_SECONDS);
    expect(wait(30)).toBe(MAX_WAIT_SECONDS);
  });

  it('wakes about 1 s before the capture is expected to end', () => {
    // Ends at +60 s: from +50 s the next poll lands at +59 s.
    expect(wait(50)).toBe(9);
    expect(wait(55.5)).toBe(3);
  });

  it('polls every second from just before the expected end until the runner reports', () => {
    expect([58, 59, 60, 75, 150].map((s) => wait(s))).toEqual([1, 1, 1, 1, 1]);
  });

  it('lets a short capture end within a second of its start', () => {
    expect(wait(EARLY_WINDOW_SECONDS, { durationSeconds: 5 })).toBe(1);
  });

  it('never sleeps past the deadline', () => {
    expect(wait(30, { deadline: LAUNCHED_AT_MS / 1000 + 33, durationSeconds: 900 })).toBe(3);
  });

  it('always returns a whole number of at least 1 second, what a Wait state accepts', () => {
    for (let s = 0; s < 400; s += 0.7) {
      const w = wait(s, { durationSeconds: 300, deadline: LAUNCHED_AT_MS / 1000 + 450 });
      expect(Number.isInteger(w) && w >= 1 && w <= MAX_WAIT_SECONDS).toBe(true);
    }
  });

  it('polls every second when the launch time cannot be read', () => {
    expect(nextWaitSeconds({ ...base, startedAtMs: Number.NaN, nowMs: LAUNCHED_AT_MS + 30_000 })).toBe(1);
  });

  it('keeps a 15-minute capture to about a hundred polls', () => {
    let polls = 0;
    let t = 0;
    while (t < 900 + 10) {
      t += wait(t, { durationSeconds: 900, deadline: LAUNCHED_AT_MS / 1000 + 900 + 30 + 120 });
      polls++;
    }
    expect(polls).toBeLessThan(110);
  });
});

describe('lastLine', () => {
  it('returns the last non-empty line, trimmed', () => {
    expect(lastLine('a\nb\r\n  {"v":1}  \n\n')).toBe('{"v":1}');
  });

  it('returns undefined for empty output', () => {
    expect(lastLine(' \n\n')).toBeUndefined();
  });
});
