import 'aws-sdk-client-mock-jest';
import { HeadObjectCommand, NotFound, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CancelCommandCommand,
  GetCommandInvocationCommand,
  InvocationDoesNotExist,
  ListCommandInvocationsCommand,
  SSMClient,
  type CommandInvocation,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import type { FleetLaunchInfo, HostOutcome } from '../../../lib/domain/host-plan';
import { resetStepClients } from '../../../lib/steps/clients';
import { pollBatch, type BatchPollState } from '../../../lib/steps/fleet-poll';
import { BUCKET, CLUSTER, SESSION_ID, caught, executionInput } from './fixtures';

const s3 = mockClient(S3Client);
const ssm = mockClient(SSMClient);

const COMMAND_ID = '11111111-2222-3333-4444-555555555555';
const START_AT = Date.parse('2025-01-01T12:00:30.000Z') / 1000;
const DURATION = 60;
const GRACE = 30;
const HOSTS = ['i-0000000000000000a', 'i-0000000000000000b', 'i-0000000000000000c'];
const fleet: FleetLaunchInfo = {
  bucket: BUCKET,
  startAt: START_AT,
  expiresAt: START_AT + DURATION + GRACE,
  deadline: START_AT + DURATION + GRACE + 120,
  batches: [
    { batch: 0, instanceIds: ['i-00000000000000001'] },
    { batch: 1, instanceIds: HOSTS },
  ],
  counts: { listed: 4, targets: 4, skipped: 0, leftOut: 0 },
  cluster: CLUSTER,
  service: 'web',
};
const state: BatchPollState = {
  ...executionInput({
    target: { service: 'web', cluster: CLUSTER, maxTasks: 100 },
    durationSeconds: DURATION,
  }),
  fleet,
  batch: fleet.batches[1],
  command: { commandId: COMMAND_ID, sentAt: '2025-01-01T12:00:12.000Z' },
};
/** A clock `seconds` after the synchronized start. */
const at = (seconds: number) => () => (START_AT + seconds) * 1000;
const manifestLineOf = (instanceId: string) =>
  JSON.stringify({ v: 1, action: 'fleet', sessionId: SESSION_ID, instanceId, status: 'OK', children: [] });

function notCancelled(): void {
  s3.on(HeadObjectCommand).rejects(
    new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } }),
  );
}

function listed(invocations: Record<string, Partial<CommandInvocation>>): void {
  ssm.on(ListCommandInvocationsCommand).resolves({
    CommandInvocations: Object.entries(invocations).map(([InstanceId, inv]) => ({
      CommandId: COMMAND_ID,
      InstanceId,
      ...inv,
    })),
  });
}

/** GetCommandInvocation answers as a host that ran its share and printed its manifest. */
function hostsRan(responseCode = 0): void {
  ssm.on(GetCommandInvocationCommand).callsFake((input: { InstanceId: string }) => ({
    CommandId: COMMAND_ID,
    InstanceId: input.InstanceId,
    Status: 'Success',
    StatusDetails: 'Success',
    ResponseCode: responseCode,
    StandardOutputContent: `pulling toolbox\n${manifestLineOf(input.InstanceId)}\n`,
    StandardErrorContent: `stderr of ${input.InstanceId}`,
  }));
}

function batchWritten(): HostOutcome[] {
  expect(s3).toHaveReceivedCommandTimes(PutObjectCommand, 1);
  const put = s3.commandCalls(PutObjectCommand)[0].args[0].input;
  expect(put).toMatchObject({ Bucket: BUCKET, Key: `sessions/${SESSION_ID}/batches/1.json` });
  return JSON.parse(put.Body as string) as HostOutcome[];
}

beforeEach(() => {
  s3.reset();
  ssm.reset();
  resetStepClients();
  s3.on(PutObjectCommand).resolves({});
  ssm.on(CancelCommandCommand).resolves({});
});

afterEach(() => resetStepClients());

describe('pollBatch', () => {
  it('throws CANCELLED when the fleet’s cancel marker exists, asking SSM nothing', async () => {
    s3.on(HeadObjectCommand).resolves({ ContentLength: 0 });

    const error = await caught(() => pollBatch(state, { now: at(10) }));

    expect(error).toMatchObject({ code: 'CANCELLED' });
    expect(s3).toHaveReceivedCommandWith(HeadObjectCommand, {
      Bucket: BUCKET,
      Key: `sessions/${SESSION_ID}/cancel`,
    });
    expect(ssm).toHaveReceivedCommandTimes(ListCommandInvocationsCommand, 0);
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 0);
  });

  it('is not done while a host still runs: a wait of 2 to 10 s, no output fetched, nothing written', async () => {
    notCancelled();
    listed({
      [HOSTS[0]]: { Status: 'Success' },
      [HOSTS[1]]: { Status: 'InProgress' },
      [HOSTS[2]]: { Status: 'Failed' },
    });

    const result = await pollBatch(state, { now: at(10) });

    expect(result).toMatchObject({ done: false, ended: 2 });
    expect(Number.isInteger(result.waitSeconds)).toBe(true);
    expect(result.waitSeconds).toBeGreaterThanOrEqual(2);
    expect(result.waitSeconds).toBeLessThanOrEqual(10);
    expect(ssm).toHaveReceivedCommandWith(ListCommandInvocationsCommand, { CommandId: COMMAND_ID });
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 0);
    expect(ssm).toHaveReceivedCommandTimes(CancelCommandCommand, 0);
    expect(s3).toHaveReceivedCommandTimes(PutObjectCommand, 0);
  });

  it.each([
    ['before the start', -20],
    ['while the captures run', 30],
    ['just before the end', 58],
    ['after the end, before the deadline', 150],
  ])('keeps its wait within 2..10 s %s', async (_label, seconds) => {
    notCancelled();
    listed({ [HOSTS[0]]: { Status: 'InProgress' } });

    const { done, waitSeconds } = await pollBatch(state, { now: at(seconds) });

    expect(done).toBe(false);
    expect(Number.isInteger(waitSeconds) && waitSeconds >= 2 && waitSeconds <= 10).toBe(true);
  });

  it('waits for a host SSM does not list yet', async () => {
    notCancelled();
    listed({ [HOSTS[0]]: { Status: 'Success' }, [HOSTS[1]]: { Status: 'Success' } });

    const result = await pollBatch(state, { now: at(70) });

    expect(result).toMatchObject({ done: false, ended: 2 });
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 0);
  });

  it('when every host has ended, fetches each one’s output and writes the batch’s outcomes', async () => {
    notCancelled();
    listed({
      [HOSTS[0]]: { Status: 'Success' },
      [HOSTS[1]]: { Status: 'Success' },
      [HOSTS[2]]: { Status: 'Success' },
    });
    hostsRan();

    const result = await pollBatch(state, { now: at(65) });

    expect(result).toEqual({ done: true, ended: 3, waitSeconds: 0 });
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 3);
    for (const id of HOSTS) {
      expect(ssm).toHaveReceivedCommandWith(GetCommandInvocationCommand, {
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
        manifestLine: manifestLineOf(id),
        stderrTail: `stderr of ${id}`,
      })),
    );
    expect(ssm).toHaveReceivedCommandTimes(CancelCommandCommand, 0);
  });

  it('keeps the failed status and response code of a host whose share failed', async () => {
    notCancelled();
    listed(Object.fromEntries(HOSTS.map((id) => [id, { Status: 'Failed' }])));
    ssm.on(GetCommandInvocationCommand).resolves({
      Status: 'Failed',
      StatusDetails: 'Failed',
      ResponseCode: 3,
      StandardOutputContent: '',
      StandardErrorContent: 'plan unreadable',
    });

    await pollBatch(state, { now: at(65) });

    const outcomes = batchWritten();
    expect(outcomes.map((o) => [o.status, o.responseCode, o.manifestLine])).toEqual(
      HOSTS.map(() => ['Failed', 3, undefined]),
    );
  });

  it('past the deadline, cancels only the host still running and records it as GaveUp, keeping the others', async () => {
    notCancelled();
    listed({
      [HOSTS[0]]: { Status: 'Success' },
      [HOSTS[1]]: { Status: 'InProgress' },
      [HOSTS[2]]: { Status: 'Success' },
    });
    hostsRan();

    const result = await pollBatch(state, { now: () => (fleet.deadline + 1) * 1000 });

    expect(result).toMatchObject({ done: true, ended: 3 });
    expect(ssm).toHaveReceivedCommandTimes(CancelCommandCommand, 1);
    expect(ssm).toHaveReceivedCommandWith(CancelCommandCommand, {
      CommandId: COMMAND_ID,
      InstanceIds: [HOSTS[1]],
    });
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 2);
    expect(ssm).not.toHaveReceivedCommandWith(GetCommandInvocationCommand, { InstanceId: HOSTS[1] });
    const outcomes = batchWritten();
    expect(outcomes.map((o) => o.instanceId)).toEqual(HOSTS);
    expect(outcomes[1]).toEqual({ instanceId: HOSTS[1], status: 'GaveUp' });
    expect(outcomes[0]).toMatchObject({ status: 'Success', manifestLine: manifestLineOf(HOSTS[0]) });
    expect(outcomes[2]).toMatchObject({ status: 'Success', manifestLine: manifestLineOf(HOSTS[2]) });
  });

  it('past the deadline, still writes the outcomes when CancelCommand fails', async () => {
    notCancelled();
    listed({
      [HOSTS[0]]: { Status: 'InProgress' },
      [HOSTS[1]]: { Status: 'Success' },
      [HOSTS[2]]: { Status: 'Success' },
    });
    hostsRan();
    ssm
      .on(CancelCommandCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    const result = await pollBatch(state, { now: () => (fleet.deadline + 1) * 1000 });

    expect(result.done).toBe(true);
    expect(batchWritten()[0]).toEqual({ instanceId: HOSTS[0], status: 'GaveUp' });
  });

  it.each([
    ['Undeliverable', { Status: 'Failed', StatusDetails: 'Undeliverable' }],
    ['DeliveryTimedOut', { Status: 'TimedOut', StatusDetails: 'DeliveryTimedOut' }],
  ] as const)(
    'records an undelivered host (%s) with its listed status when SSM has no invocation to read',
    async (expected, inv) => {
      notCancelled();
      listed({ [HOSTS[0]]: { Status: 'Success' }, [HOSTS[1]]: inv, [HOSTS[2]]: { Status: 'Success' } });
      ssm.on(GetCommandInvocationCommand).callsFake((input: { InstanceId: string }) => {
        if (input.InstanceId === HOSTS[1]) {
          throw new InvocationDoesNotExist({ message: 'no invocation', $metadata: {} });
        }
        return {
          Status: 'Success',
          ResponseCode: 0,
          StandardOutputContent: manifestLineOf(input.InstanceId),
        };
      });

      const result = await pollBatch(state, { now: at(65) });

      expect(result.done).toBe(true);
      const outcomes = batchWritten();
      expect(outcomes[1]).toEqual({ instanceId: HOSTS[1], status: expected });
      expect(outcomes[0]).toMatchObject({ status: 'Success', manifestLine: manifestLineOf(HOSTS[0]) });
    },
  );
});
