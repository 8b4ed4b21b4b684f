import { INLINE_CHILDREN, type ChildResult } from '../../../lib/domain/session';
import {
  executionOutput,
  readSessionRecord,
  sessionRecordChildren,
  sessionResult,
  writeSessionRecord,
  type SessionRecord,
} from '../../../lib/session/record';
import { givenBucket, useAwsMocks } from '../../support/aws';
import {
  BUCKET,
  CALLER,
  CLUSTER,
  CLUSTER_ARN,
  SERVICE,
  SESSION_ID,
  TASK_ARN,
  caught,
  executionInput,
  fleetInstanceId,
  fleetTaskArn,
  planTarget,
  serviceInput,
  servicePlanRecord,
  taskPlanRecord,
} from '../../support/fixtures';

useAwsMocks();

const RECORD_KEY = `sessions/${SESSION_ID}/manifest.json`;
const collected = { collectedAt: '2025-01-01T12:01:30.000Z' };

function child(index: number, status: ChildResult['status'] = 'SUCCEEDED'): ChildResult {
  const t = planTarget(index, index === 0 ? {} : { instanceId: fleetInstanceId(index % 3) });
  return {
    index,
    sessionId: t.sessionId,
    taskArn: t.taskArn,
    clusterArn: t.clusterArn,
    container: t.container,
    instanceId: t.instanceId,
    status,
    ...(status === 'FAILED' && { error: { code: 'HOST_BUSY', message: 'busy', hint: 'wait' } }),
  };
}

describe('sessionResult', () => {
  it('reports a one-task session with its one child and the task it was asked for', () => {
    const result = sessionResult(executionInput(), taskPlanRecord(), [child(0)], BUCKET, collected);

    expect(result).toEqual({
      sessionId: SESSION_ID,
      status: 'SUCCEEDED',
      kind: 'task',
      target: { cluster: CLUSTER_ARN, clusterArn: CLUSTER_ARN, task: TASK_ARN },
      tool: 'tcpdump',
      counts: { listed: 1, targets: 1, succeeded: 1, failed: 0, skipped: 0, leftOut: 0 },
      children: [child(0)],
      skipped: [],
      recordUri: `s3://${BUCKET}/${RECORD_KEY}`,
      timings: { requestedAt: '2025-01-01T12:00:00.000Z', collectedAt: '2025-01-01T12:01:30.000Z' },
    });
  });

  it('reports a service with its counts, skipped tasks and synchronized start', () => {
    const skipped = [{ taskArn: fleetTaskArn(9), code: 'FARGATE_UNSUPPORTED' as const, message: 'Fargate.' }];
    const plan = servicePlanRecord([planTarget(1), planTarget(2)], { listed: 5, leftOut: 2, skipped });

    const result = sessionResult(serviceInput(), plan, [child(1), child(2, 'FAILED')], BUCKET, {
      ...collected,
      startAt: 1735732830,
    });

    expect(result).toMatchObject({
      kind: 'service',
      target: { cluster: CLUSTER, clusterArn: CLUSTER_ARN, service: SERVICE },
      counts: { listed: 5, targets: 2, succeeded: 1, failed: 1, skipped: 1, leftOut: 2 },
      startAt: 1735732830,
      skipped,
    });
    expect(result.target).not.toHaveProperty('task');
  });
});

describe('executionOutput', () => {
  it(`keeps up to ${INLINE_CHILDREN} children in the execution output`, () => {
    const children = Array.from({ length: INLINE_CHILDREN }, (_, i) => child(i));
    const result = sessionResult(serviceInput(), servicePlanRecord([]), children, BUCKET, collected);

    expect(executionOutput(result)).toBe(result);
  });

  it(`leaves the children in the record above ${INLINE_CHILDREN} (the 256 KiB state limit), counts kept`, () => {
    const children = Array.from({ length: INLINE_CHILDREN + 1 }, (_, i) => child(i));
    const result = sessionResult(serviceInput(), servicePlanRecord([]), children, BUCKET, collected);

    const output = executionOutput(result);

    expect(output).toEqual({ ...result, children: [], skipped: [], childrenInRecord: true });
    expect(output.counts.targets).toBe(INLINE_CHILDREN + 1);
  });
});

describe('writeSessionRecord', () => {
  const result = () => sessionResult(executionInput(), taskPlanRecord(), [child(0)], BUCKET, collected);

  it('writes the record once: the result, every child, the outcome, the calls and the audit of the request', async () => {
    const bucket = givenBucket();

    await expect(
      writeSessionRecord(BUCKET, executionInput(), result(), {
        status: 'SUCCEEDED',
        calls: taskPlanRecord().calls,
      }),
    ).resolves.toBe(true);

    const { status: _status, ...rest } = result();
    expect(bucket.json<SessionRecord>(RECORD_KEY)).toEqual({
      v: 2,
      ...rest,
      status: 'SUCCEEDED',
      audit: {
        caller: CALLER,
        reason: 'INC-42 TLS resets',
        requestedAt: '2025-01-01T12:00:00.000Z',
        spec: executionInput().spec,
        requested: TASK_ARN,
      },
      calls: taskPlanRecord().calls,
    });
    expect(bucket.puts()[0]).toMatchObject({ IfNoneMatch: '*' });
  });

  it('records why a session failed, and a null reason when none was given', async () => {
    const bucket = givenBucket();
    const error = { code: 'HOST_BUSY' as const, message: 'busy', hint: 'wait' };

    await writeSessionRecord(BUCKET, executionInput({ reason: undefined }), result(), {
      status: 'FAILED',
      error,
      calls: {},
    });

    expect(bucket.json(RECORD_KEY)).toMatchObject({ status: 'FAILED', error, audit: { reason: null } });
  });

  it('never overwrites a record: the second writer is told so and the first record stays', async () => {
    const bucket = givenBucket();
    await writeSessionRecord(BUCKET, executionInput(), result(), { status: 'SUCCEEDED', calls: {} });

    await expect(
      writeSessionRecord(BUCKET, executionInput(), result(), { status: 'CANCELLED', calls: {} }),
    ).resolves.toBe(false);

    expect(bucket.json(RECORD_KEY)).toMatchObject({ status: 'SUCCEEDED' });
  });
});

describe('reading the record', () => {
  it('reads nothing for a session that has not ended', async () => {
    givenBucket();

    await expect(readSessionRecord(BUCKET, SESSION_ID)).resolves.toBeUndefined();
  });

  it("gives a re-upload the session's children, kind and target", async () => {
    const children = [child(0), child(1, 'FAILED')];
    const record = sessionResult(serviceInput(), servicePlanRecord([]), children, BUCKET, collected);
    givenBucket({ [RECORD_KEY]: { ...record, v: 2 } });

    await expect(sessionRecordChildren(BUCKET, SESSION_ID)).resolves.toEqual({
      kind: 'service',
      children,
      clusterArn: CLUSTER_ARN,
      service: SERVICE,
    });
  });

  it('refuses a re-upload of a session without a record, saying to wait for its end', async () => {
    givenBucket();

    const error = await caught(() => sessionRecordChildren(BUCKET, SESSION_ID));

    expect(error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: `Session ${SESSION_ID} has no record yet: it has not ended.`,
      hint: expect.stringContaining(`debug-task status ${SESSION_ID}`),
    });
  });
});
