import {
  CancelCommandCommand,
  GetCommandInvocationCommand,
  InvocationDoesNotExist,
  ListCommandInvocationsCommand,
  type ListCommandInvocationsCommandInput,
} from '@aws-sdk/client-ssm';
import {
  EARLY_WINDOW_SECONDS,
  LINGER_AFTER_END_SECONDS,
  LINGER_CLOSE_INTERVAL_MS,
  LINGER_CLOSE_SECONDS,
  LINGER_INTERVAL_MS,
  LINGER_SECONDS,
  MAX_WAIT_SECONDS,
  cancelInvocations,
  endStatus,
  hasEnded,
  hostOutcome,
  lastLine,
  listInvocations,
  nextWaitSeconds,
  secondsToExpectedEnd,
  lingerIntervalMs,
  shouldLinger,
  type WaitInput,
} from '../../../lib/session/invocations';
import { aws, useAwsMocks } from '../../support/aws';
import { caught } from '../../support/fixtures';

useAwsMocks();

const COMMAND_ID = '11111111-2222-3333-4444-555555555555';
const HOST = 'i-0000000000000000a';

describe('hasEnded and endStatus', () => {
  it.each(['Success', 'Failed', 'Cancelled', 'TimedOut'])('a %s invocation has ended', (Status) => {
    expect(hasEnded({ Status })).toBe(true);
    expect(endStatus({ Status })).toBe(Status);
  });

  it.each(['Pending', 'InProgress', 'Delayed', 'Cancelling'])('a %s invocation has not ended', (Status) => {
    expect(hasEnded({ Status })).toBe(false);
  });

  it('a host SSM does not list yet has not ended', () => {
    expect(hasEnded(undefined)).toBe(false);
  });

  it.each([
    'DeliveryTimedOut',
    'ExecutionTimedOut',
    'Undeliverable',
    'Terminated',
    'InvalidPlatform',
    'AccessDenied',
  ])(
    'an invocation whose StatusDetails is %s has ended, reported by that more precise status',
    (StatusDetails) => {
      expect(hasEnded({ Status: 'InProgress', StatusDetails })).toBe(true);
      expect(endStatus({ Status: 'Failed', StatusDetails })).toBe(StatusDetails);
    },
  );

  it('reports Failed when SSM says nothing', () => {
    expect(endStatus(undefined)).toBe('Failed');
  });
});

describe('listInvocations', () => {
  it("pages through every host's invocation of the command, 50 a page", async () => {
    const hosts = Array.from({ length: 120 }, (_, j) => `i-${j.toString(16).padStart(17, '0')}`);
    aws.ssm.on(ListCommandInvocationsCommand).callsFake((input: ListCommandInvocationsCommandInput) => {
      const start = input.NextToken ? Number(input.NextToken) : 0;
      const end = start + (input.MaxResults ?? 50);
      return {
        CommandInvocations: hosts.slice(start, end).map((InstanceId) => ({ InstanceId, Status: 'Success' })),
        ...(end < hosts.length && { NextToken: String(end) }),
      };
    });

    const listed = await listInvocations(COMMAND_ID);

    expect([...listed.keys()]).toEqual(hosts);
    expect(aws.ssm).toHaveReceivedCommandTimes(ListCommandInvocationsCommand, 3);
    expect(aws.ssm.commandCalls(ListCommandInvocationsCommand).map((c) => c.args[0].input)).toEqual([
      { CommandId: COMMAND_ID, MaxResults: 50, NextToken: undefined },
      { CommandId: COMMAND_ID, MaxResults: 50, NextToken: '50' },
      { CommandId: COMMAND_ID, MaxResults: 50, NextToken: '100' },
    ]);
  });

  it('throws AWS_ERROR naming ssm:ListCommandInvocations', async () => {
    aws.ssm
      .on(ListCommandInvocationsCommand)
      .rejects(Object.assign(new Error('boom'), { name: 'InternalServerError' }));

    const error = await caught(() => listInvocations(COMMAND_ID));

    expect(error.message).toBe('ssm:ListCommandInvocations failed: InternalServerError: boom');
  });
});

describe('hostOutcome', () => {
  it('reads the runDebugTask step: the last stdout line as the summary, the response code, the end of stderr', async () => {
    const stderr = `${'x'.repeat(5000)}the end`;
    aws.ssm.on(GetCommandInvocationCommand).resolves({
      Status: 'Success',
      StatusDetails: 'Success',
      ResponseCode: 0,
      StandardOutputContent: 'pulling image\ncapturing\n{"v":2}\n\n',
      StandardErrorContent: stderr,
    });

    const outcome = await hostOutcome(COMMAND_ID, HOST, { Status: 'Success' });

    expect(outcome).toEqual({
      instanceId: HOST,
      status: 'Success',
      responseCode: 0,
      summaryLine: '{"v":2}',
      stderrTail: stderr.slice(-2000),
    });
    expect(aws.ssm).toHaveReceivedCommandWith(GetCommandInvocationCommand, {
      CommandId: COMMAND_ID,
      InstanceId: HOST,
      PluginName: 'runDebugTask',
    });
  });

  it('keeps the more precise status, and leaves out what the host did not print', async () => {
    aws.ssm
      .on(GetCommandInvocationCommand)
      .resolves({ Status: 'Failed', StatusDetails: 'ExecutionTimedOut', ResponseCode: -1 });

    const outcome = await hostOutcome(COMMAND_ID, HOST, undefined);

    expect(outcome).toEqual({ instanceId: HOST, status: 'ExecutionTimedOut', responseCode: -1 });
  });

  it.each([
    ['Undeliverable', { Status: 'Failed', StatusDetails: 'Undeliverable' }],
    ['DeliveryTimedOut', { Status: 'TimedOut', StatusDetails: 'DeliveryTimedOut' }],
  ])(
    'reports an undelivered host (%s) by its listed status: SSM has no invocation to read',
    async (status, listed) => {
      aws.ssm
        .on(GetCommandInvocationCommand)
        .rejects(new InvocationDoesNotExist({ message: 'no invocation', $metadata: {} }));

      await expect(hostOutcome(COMMAND_ID, HOST, listed)).resolves.toEqual({ instanceId: HOST, status });
    },
  );

  it('throws AWS_ERROR naming ssm:GetCommandInvocation for any other SSM error', async () => {
    aws.ssm
      .on(GetCommandInvocationCommand)
      .rejects(Object.assign(new Error('boom'), { name: 'InternalServerError' }));

    const error = await caught(() => hostOutcome(COMMAND_ID, HOST, undefined));

    expect(error).toMatchObject({
      code: 'AWS_ERROR',
      message: 'ssm:GetCommandInvocation failed: InternalServerError: boom',
    });
  });
});

describe('cancelInvocations', () => {
  it('cancels the command on the hosts named only', async () => {
    aws.ssm.on(CancelCommandCommand).resolves({});

    await cancelInvocations(COMMAND_ID, [HOST]);

    expect(aws.ssm).toHaveReceivedCommandWith(CancelCommandCommand, {
      CommandId: COMMAND_ID,
      InstanceIds: [HOST],
    });
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

describe('the wait schedule', () => {
  /** SendCommand returned at SENT; a 60 s capture from then (one task), deadline 210 s later. */
  const SENT_MS = Date.parse('2025-01-01T12:00:10.000Z');
  const base: Omit<WaitInput, 'nowMs'> = {
    sentAtMs: SENT_MS,
    durationSeconds: 60,
    deadline: SENT_MS / 1000 + 60 + 30 + 120,
  };
  const wait = (secondsAfterSend: number, overrides: Partial<WaitInput> = {}) =>
    nextWaitSeconds({ ...base, ...overrides, nowMs: SENT_MS + secondsAfterSend * 1000 });

  describe('nextWaitSeconds', () => {
    it('polls every second during the first seconds, when early failures show', () => {
      expect([0, 1, 2.5, EARLY_WINDOW_SECONDS - 0.1].map((s) => wait(s))).toEqual([1, 1, 1, 1]);
    });

    it('sleeps in long steps, at most MAX_WAIT_SECONDS, while the capture runs', () => {
      expect(wait(EARLY_WINDOW_SECONDS)).toBe(MAX_WAIT_SECONDS);
      expect(wait(30)).toBe(MAX_WAIT_SECONDS);
    });

    it('wakes when the capture is about to end, LINGER_SECONDS before it', () => {
      // Ends at +60 s: from +50 s the next poll lands at +56 s, where the poll lingers.
      expect(wait(50)).toBe(60 - LINGER_SECONDS - 50);
      expect(wait(53.5)).toBe(2);
    });

    it('polls every second from just before the expected end until the hosts report', () => {
      expect([57, 59, 60, 75, 150].map((s) => wait(s))).toEqual([1, 1, 1, 1, 1]);
    });

    it('counts the capture from the synchronized start of a service, not from the send', () => {
      // Started 20 s after the send: it ends at +80 s.
      expect(wait(60, { startAt: SENT_MS / 1000 + 20 })).toBe(MAX_WAIT_SECONDS);
      expect(wait(70, { startAt: SENT_MS / 1000 + 20 })).toBe(80 - LINGER_SECONDS - 70);
    });

    it('lets a short capture end within a second of its start', () => {
      expect(wait(EARLY_WINDOW_SECONDS, { durationSeconds: 5 })).toBe(1);
    });

    it('never sleeps past the deadline', () => {
      expect(wait(30, { deadline: SENT_MS / 1000 + 33, durationSeconds: 900 })).toBe(3);
    });

    it('always returns a whole number of at least 1 second, what a Wait state accepts', () => {
      for (let s = 0; s < 400; s += 0.7) {
        const w = wait(s, { durationSeconds: 300, deadline: SENT_MS / 1000 + 450 });
        expect(Number.isInteger(w) && w >= 1 && w <= MAX_WAIT_SECONDS).toBe(true);
      }
    });

    it('polls every second when the send time cannot be read', () => {
      expect(nextWaitSeconds({ ...base, sentAtMs: Number.NaN, nowMs: SENT_MS + 30_000 })).toBe(1);
    });

    it('keeps a 15-minute capture to about a hundred polls', () => {
      let polls = 0;
      let t = 0;
      while (t < 900 + 10) {
        t += wait(t, { durationSeconds: 900, deadline: SENT_MS / 1000 + 900 + 30 + 120 });
        polls++;
      }
      expect(polls).toBeLessThan(110);
    });
  });

  describe('lingerIntervalMs', () => {
    const interval = (secondsAfterSend: number, batches = 1) =>
      lingerIntervalMs({ ...base, nowMs: SENT_MS + secondsAfterSend * 1000 }, batches);

    it('looks once a second while the capture runs, and wakes right at its expected end', () => {
      expect([60 - LINGER_SECONDS, 58, 59.4, 59.999].map((s) => interval(s))).toEqual([1000, 1000, 600, 1]);
    });

    it('looks every 100 ms for LINGER_CLOSE_SECONDS from the expected end, where a host ends', () => {
      expect([60, 61.5, 60 + LINGER_CLOSE_SECONDS - 0.1].map((s) => interval(s))).toEqual([
        LINGER_CLOSE_INTERVAL_MS,
        LINGER_CLOSE_INTERVAL_MS,
        LINGER_CLOSE_INTERVAL_MS,
      ]);
    });

    it('then every quarter second', () => {
      expect([60 + LINGER_CLOSE_SECONDS, 70].map((s) => interval(s))).toEqual([
        LINGER_INTERVAL_MS,
        LINGER_INTERVAL_MS,
      ]);
    });

    it('keeps a session of several batches to about ten looks a second, and never slower than a quarter second', () => {
      expect([1, 2, 3, 20].map((batches) => interval(61, batches))).toEqual([100, 200, 250, 250]);
    });
  });

  describe('shouldLinger', () => {
    const linger = (secondsAfterSend: number, overrides: Partial<WaitInput> = {}) =>
      shouldLinger({ ...base, ...overrides, nowMs: SENT_MS + secondsAfterSend * 1000 });

    it('does not linger while the capture still has a while to go', () => {
      expect([0, 30, 60 - LINGER_SECONDS - 0.5].map((s) => linger(s))).toEqual([false, false, false]);
    });

    it('lingers from LINGER_SECONDS before the expected end until LINGER_AFTER_END_SECONDS after it', () => {
      expect([60 - LINGER_SECONDS, 59, 60, 60 + LINGER_AFTER_END_SECONDS].map((s) => linger(s))).toEqual([
        true,
        true,
        true,
        true,
      ]);
      expect(linger(60 + LINGER_AFTER_END_SECONDS + 1)).toBe(false);
    });

    it('never lingers past the deadline', () => {
      expect(linger(60, { deadline: SENT_MS / 1000 + 59 })).toBe(false);
    });

    it('measures the expected end from the synchronized start when there is one', () => {
      const startAt = SENT_MS / 1000 + 20;
      expect(secondsToExpectedEnd({ ...base, startAt, nowMs: SENT_MS + 70_000 })).toBe(10);
      expect(linger(60, { startAt })).toBe(false);
      expect(linger(78, { startAt })).toBe(true);
    });
  });
});
