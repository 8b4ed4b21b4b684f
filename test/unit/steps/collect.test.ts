import { audit } from '../../../lib/audit/audit';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { DebugTaskError } from '../../../lib/domain/errors';
import {
  INLINE_CHILDREN,
  sessionKeys,
  type BatchOutcome,
  type ChildResult,
  type HostOutcome,
  type PlanRecord,
  type RunnerManifest,
  type SessionResult,
} from '../../../lib/domain/session';
import type { SessionRecord } from '../../../lib/session/record';
import { collectSession, type CollectState } from '../../../lib/steps/collect';
import { aws, givenBucket, useAwsMocks, type FakeBucket } from '../../support/aws';
import {
  BUCKET,
  CALLER,
  CHILD_ID,
  CLUSTER,
  CLUSTER_ARN,
  INSTANCE_ID,
  SERVICE,
  SESSION_ID,
  TASK_ARN,
  caught,
  childId,
  executionInput,
  fleetTaskArn,
  hostSummary,
  manifest,
  planInfoOf,
  planTarget,
  serviceInput,
  servicePlanRecord,
  stepFunctionsFailure,
  taskPlanRecord,
} from '../../support/fixtures';

useAwsMocks();

const COLLECTED_AT = Date.parse('2025-01-01T12:03:00.000Z');
const now = () => COLLECTED_AT;
const OBJECT_BYTES = manifest().artifact!.objectBytes;
const PLAN_KEY = `sessions/${SESSION_ID}/plan.json`;
const RECORD_KEY = `sessions/${SESSION_ID}/manifest.json`;
const artifactKey = (child: string) => sessionKeys.childArtifact(child, 'pcap');
const manifestKey = (child: string) => sessionKeys.childManifest(child);
const summaryLine = (instanceId: string, extra = {}) => JSON.stringify(hostSummary(instanceId, extra));

let bucket: FakeBucket;

describe('collectSession (Collect), one task', () => {
  const record = taskPlanRecord();
  const plan = planInfoOf(record, { expiresAt: 1735732890, deadline: 1735733010 });
  const state: CollectState = { ...executionInput(), plan, batchResults: [{ batch: 0 }] };
  const ran: HostOutcome = {
    instanceId: INSTANCE_ID,
    status: 'Success',
    responseCode: 0,
    summaryLine: summaryLine(INSTANCE_ID),
  };

  /** S3 after the host: the plan, the batch's outcome, the child's manifest and its artifact. */
  function given(
    m: RunnerManifest | undefined,
    objects: Record<string, number> = { [artifactKey(CHILD_ID)]: OBJECT_BYTES },
    host = ran,
  ) {
    bucket = givenBucket(
      {
        [PLAN_KEY]: record,
        [`sessions/${SESSION_ID}/batches/0.json`]: [host],
        ...(m && { [manifestKey(CHILD_ID)]: m }),
      },
      { sizes: objects },
    );
  }

  it('returns the result of the one child, its artifact where S3 holds it', async () => {
    given(manifest());

    const result = await collectSession(state, { now });

    const { uploaded: _u, ...facts } = manifest().artifact!;
    expect(result).toEqual<SessionResult>({
      sessionId: SESSION_ID,
      status: 'SUCCEEDED',
      kind: 'task',
      target: { cluster: CLUSTER_ARN, clusterArn: CLUSTER_ARN, task: TASK_ARN },
      tool: 'tcpdump',
      counts: { listed: 1, targets: 1, succeeded: 1, failed: 0, skipped: 0, leftOut: 0 },
      children: [
        {
          index: 0,
          sessionId: CHILD_ID,
          taskArn: TASK_ARN,
          clusterArn: CLUSTER_ARN,
          container: 'app',
          instanceId: INSTANCE_ID,
          status: 'SUCCEEDED',
          tool: manifest().tool,
          artifact: {
            ...facts,
            s3Uri: `s3://${BUCKET}/${artifactKey(CHILD_ID)}`,
            bucket: BUCKET,
            key: artifactKey(CHILD_ID),
          },
          timings: manifest().timings,
        },
      ],
      skipped: [],
      recordUri: `s3://${BUCKET}/${RECORD_KEY}`,
      timings: { requestedAt: '2025-01-01T12:00:00.000Z', collectedAt: '2025-01-01T12:03:00.000Z' },
    });
  });

  it('writes the record once, SUCCEEDED, with the audit of the request and the calls Plan made', async () => {
    given(manifest());

    const result = await collectSession(state, { now });

    expect(aws.s3).toHaveReceivedCommandTimes(PutObjectCommand, 1);
    expect(bucket.puts()[0]).toMatchObject({ Key: RECORD_KEY, IfNoneMatch: '*' });
    expect(bucket.json<SessionRecord>(RECORD_KEY)).toMatchObject({
      v: 2,
      status: 'SUCCEEDED',
      children: result.children,
      audit: {
        caller: CALLER,
        reason: 'INC-42 TLS resets',
        spec: state.spec,
        requestedAt: state.requestedAt,
      },
      calls: record.calls,
    });
  });

  it('puts the end of the session on the audit log, with the artifact and its sha256', async () => {
    given(manifest());

    await collectSession(state, { now });

    expect(audit.pending()).toEqual([
      expect.objectContaining({
        type: 'session.ended',
        sessionId: SESSION_ID,
        status: 'SUCCEEDED',
        artifacts: [
          {
            childId: CHILD_ID,
            task: TASK_ARN,
            s3Uri: `s3://${BUCKET}/${artifactKey(CHILD_ID)}`,
            bytes: manifest().artifact!.bytes,
            sha256: manifest().artifact!.sha256,
          },
        ],
        failed: [],
      }),
    ]);
  });

  it('leaves the end of a failed session to Cleanup (recorded once)', async () => {
    given(
      manifest({ status: 'FAILED', error: { code: 'HOST_BUSY', message: 'busy' }, artifact: undefined }),
      {},
    );

    await caught(() => collectSession(state, { now }));

    expect(audit.pending()).toEqual([]);
  });

  it("fails with the child's own error (HOST_BUSY), after recording it", async () => {
    const busy = manifest({
      status: 'FAILED',
      error: { code: 'HOST_BUSY', message: `${INSTANCE_ID} already runs 2 debug sessions (the maximum).` },
      artifact: undefined,
    });
    given(busy, {});

    const error = await caught(() => collectSession(state, { now }));

    expect(error).toBeInstanceOf(DebugTaskError);
    expect(error).toMatchObject({
      code: 'HOST_BUSY',
      message: busy.error!.message,
      details: { instanceId: INSTANCE_ID },
    });
    expect(bucket.json<SessionRecord>(RECORD_KEY)).toMatchObject({
      status: 'FAILED',
      error: { code: 'HOST_BUSY', message: busy.error!.message },
      children: [{ sessionId: CHILD_ID, status: 'FAILED' }],
    });
  });

  it('fails with UPLOAD_FAILED saying where the artifact is kept and that `debug-task fetch <session>` uploads it again', async () => {
    const hostPath = `/var/lib/debug-task/${CHILD_ID}/artifact.pcap.gz`;
    given(
      manifest({
        status: 'UPLOAD_FAILED',
        error: { code: 'UPLOAD_FAILED', message: 'curl: (28) Operation timed out' },
        artifact: { ...manifest().artifact!, uploaded: false, hostPath },
      }),
      {},
    );

    const error = await caught(() => collectSession(state, { now }));

    expect(error).toMatchObject({ code: 'UPLOAD_FAILED', details: { hostPath, instanceId: INSTANCE_ID } });
    expect(error.message).toContain('curl: (28) Operation timed out');
    expect(error.hint).toContain(`debug-task fetch ${SESSION_ID}\``);
  });

  it('fails with UPLOAD_FAILED when the object is not the size the runner uploaded', async () => {
    given(manifest(), { [artifactKey(CHILD_ID)]: 4096 });

    const error = await caught(() => collectSession(state, { now }));

    expect(error).toMatchObject({
      code: 'UPLOAD_FAILED',
      details: { expectedBytes: OBJECT_BYTES, actualBytes: 4096 },
    });
  });

  it('fails with CAPTURE_FAILED, without a manifest, with the hint of the SSM status the host ended with', async () => {
    given(undefined, {}, { instanceId: INSTANCE_ID, status: 'DeliveryTimedOut' });

    const error = await caught(() => collectSession(state, { now }));

    expect(error).toMatchObject({ code: 'CAPTURE_FAILED', details: { ssmStatus: 'DeliveryTimedOut' } });
    expect(error.hint).toContain('did not pick up the command');
  });

  it('fails with the error of a batch that could not be sent (SSM_AGENT_OFFLINE)', async () => {
    given(undefined, {});
    const offline = new DebugTaskError('SSM_AGENT_OFFLINE', `SSM cannot send a command to ${INSTANCE_ID}.`);

    const error = await caught(() =>
      collectSession(
        { ...state, batchResults: [{ batch: 0, error: stepFunctionsFailure(offline) }] },
        { now },
      ),
    );

    expect(error).toMatchObject({
      code: 'SSM_AGENT_OFFLINE',
      message: offline.message,
      details: { instanceId: INSTANCE_ID },
    });
    expect(aws.s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Key)).toEqual([PLAN_KEY]);
  });

  it('throws AWS_ERROR naming s3:PutObject when the record cannot be written', async () => {
    given(manifest());
    aws.s3.on(PutObjectCommand).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));

    const error = await caught(() => collectSession(state, { now }));

    expect(error).toMatchObject({ code: 'AWS_ERROR', details: { call: 's3:PutObject' } });
  });
});

describe('collectSession (Collect), a service', () => {
  const [A, B, C, D] = [
    'i-0000000000000000a',
    'i-0000000000000000b',
    'i-0000000000000000c',
    'i-0000000000000000d',
  ];
  /** Child i runs on HOST_OF[i]: A carries 0 and 1, B 2 and 3, C 4, D 5 and 6. */
  const HOST_OF = [A, A, B, B, C, D, D];
  const SKIPPED = [
    { taskArn: fleetTaskArn(99), code: 'FARGATE_UNSUPPORTED' as const, message: 'Task runs on Fargate.' },
  ];
  const START_AT = Date.parse('2025-01-01T12:00:30.000Z') / 1000;
  const record: PlanRecord = servicePlanRecord(
    HOST_OF.map((instanceId, i) => planTarget(i, { instanceId })),
    { listed: 9, leftOut: 1, skipped: SKIPPED },
  );
  const plan = {
    ...planInfoOf(record, { startAt: START_AT, expiresAt: START_AT + 90, deadline: START_AT + 210 }),
    batches: [
      { batch: 0, instanceIds: [A, B] },
      { batch: 1, instanceIds: [C] },
      { batch: 2, instanceIds: [D] },
    ],
  };
  const OFFLINE = new DebugTaskError('SSM_AGENT_OFFLINE', `SSM cannot send a command to ${C}.`, {
    details: { instanceIds: [C] },
  });
  const stateWith = (batchResults: BatchOutcome[]): CollectState => ({
    ...serviceInput(),
    plan,
    batchResults,
  });
  const state = stateWith([{ batch: 0 }, { batch: 1, error: stepFunctionsFailure(OFFLINE) }, { batch: 2 }]);
  const HOST_BUSY = manifest({
    sessionId: childId(1),
    status: 'FAILED',
    error: { code: 'HOST_BUSY', message: `${A} already runs 2 debug sessions (the maximum).` },
    artifact: undefined,
  });

  /** A and B ran (their summaries), D's command was never delivered (no output); C's batch was not sent. */
  function outcomes(): Record<number, HostOutcome[]> {
    return {
      0: [
        { instanceId: A, status: 'Success', responseCode: 0, summaryLine: summaryLine(A, { children: 2 }) },
        { instanceId: B, status: 'Success', responseCode: 0, summaryLine: summaryLine(B, { children: 2 }) },
      ],
      2: [{ instanceId: D, status: 'Undeliverable' }],
    };
  }
  /** Manifests of 0..3 in S3; 0 and 3 uploaded as reported, 2's object is smaller than the runner says. */
  const MANIFESTS = {
    0: manifest({ sessionId: childId(0) }),
    1: HOST_BUSY,
    2: manifest({ sessionId: childId(2) }),
    3: manifest({ sessionId: childId(3) }),
  };
  const SIZES = {
    [artifactKey(childId(0))]: OBJECT_BYTES,
    [artifactKey(childId(2))]: 4096,
    [artifactKey(childId(3))]: OBJECT_BYTES,
  };

  function given(
    batches: Record<number, HostOutcome[]> = outcomes(),
    manifests: Record<number, RunnerManifest> = MANIFESTS,
    sizes: Record<string, number> = SIZES,
    pageSize = 1000,
  ): void {
    const objects: Record<string, unknown> = { [PLAN_KEY]: record };
    for (const [n, o] of Object.entries(batches)) objects[`sessions/${SESSION_ID}/batches/${n}.json`] = o;
    for (const [i, m] of Object.entries(manifests)) objects[manifestKey(childId(Number(i)))] = m;
    bucket = givenBucket(objects, { sizes, pageSize });
  }

  const children = () => new Map(bucket.json<SessionRecord>(RECORD_KEY).children.map((c) => [c.index, c]));

  it('returns the counts, the synchronized start and every child when there are few', async () => {
    given();

    const result = await collectSession(state, { now });

    expect(result).toMatchObject({
      kind: 'service',
      sessionId: SESSION_ID,
      status: 'SUCCEEDED',
      target: { cluster: CLUSTER, clusterArn: CLUSTER_ARN, service: SERVICE },
      counts: { listed: 9, targets: 7, succeeded: 2, failed: 5, skipped: 1, leftOut: 1 },
      startAt: START_AT,
      skipped: SKIPPED,
      recordUri: `s3://${BUCKET}/${RECORD_KEY}`,
    });
    expect(result.children.map((c) => [c.sessionId, c.status, c.error?.code])).toEqual([
      [childId(0), 'SUCCEEDED', undefined],
      [childId(1), 'FAILED', 'HOST_BUSY'],
      [childId(2), 'FAILED', 'UPLOAD_FAILED'],
      [childId(3), 'SUCCEEDED', undefined],
      [childId(4), 'FAILED', 'SSM_AGENT_OFFLINE'],
      [childId(5), 'FAILED', 'CAPTURE_FAILED'],
      [childId(6), 'FAILED', 'CAPTURE_FAILED'],
    ]);
    expect(result).not.toHaveProperty('childrenInRecord');
  });

  it('reads the plan, the batches that were sent and only the manifests S3 lists, and lists the children once', async () => {
    given();

    await collectSession(state, { now });

    const keys = aws.s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Key);
    expect(keys.sort()).toEqual(
      [
        PLAN_KEY,
        `sessions/${SESSION_ID}/batches/0.json`,
        `sessions/${SESSION_ID}/batches/2.json`,
        ...[0, 1, 2, 3].map((i) => manifestKey(childId(i))),
      ].sort(),
    );
    expect(aws.s3).toHaveReceivedCommandTimes(ListObjectsV2Command, 1);
    expect(aws.s3).toHaveReceivedCommandWith(ListObjectsV2Command, {
      Bucket: BUCKET,
      Prefix: `sessions/${SESSION_ID}/children/`,
    });
  });

  it('gives each child its own verdict: artifact, host error, object check, unsent batch, undelivered host', async () => {
    given();

    await collectSession(state, { now });

    const byIndex = children();
    expect(byIndex.get(0)).toMatchObject({ status: 'SUCCEEDED', artifact: { key: artifactKey(childId(0)) } });
    expect(byIndex.get(1)).toMatchObject({
      error: { code: 'HOST_BUSY', message: expect.stringContaining('already runs 2 debug sessions') },
    });
    expect(byIndex.get(1)?.artifact).toBeUndefined();
    expect(byIndex.get(2)?.error?.message).toContain(
      `has 4096 bytes, but the runner uploaded ${OBJECT_BYTES}`,
    );
    expect(byIndex.get(4)).toMatchObject({
      instanceId: C,
      error: { code: 'SSM_AGENT_OFFLINE', message: OFFLINE.message, details: { instanceId: C } },
    });
    for (const i of [5, 6]) {
      expect(byIndex.get(i)).toMatchObject({
        instanceId: D,
        error: { code: 'CAPTURE_FAILED', message: expect.stringContaining('Undeliverable') },
      });
    }
  });

  it("names the child's own id in `debug-task fetch` of an UPLOAD_FAILED child", async () => {
    const failed = manifest({
      sessionId: childId(3),
      status: 'UPLOAD_FAILED',
      error: { code: 'UPLOAD_FAILED', message: 'S3 said 503' },
      artifact: { ...manifest().artifact!, uploaded: false },
    });
    given(outcomes(), { ...MANIFESTS, 3: failed });

    await collectSession(state, { now });

    expect(children().get(3)?.error?.hint).toContain(`debug-task fetch ${childId(3)}\``);
  });

  it("fails the children of a host whose share could not run with the host's error", async () => {
    const batches = outcomes();
    batches[0][1] = {
      instanceId: B,
      status: 'Failed',
      responseCode: 3,
      summaryLine: summaryLine(B, {
        status: 'FAILED',
        error: { code: 'HOST_BUSY', message: 'no room for 2 more' },
      }),
    };
    given(batches, { 0: MANIFESTS[0], 1: MANIFESTS[1] });

    await collectSession(state, { now });

    for (const i of [2, 3]) {
      expect(children().get(i)).toMatchObject({
        error: { code: 'HOST_BUSY', message: 'no room for 2 more' },
      });
    }
  });

  it('fails the children of a host given up on past the deadline with CAPTURE_FAILED', async () => {
    const batches = outcomes();
    batches[0][1] = { instanceId: B, status: 'GaveUp' };
    given(batches, { 0: MANIFESTS[0], 1: MANIFESTS[1] });

    await collectSession(state, { now });

    for (const i of [2, 3]) {
      expect(children().get(i)).toMatchObject({
        error: { code: 'CAPTURE_FAILED', hint: expect.stringContaining('deadline') },
      });
    }
  });

  it("reads a missing batch result as no outcome: its hosts' children without a manifest fail with CAPTURE_FAILED", async () => {
    const batches = outcomes();
    delete (batches as Partial<Record<number, HostOutcome[]>>)[0];
    given(batches, {});

    await caught(() => collectSession(state, { now }));

    for (const i of [0, 1, 2, 3]) expect(children().get(i)?.error?.code).toBe('CAPTURE_FAILED');
  });

  it('follows ListObjectsV2 pages', async () => {
    given(outcomes(), MANIFESTS, SIZES, 2);

    const result = await collectSession(state, { now });

    expect(aws.s3.commandCalls(ListObjectsV2Command).length).toBeGreaterThan(1);
    expect(result.counts.succeeded).toBe(2);
  });

  it('writes the record with every child, the skipped tasks and the audit of the request', async () => {
    given();

    await collectSession(state, { now });

    expect(bucket.json<SessionRecord>(RECORD_KEY)).toMatchObject({
      kind: 'service',
      status: 'SUCCEEDED',
      counts: { targets: 7, succeeded: 2, failed: 5, skipped: 1 },
      skipped: SKIPPED,
      audit: { caller: CALLER, requested: `service ${SERVICE} (cluster ${CLUSTER})` },
      timings: { collectedAt: '2025-01-01T12:03:00.000Z' },
    });
    expect(children().size).toBe(7);
  });

  describe('when no child succeeded', () => {
    it('fails with the most frequent code, after recording the session FAILED', async () => {
      // Batch 0 not sent either (nothing ran there: no manifest, no object): 5 SSM_AGENT_OFFLINE
      // (A, A, B, B, C), 2 CAPTURE_FAILED (D, D).
      given(outcomes(), {}, {});
      const allOffline = stateWith([
        { batch: 0, error: stepFunctionsFailure(OFFLINE) },
        { batch: 1, error: stepFunctionsFailure(OFFLINE) },
        { batch: 2 },
      ]);

      const error = await caught(() => collectSession(allOffline, { now }));

      expect(error).toBeInstanceOf(DebugTaskError);
      expect(error).toMatchObject({
        code: 'SSM_AGENT_OFFLINE',
        message: expect.stringContaining(
          `None of the 7 targets of ${SERVICE} succeeded; most failed with SSM_AGENT_OFFLINE`,
        ),
        details: {
          reasons: { SSM_AGENT_OFFLINE: 5, CAPTURE_FAILED: 2 },
          recordUri: `s3://${BUCKET}/${RECORD_KEY}`,
        },
      });
      expect(bucket.json<SessionRecord>(RECORD_KEY)).toMatchObject({
        status: 'FAILED',
        error: { code: 'SSM_AGENT_OFFLINE' },
        counts: { succeeded: 0, failed: 7 },
      });
    });

    it('fails with CAPTURE_FAILED when that is the most frequent', async () => {
      given(
        {
          0: [
            { instanceId: A, status: 'GaveUp' },
            { instanceId: B, status: 'GaveUp' },
          ],
          2: outcomes()[2],
        },
        {},
        {},
      );

      const error = await caught(() => collectSession(state, { now }));

      expect(error).toMatchObject({ code: 'CAPTURE_FAILED' });
      expect(bucket.json<SessionRecord>(RECORD_KEY).status).toBe('FAILED');
    });
  });

  it(`leaves the children in the record above ${INLINE_CHILDREN}: the output says so and keeps the counts`, async () => {
    const many = Array.from({ length: INLINE_CHILDREN + 10 }, (_, i) => planTarget(i, { instanceId: A }));
    const big = servicePlanRecord(many);
    const bigPlan = planInfoOf(big, {
      startAt: START_AT,
      expiresAt: START_AT + 90,
      deadline: START_AT + 210,
    });
    const manifests = Object.fromEntries(
      many.map((t) => [manifestKey(t.sessionId), manifest({ sessionId: t.sessionId })]),
    );
    const sizes = Object.fromEntries(many.map((t) => [artifactKey(t.sessionId), OBJECT_BYTES]));
    bucket = givenBucket(
      {
        [PLAN_KEY]: big,
        [`sessions/${SESSION_ID}/batches/0.json`]: [
          {
            instanceId: A,
            status: 'Success',
            responseCode: 0,
            summaryLine: summaryLine(A, { children: many.length }),
          },
        ],
        ...manifests,
      },
      { sizes },
    );

    const result = await collectSession(
      { ...serviceInput(), plan: bigPlan, batchResults: [{ batch: 0 }] },
      { now },
    );

    expect(result).toMatchObject({
      children: [],
      skipped: [],
      childrenInRecord: true,
      counts: { targets: INLINE_CHILDREN + 10, succeeded: INLINE_CHILDREN + 10 },
    });
    expect(bucket.json<SessionRecord>(RECORD_KEY).children).toHaveLength(INLINE_CHILDREN + 10);
  });
});

describe('collectSession (Collect), a re-upload', () => {
  const A = 'i-0000000000000000a';
  const failedChild = (index: number): ChildResult => ({
    index,
    sessionId: childId(index),
    taskArn: fleetTaskArn(index),
    clusterArn: CLUSTER_ARN,
    container: 'app',
    instanceId: A,
    status: 'FAILED',
    error: { code: 'UPLOAD_FAILED', message: 'kept on the host', hint: 'fetch' },
  });
  const sessionRecord = {
    v: 2,
    sessionId: SESSION_ID,
    status: 'SUCCEEDED',
    kind: 'service',
    target: { cluster: CLUSTER, clusterArn: CLUSTER_ARN, service: SERVICE },
    tool: 'tcpdump',
    counts: { listed: 3, targets: 2, succeeded: 0, failed: 2, skipped: 1, leftOut: 0 },
    startAt: 1735732830,
    children: [failedChild(0), failedChild(1)],
    skipped: [{ taskArn: fleetTaskArn(9), code: 'FARGATE_UNSUPPORTED', message: 'Fargate.' }],
    recordUri: `s3://${BUCKET}/${RECORD_KEY}`,
    timings: { requestedAt: '2025-01-01T12:00:00.000Z', collectedAt: '2025-01-01T12:02:00.000Z' },
  };
  const reupload = { id: 'r1a2b', children: [childId(1)] };
  const prefix = `sessions/${SESSION_ID}/reuploads/r1a2b/`;
  const record = servicePlanRecord([planTarget(1, { instanceId: A, containerId: '-' })], { calls: {} });
  const plan = { ...planInfoOf(record, { expiresAt: 1735736400, deadline: 1735736520 }), reupload };
  const state: CollectState = { ...serviceInput(), reupload, plan, batchResults: [{ batch: 0 }] };

  function given(m: RunnerManifest, size = OBJECT_BYTES): void {
    bucket = givenBucket(
      {
        [RECORD_KEY]: sessionRecord,
        [`${prefix}plan.json`]: record,
        [`${prefix}batches/0.json`]: [
          {
            instanceId: A,
            status: 'Success',
            responseCode: 0,
            summaryLine: summaryLine(A, { action: 'reupload' }),
          },
        ],
        [sessionKeys.childReuploadManifest(childId(1), 'r1a2b')]: m,
        // The first manifest, of the failed upload: never read by the re-upload.
        [manifestKey(childId(1))]: failedChild(1),
      },
      { sizes: { [artifactKey(childId(1))]: size } },
    );
  }

  it("answers the session's result with the child uploaded again, writing its own record and leaving the session's", async () => {
    given(manifest({ sessionId: childId(1) }));

    const result = await collectSession(state, { now });

    expect(result).toMatchObject({
      kind: 'service',
      startAt: 1735732830,
      counts: { listed: 3, targets: 2, succeeded: 1, failed: 1, skipped: 1 },
      skipped: sessionRecord.skipped,
    });
    expect(result.children.map((c) => [c.sessionId, c.status])).toEqual([
      [childId(0), 'FAILED'],
      [childId(1), 'SUCCEEDED'],
    ]);
    expect(bucket.puts().map((p) => p.Key)).toEqual([`${prefix}record.json`]);
    expect(bucket.json(`${prefix}record.json`)).toMatchObject({
      v: 2,
      sessionId: SESSION_ID,
      reuploadId: 'r1a2b',
      caller: CALLER,
      children: [{ sessionId: childId(1), status: 'SUCCEEDED' }],
    });
    expect(bucket.json(RECORD_KEY)).toEqual(sessionRecord);
  });

  it("fails with the child's error when none of the re-uploads worked", async () => {
    given(manifest({ sessionId: childId(1) }), 10);

    const error = await caught(() => collectSession(state, { now }));

    expect(error).toMatchObject({ code: 'UPLOAD_FAILED', message: expect.stringContaining('has 10 bytes') });
    expect(bucket.puts().map((p) => p.Key)).toEqual([`${prefix}record.json`]);
  });

  it('throws AWS_ERROR when the session record is gone', async () => {
    given(manifest({ sessionId: childId(1) }));
    bucket.objects.delete(RECORD_KEY);

    const error = await caught(() => collectSession(state, { now }));

    expect(error).toMatchObject({ code: 'AWS_ERROR', message: expect.stringContaining('disappeared') });
  });
});
