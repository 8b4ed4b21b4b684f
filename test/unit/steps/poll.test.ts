import {
  CancelCommandCommand,
  GetCommandInvocationCommand,
  InvocationDoesNotExist,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  type CommandInvocation,
} from '@aws-sdk/client-ssm';
import { HeadObjectCommand, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import type { HostOutcome } from '../../../lib/domain/session';
import {
  LINGER_CLOSE_INTERVAL_MS,
  LINGER_CLOSE_SECONDS,
  LINGER_INTERVAL_MS,
  LINGER_INVOCATION_SECONDS,
  LINGER_SECONDS,
  MAX_WAIT_SECONDS,
} from '../../../lib/session/invocations';
import { pollBatch, type PollState } from '../../../lib/steps/poll';
import { aws, givenBucket, useAwsMocks, type FakeBucket } from '../../support/aws';
import {
  BUCKET,
  SESSION_ID,
  caught,
  executionInput,
  hostSummary,
  planInfoOf,
  planTarget,
  serviceInput,
  servicePlanRecord,
  taskPlanRecord,
} from '../../support/fixtures';

useAwsMocks();

const COMMAND_ID = '11111111-2222-3333-4444-555555555555';
const SENT_MS = Date.parse('2025-01-01T12:00:10.000Z');
const SENT = SENT_MS / 1000;
const DURATION = 60;
const HOSTS = ['i-0000000000000000a', 'i-0000000000000000b', 'i-0000000000000000c'];

/** A service batch of three hosts whose captures start 20 s after the send. */
const START_AT = SENT + 20;
const servicePlan = planInfoOf(
  servicePlanRecord(HOSTS.map((instanceId, i) => planTarget(i + 1, { instanceId }))),
  { startAt: START_AT, expiresAt: START_AT + DURATION + 30, deadline: START_AT + DURATION + 30 + 120 },
);
const state: PollState = {
  ...serviceInput(100, { durationSeconds: DURATION }),
  plan: servicePlan,
  batch: { batch: 1, instanceIds: HOSTS },
  command: { commandId: COMMAND_ID, sentAt: new Date(SENT_MS).toISOString() },
};

/** A one-task batch sent at SENT, its capture from then. */
const taskPlan = planInfoOf(taskPlanRecord(), {
  expiresAt: SENT + DURATION + 30,
  deadline: SENT + DURATION + 150,
});
const taskState: PollState = {
  ...executionInput({ durationSeconds: DURATION }),
  plan: taskPlan,
  batch: taskPlan.batches[0],
  command: { commandId: COMMAND_ID, sentAt: new Date(SENT_MS).toISOString() },
};

/** A clock that starts `seconds` after the synchronized start and moves only when the poll sleeps. */
function clockAt(seconds: number, from = START_AT) {
  let nowMs = (from + seconds) * 1000;
  const sleeps: number[] = [];
  return {
    sleeps,
    deps: {
      now: () => nowMs,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        nowMs += ms;
      },
    },
  };
}

let bucket: FakeBucket;

beforeEach(() => {
  bucket = givenBucket();
  aws.ssm.on(CancelCommandCommand).resolves({});
});

/** ListCommandInvocations answers these statuses (each answer in turn, the last one from then on). */
function listed(...answers: Record<string, Partial<CommandInvocation>>[]): void {
  const stub = aws.ssm.on(ListCommandInvocationsCommand);
  const page = (invocations: Record<string, Partial<CommandInvocation>>) => ({
    CommandInvocations: Object.entries(invocations).map(([InstanceId, inv]) => ({
      CommandId: COMMAND_ID,
      InstanceId,
      ...inv,
    })),
  });
  answers.forEach((answer, i) =>
    i === answers.length - 1 ? stub.resolves(page(answer)) : stub.resolvesOnce(page(answer)),
  );
}

const summaryOf = (instanceId: string) => JSON.stringify(hostSummary(instanceId));

/** GetCommandInvocation answers as a host that ran its share and printed its summary. */
function hostsRan(responseCode = 0): void {
  aws.ssm.on(GetCommandInvocationCommand).callsFake((input: { InstanceId: string }) => ({
    CommandId: COMMAND_ID,
    InstanceId: input.InstanceId,
    Status: 'Success',
    StatusDetails: 'Success',
    ResponseCode: responseCode,
    StandardOutputContent: `pulling toolbox\n${summaryOf(input.InstanceId)}\n`,
    StandardErrorContent: `stderr of ${input.InstanceId}`,
  }));
}

const all = (inv: Partial<CommandInvocation>) => Object.fromEntries(HOSTS.map((id) => [id, inv]));

function batchWritten(key = `sessions/${SESSION_ID}/batches/1.json`): HostOutcome[] {
  expect(bucket.puts().map((p) => p.Key)).toEqual([key]);
  return bucket.json<HostOutcome[]>(key);
}

describe('pollBatch (Poll)', () => {
  it('throws CANCELLED when the cancel marker exists, asking SSM nothing', async () => {
    bucket.objects.set(`sessions/${SESSION_ID}/cancel`, '{}');

    const error = await caught(() => pollBatch(state, clockAt(10).deps));

    expect(error).toMatchObject({ code: 'CANCELLED' });
    expect(aws.s3).toHaveReceivedCommandWith(HeadObjectCommand, {
      Bucket: BUCKET,
      Key: `sessions/${SESSION_ID}/cancel`,
    });
    expect(aws.ssm.calls()).toHaveLength(0);
  });

  it('is not done while a host still runs: one look, a wait, no output fetched, nothing written', async () => {
    listed({
      [HOSTS[0]]: { Status: 'Success' },
      [HOSTS[1]]: { Status: 'InProgress' },
      [HOSTS[2]]: { Status: 'Failed' },
    });
    const clock = clockAt(10);

    const result = await pollBatch(state, clock.deps);

    expect(result).toEqual({ done: false, ended: 2, waitSeconds: MAX_WAIT_SECONDS });
    expect(aws.ssm).toHaveReceivedCommandTimes(ListCommandInvocationsCommand, 1);
    expect(aws.ssm).toHaveReceivedCommandWith(ListCommandInvocationsCommand, {
      CommandId: COMMAND_ID,
      MaxResults: 50,
    });
    expect(aws.ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 0);
    expect(aws.ssm).toHaveReceivedCommandTimes(CancelCommandCommand, 0);
    expect(clock.sleeps).toEqual([]);
    expect(bucket.puts()).toEqual([]);
  });

  it.each([
    ['right after the send', -20, 1],
    ['while the captures run', 30, MAX_WAIT_SECONDS],
    ['after the end, before the deadline', 150, 1],
  ])('waits by the schedule %s', async (_label, seconds, waitSeconds) => {
    listed({ [HOSTS[0]]: { Status: 'InProgress' } });

    const result = await pollBatch(state, clockAt(seconds).deps);

    expect(result).toMatchObject({ done: false, waitSeconds });
  });

  it('waits for a host SSM does not list yet', async () => {
    listed({ [HOSTS[0]]: { Status: 'Success' }, [HOSTS[1]]: { Status: 'Success' } });

    const result = await pollBatch(state, clockAt(100).deps);

    expect(result).toMatchObject({ done: false, ended: 2 });
    expect(aws.ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 0);
  });

  it("when every host has ended, fetches each one's summary and writes the batch's outcomes for Collect", async () => {
    listed(all({ Status: 'Success' }));
    hostsRan();

    const result = await pollBatch(state, clockAt(65).deps);

    expect(result).toEqual({ done: true, ended: 3, waitSeconds: 0 });
    expect(aws.ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 3);
    for (const id of HOSTS) {
      expect(aws.ssm).toHaveReceivedCommandWith(GetCommandInvocationCommand, {
        CommandId: COMMAND_ID,
        InstanceId: id,
        PluginName: 'runDebugTask',
      });
    }
    expect(batchWritten()).toEqual(
      HOSTS.map((id) => ({
        instanceId: id,
        status: 'Success',
        responseCode: 0,
        summaryLine: summaryOf(id),
        stderrTail: `stderr of ${id}`,
      })),
    );
  });

  it('keeps the failed status and response code of a host whose share failed', async () => {
    listed(all({ Status: 'Failed' }));
    aws.ssm.on(GetCommandInvocationCommand).resolves({
      Status: 'Failed',
      StatusDetails: 'Failed',
      ResponseCode: 3,
      StandardOutputContent: '',
      StandardErrorContent: 'plan unreadable',
    });

    await pollBatch(state, clockAt(65).deps);

    expect(batchWritten().map((o) => [o.status, o.responseCode, o.summaryLine, o.stderrTail])).toEqual(
      HOSTS.map(() => ['Failed', 3, undefined, 'plan unreadable']),
    );
  });

  it.each([
    ['Undeliverable', { Status: 'Failed', StatusDetails: 'Undeliverable' }],
    ['DeliveryTimedOut', { Status: 'TimedOut', StatusDetails: 'DeliveryTimedOut' }],
  ] as const)('records an undelivered host (%s) by its listed status', async (expected, inv) => {
    listed({ [HOSTS[0]]: { Status: 'Success' }, [HOSTS[1]]: inv, [HOSTS[2]]: { Status: 'Success' } });
    hostsRan();
    aws.ssm
      .on(GetCommandInvocationCommand, { InstanceId: HOSTS[1] })
      .rejects(new InvocationDoesNotExist({ message: 'no invocation', $metadata: {} }));

    await pollBatch(state, clockAt(65).deps);

    const outcomes = batchWritten();
    expect(outcomes[1]).toEqual({ instanceId: HOSTS[1], status: expected });
    expect(outcomes[0]).toMatchObject({ status: 'Success', summaryLine: summaryOf(HOSTS[0]) });
  });

  describe('near the expected end (linger)', () => {
    it('looks once more at the expected end, then every 100 ms, and reports the end within the same invocation', async () => {
      listed(all({ Status: 'InProgress' }), all({ Status: 'InProgress' }), all({ Status: 'Success' }));
      hostsRan();
      const clock = clockAt(DURATION - 1);

      const result = await pollBatch(state, clock.deps);

      expect(result).toEqual({ done: true, ended: 3, waitSeconds: 0 });
      expect(clock.sleeps).toEqual([1000, LINGER_CLOSE_INTERVAL_MS]);
      expect(aws.ssm).toHaveReceivedCommandTimes(ListCommandInvocationsCommand, 3);
      expect(batchWritten()).toHaveLength(3);
    });

    it(`gives up lingering after ${LINGER_INVOCATION_SECONDS} s and leaves the rest to the Wait state`, async () => {
      listed(all({ Status: 'InProgress' }));
      const clock = clockAt(DURATION - 1);

      const result = await pollBatch(state, clock.deps);

      expect(result).toEqual({ done: false, ended: 0, waitSeconds: 1 });
      // 1 s to the expected end, LINGER_CLOSE_SECONDS of close looks, the rest at the quarter second.
      const close = (LINGER_CLOSE_SECONDS * 1000) / LINGER_CLOSE_INTERVAL_MS;
      const rest = ((LINGER_INVOCATION_SECONDS - 1 - LINGER_CLOSE_SECONDS) * 1000) / LINGER_INTERVAL_MS;
      expect(clock.sleeps).toEqual([
        1000,
        ...Array<number>(close).fill(LINGER_CLOSE_INTERVAL_MS),
        ...Array<number>(rest).fill(LINGER_INTERVAL_MS),
      ]);
      expect(aws.ssm).toHaveReceivedCommandTimes(ListCommandInvocationsCommand, 1 + clock.sleeps.length);
    });

    it('looks no more often than every quarter second per batch in a service of three batches or more', async () => {
      listed(all({ Status: 'InProgress' }), all({ Status: 'Success' }));
      hostsRan();
      const threeBatches = {
        ...servicePlan,
        batches: [0, 1, 2].map((b) => ({ batch: b, instanceIds: HOSTS })),
      };
      const clock = clockAt(DURATION);

      await pollBatch({ ...state, plan: threeBatches }, clock.deps);

      expect(clock.sleeps).toEqual([LINGER_INTERVAL_MS]);
    });

    it('ends the linger, not the session, when a look is throttled: the Wait state goes on', async () => {
      const throttled = Object.assign(new Error('Rate exceeded'), {
        name: 'ThrottlingException',
        $metadata: { httpStatusCode: 400, attempts: 3 },
      });
      aws.ssm
        .on(ListCommandInvocationsCommand)
        .resolvesOnce({
          CommandInvocations: HOSTS.map((InstanceId) => ({
            CommandId: COMMAND_ID,
            InstanceId,
            Status: 'InProgress',
          })),
        })
        .rejects(throttled);
      const clock = clockAt(DURATION);

      const result = await pollBatch(state, clock.deps);

      expect(result).toEqual({ done: false, ended: 0, waitSeconds: 1 });
      expect(aws.ssm).toHaveReceivedCommandTimes(ListCommandInvocationsCommand, 2);
      expect(bucket.puts()).toEqual([]);
    });

    it('still fails on a look that fails for another reason than throttling', async () => {
      aws.ssm
        .on(ListCommandInvocationsCommand)
        .resolvesOnce({
          CommandInvocations: HOSTS.map((InstanceId) => ({
            CommandId: COMMAND_ID,
            InstanceId,
            Status: 'InProgress',
          })),
        })
        .rejects(
          Object.assign(new Error('denied'), {
            name: 'AccessDeniedException',
            $metadata: { httpStatusCode: 400 },
          }),
        );

      const error = await caught(() => pollBatch(state, clockAt(DURATION).deps));

      expect(error).toMatchObject({
        code: 'AWS_ERROR',
        message: expect.stringContaining('ssm:ListCommandInvocations'),
      });
    });

    it('keeps looking past the expected end, where a host ends after its finish (gzip, uploads)', async () => {
      // Woken LINGER_SECONDS before the expected end (a look a second); the host ends 2 s after it.
      const polls = (LINGER_SECONDS * 1000) / 1000 + 2000 / LINGER_CLOSE_INTERVAL_MS;
      listed(
        ...Array.from({ length: polls }, () => all({ Status: 'InProgress' })),
        all({ Status: 'Success' }),
      );
      hostsRan();
      const clock = clockAt(DURATION - LINGER_SECONDS);

      const result = await pollBatch(state, clock.deps);

      expect(result).toEqual({ done: true, ended: 3, waitSeconds: 0 });
      expect(clock.sleeps).toHaveLength(polls);
    });

    it('lingers for one task too, counting its capture from the send', async () => {
      listed(
        { [taskState.batch.instanceIds[0]]: { Status: 'InProgress' } },
        { [taskState.batch.instanceIds[0]]: { Status: 'Success' } },
      );
      hostsRan();
      const clock = clockAt(DURATION - 2, SENT);

      const result = await pollBatch(taskState, clock.deps);

      expect(result.done).toBe(true);
      expect(clock.sleeps).toEqual([1000]);
      expect(bucket.puts().map((p) => p.Key)).toEqual([`sessions/${SESSION_ID}/batches/0.json`]);
    });

    it('does not linger while the capture has a while to go', async () => {
      listed(all({ Status: 'InProgress' }));
      const clock = clockAt(DURATION - LINGER_SECONDS - 5);

      await pollBatch(state, clock.deps);

      expect(clock.sleeps).toEqual([]);
      expect(aws.ssm).toHaveReceivedCommandTimes(ListCommandInvocationsCommand, 1);
    });
  });

  describe('past the deadline', () => {
    const pastDeadline = () => clockAt(servicePlan.deadline + 1 - START_AT);

    it('cancels only the hosts still running and records them as GaveUp, keeping the others', async () => {
      listed({
        [HOSTS[0]]: { Status: 'Success' },
        [HOSTS[1]]: { Status: 'InProgress' },
        [HOSTS[2]]: { Status: 'Success' },
      });
      hostsRan();

      const result = await pollBatch(state, pastDeadline().deps);

      expect(result).toEqual({ done: true, ended: 3, waitSeconds: 0 });
      expect(aws.ssm).toHaveReceivedCommandTimes(CancelCommandCommand, 1);
      expect(aws.ssm).toHaveReceivedCommandWith(CancelCommandCommand, {
        CommandId: COMMAND_ID,
        InstanceIds: [HOSTS[1]],
      });
      expect(aws.ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 2);
      expect(aws.ssm).not.toHaveReceivedCommandWith(GetCommandInvocationCommand, { InstanceId: HOSTS[1] });
      const outcomes = batchWritten();
      expect(outcomes.map((o) => o.instanceId)).toEqual(HOSTS);
      expect(outcomes[1]).toEqual({ instanceId: HOSTS[1], status: 'GaveUp' });
      expect(outcomes[0]).toMatchObject({ status: 'Success', summaryLine: summaryOf(HOSTS[0]) });
    });

    it('still writes the outcomes when CancelCommand fails', async () => {
      listed({
        [HOSTS[0]]: { Status: 'InProgress' },
        [HOSTS[1]]: { Status: 'Success' },
        [HOSTS[2]]: { Status: 'Success' },
      });
      hostsRan();
      aws.ssm
        .on(CancelCommandCommand)
        .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

      const result = await pollBatch(state, pastDeadline().deps);

      expect(result.done).toBe(true);
      expect(batchWritten()[0]).toEqual({ instanceId: HOSTS[0], status: 'GaveUp' });
    });

    it('reports a host that ended just past the deadline as ended, not given up on', async () => {
      listed(all({ Status: 'Success' }));
      hostsRan();

      await pollBatch(state, pastDeadline().deps);

      expect(aws.ssm).toHaveReceivedCommandTimes(CancelCommandCommand, 0);
      expect(batchWritten().map((o) => o.status)).toEqual(['Success', 'Success', 'Success']);
    });
  });

  it("writes a re-upload's outcomes under its own prefix", async () => {
    const reupload = { id: 'r1a2b', children: [`${SESSION_ID}-0001`] };
    listed(all({ Status: 'Success' }));
    hostsRan();

    await pollBatch({ ...state, plan: { ...servicePlan, reupload } }, clockAt(65).deps);

    expect(bucket.puts().map((p) => p.Key)).toEqual([
      `sessions/${SESSION_ID}/reuploads/r1a2b/batches/1.json`,
    ]);
  });

  it('throws AWS_ERROR naming s3:HeadObject when the cancel marker cannot be checked', async () => {
    aws.s3.on(HeadObjectCommand).rejects(
      new S3ServiceException({
        name: 'Forbidden',
        $fault: 'client',
        message: 'Forbidden',
        $metadata: { httpStatusCode: 403 },
      }),
    );

    const error = await caught(() => pollBatch(state, clockAt(2).deps));

    expect(error).toMatchObject({ code: 'AWS_ERROR', details: { call: 's3:HeadObject', httpStatus: 403 } });
    expect(error.hint).toContain('may not call s3:HeadObject');
  });

  it('throws AWS_ERROR naming ssm:GetCommandInvocation when an ended host cannot be read', async () => {
    listed(all({ Status: 'Success' }));
    aws.ssm
      .on(GetCommandInvocationCommand)
      .rejects(Object.assign(new Error('boom'), { name: 'InternalServerError' }));

    const error = await caught(() => pollBatch(state, clockAt(65).deps));

    expect(error.message).toBe('ssm:GetCommandInvocation failed: InternalServerError: boom');
    expect(aws.s3).toHaveReceivedCommandTimes(PutObjectCommand, 0);
  });
});

describe('pollBatch (Poll) and a stop', () => {
  const stopMarker = `sessions/${SESSION_ID}/stop`;
  const stopsSent = () =>
    aws.ssm
      .commandCalls(SendCommandCommand)
      .map((c) => c.args[0].input)
      .filter((input) => input.Parameters?.action?.[0] === 'stop');

  beforeEach(() => {
    aws.ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'stop-command' } });
  });

  it('sends action=stop once to the hosts still running when the stop marker appears, and expects the end at the stop', async () => {
    bucket.objects.set(stopMarker, '{}');
    listed({
      [HOSTS[0]]: { Status: 'Success' },
      [HOSTS[1]]: { Status: 'InProgress' },
      [HOSTS[2]]: { Status: 'InProgress' },
    });
    const clock = clockAt(10);

    const result = await pollBatch(state, clock.deps);

    expect(stopsSent()).toHaveLength(1);
    expect(stopsSent()[0]).toMatchObject({
      InstanceIds: [HOSTS[1], HOSTS[2]],
      Parameters: { action: ['stop'], sessionId: [SESSION_ID] },
      Comment: `debug-task stop ${SESSION_ID}`,
    });
    expect(result).toMatchObject({ done: false, ended: 1, stopSentAt: expect.any(String) });
    // The captures now end about at the stop: the next look comes within a second or two.
    expect(result.waitSeconds).toBeLessThanOrEqual(2);

    // The next poll carries the stop along and sends nothing again.
    const again = await pollBatch({ ...state, poll: result }, clockAt(12).deps);
    expect(stopsSent()).toHaveLength(1);
    expect(again.stopSentAt).toBe(result.stopSentAt);
  });

  it('sends no stop without the marker', async () => {
    listed(all({ Status: 'InProgress' }));

    const result = await pollBatch(state, clockAt(10).deps);

    expect(stopsSent()).toHaveLength(0);
    expect(result.stopSentAt).toBeUndefined();
  });

  it('a cancel wins over a stop: CANCELLED, and no stop is sent', async () => {
    bucket.objects.set(stopMarker, '{}');
    bucket.objects.set(`sessions/${SESSION_ID}/cancel`, '{}');

    const error = await caught(() => pollBatch(state, clockAt(10).deps));

    expect(error).toMatchObject({ code: 'CANCELLED' });
    expect(aws.ssm.calls()).toHaveLength(0);
  });

  it('tries the stop again at the next poll when SendCommand fails', async () => {
    bucket.objects.set(stopMarker, '{}');
    listed(all({ Status: 'InProgress' }));
    aws.ssm.on(SendCommandCommand).rejects(new Error('throttled'));

    const first = await pollBatch(state, clockAt(10).deps);
    expect(first.stopSentAt).toBeUndefined();

    aws.ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'stop-command' } });
    const second = await pollBatch({ ...state, poll: first }, clockAt(12).deps);
    expect(second.stopSentAt).toEqual(expect.any(String));
  });
});
