import { audit } from '../../../lib/audit/audit';
import { ListCommandInvocationsCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import { DebugTaskError, fromStepFunctionsFailure } from '../../../lib/domain/errors';
import { commandParameters } from '../../../lib/domain/params';
import type { PlanRecord } from '../../../lib/domain/session';
import type { SessionRecord } from '../../../lib/session/record';
import { CLEANUP_CONFIRM_SECONDS, cleanupSession, type CleanupState } from '../../../lib/steps/cleanup';
import { stepHandler } from '../../../lib/steps/step-handler';
import { FAKE, aws, givenBucket, useAwsMocks, type FakeBucket } from '../../support/aws';
import {
  CHILD_ID,
  DOCUMENT,
  INSTANCE_ID,
  SESSION_ID,
  caught,
  executionInput,
  fleetInstanceId,
  planInfoOf,
  planTarget,
  serviceInput,
  servicePlanRecord,
  stepFunctionsFailure,
  taskPlanRecord,
} from '../../support/fixtures';

useAwsMocks();

const NOW_MS = Date.parse('2025-01-01T12:01:00.000Z');
const PLAN_KEY = `sessions/${SESSION_ID}/plan.json`;
const RECORD_KEY = `sessions/${SESSION_ID}/manifest.json`;
const CANCELLED = new DebugTaskError('CANCELLED', `Session ${SESSION_ID} was cancelled.`, {
  details: { marker: `sessions/${SESSION_ID}/cancel` },
});

const TASK_RECORD = taskPlanRecord();
const TASK_PLAN = planInfoOf(TASK_RECORD, { expiresAt: 1735732890, deadline: 1735733010 });
const taskState = (error: DebugTaskError = CANCELLED): CleanupState => ({
  ...executionInput(),
  plan: TASK_PLAN,
  error: stepFunctionsFailure(error),
});

let bucket: FakeBucket;

beforeEach(() => {
  aws.ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cleanup-command' } });
});

function given(record: PlanRecord = TASK_RECORD, extra: Record<string, unknown> = {}): void {
  bucket = givenBucket({ [PLAN_KEY]: record, ...extra });
}

function sentInputs() {
  return aws.ssm.commandCalls(SendCommandCommand).map((c) => c.args[0].input);
}

describe('cleanupSession (Cleanup)', () => {
  it('asks the host to clean up the session, then re-raises the original error', async () => {
    given();

    const error = await caught(() => cleanupSession(taskState(), { now: () => NOW_MS }));

    expect(error).toBeInstanceOf(DebugTaskError);
    expect((error as unknown as DebugTaskError).toJSON()).toEqual(CANCELLED.toJSON());
    expect(sentInputs()).toEqual([
      {
        DocumentName: DOCUMENT,
        DocumentVersion: FAKE.documentVersion,
        DocumentHash: FAKE.documentHash,
        DocumentHashType: 'Sha256',
        InstanceIds: [INSTANCE_ID],
        Parameters: {
          ...commandParameters({
            action: 'cleanup',
            sessionId: SESSION_ID,
            expiresAt: String(TASK_PLAN.expiresAt),
            executionTimeout: '120',
          }),
          runnerUrl: [expect.stringMatching(/^https:\/\//)],
        },
        TimeoutSeconds: 60,
        MaxConcurrency: '100%',
        MaxErrors: '100%',
        Comment: `debug-task cleanup ${SESSION_ID}`,
      },
    ]);
  });

  it('records a session that ended before Collect: every child failed with its error, CANCELLED for a cancel', async () => {
    given();

    await caught(() => cleanupSession(taskState(), { now: () => NOW_MS }));

    expect(bucket.puts()).toEqual([expect.objectContaining({ Key: RECORD_KEY, IfNoneMatch: '*' })]);
    expect(bucket.json<SessionRecord>(RECORD_KEY)).toMatchObject({
      v: 2,
      sessionId: SESSION_ID,
      status: 'CANCELLED',
      error: CANCELLED.toJSON(),
      kind: 'task',
      counts: { targets: 1, succeeded: 0, failed: 1 },
      children: [
        { sessionId: CHILD_ID, instanceId: INSTANCE_ID, status: 'FAILED', error: CANCELLED.toJSON() },
      ],
      calls: TASK_RECORD.calls,
      timings: { collectedAt: '2025-01-01T12:01:00.000Z' },
    });
  });

  it('ends the session only once the host has run its cleanup (the record says it confirmed)', async () => {
    given();
    aws.ssm
      .on(ListCommandInvocationsCommand)
      .resolvesOnce({ CommandInvocations: [{ InstanceId: INSTANCE_ID, Status: 'InProgress' }] })
      .resolves({ CommandInvocations: [{ InstanceId: INSTANCE_ID, Status: 'Success' }] });
    let t = NOW_MS;
    const waits: number[] = [];

    await caught(() =>
      cleanupSession(taskState(), {
        now: () => t,
        sleep: async (ms) => void (waits.push(ms), (t += ms)),
      }),
    );

    expect(waits).toEqual([500]);
    expect(aws.ssm.commandCalls(ListCommandInvocationsCommand)[0].args[0].input).toMatchObject({
      CommandId: 'cleanup-command',
    });
    expect(bucket.json<SessionRecord>(RECORD_KEY).error).toMatchObject({
      code: 'CANCELLED',
      details: { marker: `sessions/${SESSION_ID}/cancel`, cleanup: { hosts: 1, confirmed: 1 } },
    });
  });

  it('waits for the hosts at most CLEANUP_CONFIRM_SECONDS, then records how many had not confirmed', async () => {
    given();
    aws.ssm
      .on(ListCommandInvocationsCommand)
      .resolves({ CommandInvocations: [{ InstanceId: INSTANCE_ID, Status: 'InProgress' }] });
    let t = NOW_MS;

    const error = await caught(() =>
      cleanupSession(taskState(), { now: () => t, sleep: async (ms) => void (t += ms) }),
    );

    expect((error as unknown as DebugTaskError).code).toBe('CANCELLED');
    expect(t - NOW_MS).toBe(CLEANUP_CONFIRM_SECONDS * 1000);
    expect(bucket.json<SessionRecord>(RECORD_KEY).error?.details).toMatchObject({
      cleanup: { hosts: 1, confirmed: 0 },
    });
  });

  it('puts the end of the session on the audit log, CANCELLED with the error code', async () => {
    given();

    await caught(() => cleanupSession(taskState(), { now: () => NOW_MS }));

    expect(audit.pending()).toEqual([
      expect.objectContaining({
        type: 'session.ended',
        sessionId: SESSION_ID,
        status: 'CANCELLED',
        errorCode: 'CANCELLED',
        artifacts: [],
      }),
    ]);
  });

  it('records any other failure as FAILED', async () => {
    given();
    const broken = new DebugTaskError(
      'AWS_ERROR',
      'ssm:ListCommandInvocations failed: ThrottlingException: slow',
    );

    await caught(() => cleanupSession(taskState(broken), { now: () => NOW_MS }));

    expect(bucket.json<SessionRecord>(RECORD_KEY)).toMatchObject({
      status: 'FAILED',
      error: { code: 'AWS_ERROR' },
    });
  });

  it("leaves the record Collect wrote (the child's own failure) as it is", async () => {
    const written = { v: 2, sessionId: SESSION_ID, status: 'FAILED', error: { code: 'HOST_BUSY' } };
    given(TASK_RECORD, { [RECORD_KEY]: written });
    const busy = new DebugTaskError('HOST_BUSY', 'The host already runs 2 sessions.');

    const error = await caught(() => cleanupSession(taskState(busy), { now: () => NOW_MS }));

    expect(error).toMatchObject({ code: 'HOST_BUSY', message: busy.message });
    expect(bucket.json(RECORD_KEY)).toEqual(written);
  });

  it('sends the cleanup to every host of a service, 50 a call', async () => {
    const targets = Array.from({ length: 57 }, (_, i) => planTarget(i, { instanceId: fleetInstanceId(i) }));
    const record = servicePlanRecord(targets);
    given(record);
    const plan = planInfoOf(record, { startAt: 1735732830, expiresAt: 1735732920, deadline: 1735733040 });

    await caught(() => cleanupSession({ ...serviceInput(), plan, error: stepFunctionsFailure(CANCELLED) }));

    const sent = sentInputs();
    expect(sent.map((s) => s.InstanceIds?.length).sort()).toEqual([50, 7]);
    expect(sent.flatMap((s) => s.InstanceIds).sort()).toEqual(targets.map((t) => t.instanceId).sort());
    for (const input of sent) {
      expect(input.Parameters).toMatchObject({
        action: ['cleanup'],
        sessionId: [SESSION_ID],
        expiresAt: ['1735732920'],
      });
    }
    expect(bucket.json<SessionRecord>(RECORD_KEY).children).toHaveLength(57);
  });

  describe('never hides the original error', () => {
    it('when one of the cleanup commands fails, still sending the others and writing the record', async () => {
      const targets = Array.from({ length: 60 }, (_, i) => planTarget(i, { instanceId: fleetInstanceId(i) }));
      const record = servicePlanRecord(targets);
      given(record);
      aws.ssm
        .on(SendCommandCommand)
        .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
        .resolves({ Command: { CommandId: 'cleanup-command' } });
      const plan = planInfoOf(record, { startAt: 1735732830, expiresAt: 1735732920, deadline: 1735733040 });

      const error = await caught(() =>
        cleanupSession({ ...serviceInput(), plan, error: stepFunctionsFailure(CANCELLED) }),
      );

      expect(error).toMatchObject({ code: 'CANCELLED' });
      expect(aws.ssm).toHaveReceivedCommandTimes(SendCommandCommand, 2);
      expect(bucket.objects.has(RECORD_KEY)).toBe(true);
    });

    it('when the cleanup command fails', async () => {
      given();
      aws.ssm.on(SendCommandCommand).rejects(Object.assign(new Error('nope'), { name: 'InvalidInstanceId' }));
      const busy = new DebugTaskError('HOST_BUSY', 'The host already runs 2 sessions.');

      const error = await caught(() => cleanupSession(taskState(busy)));

      expect(error).toMatchObject({ code: 'HOST_BUSY', message: busy.message });
    });

    it('when DOCUMENT_NAME is missing, sending nothing', async () => {
      given();
      delete process.env.DOCUMENT_NAME;

      const error = await caught(() => cleanupSession(taskState()));

      expect(error).toMatchObject({ code: 'CANCELLED' });
      expect(aws.ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
    });

    it('when the record cannot be written (no plan record to write it from)', async () => {
      bucket = givenBucket();

      const error = await caught(() => cleanupSession(taskState()));

      expect(error).toMatchObject({ code: 'CANCELLED' });
      expect(aws.ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
      expect(bucket.objects.has(RECORD_KEY)).toBe(false);
    });
  });

  it('calls nothing when Plan never ran', async () => {
    given();
    const { plan: _plan, ...unplanned } = taskState();

    const error = await caught(() => cleanupSession(unplanned));

    expect(error).toMatchObject({ code: 'CANCELLED' });
    expect(aws.ssm.calls()).toHaveLength(0);
    expect(aws.s3.calls()).toHaveLength(0);
  });

  it("cleans up after a failed re-upload but writes no record: the session's stays as it was", async () => {
    given();
    const reupload = { id: 'r1a2b', children: [CHILD_ID] };

    await caught(() =>
      cleanupSession({ ...taskState(), reupload, plan: { ...TASK_PLAN, reupload } }, { now: () => NOW_MS }),
    );

    expect(aws.ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    expect(bucket.puts()).toEqual([]);
  });

  it('turns a Step Functions timeout into SESSION_TIMED_OUT', async () => {
    given();

    const error = await caught(() =>
      cleanupSession({ ...taskState(), error: { Error: 'States.Timeout', Cause: 'Task timed out' } }),
    );

    expect(error).toMatchObject({ code: 'SESSION_TIMED_OUT' });
  });

  it('as the Lambda handler, fails the execution with the original code, hint and details', async () => {
    given();
    aws.ssm.on(SendCommandCommand).rejects(new Error('network down'));
    const handler = stepHandler('cleanup', cleanupSession);

    const error = await caught(() => handler(taskState()));

    expect(error.name).toBe('CANCELLED');
    const decoded = fromStepFunctionsFailure(
      error.name,
      JSON.stringify({ errorType: error.name, errorMessage: error.message }),
    );
    expect(decoded.toJSON()).toEqual(CANCELLED.toJSON());
  });
});
