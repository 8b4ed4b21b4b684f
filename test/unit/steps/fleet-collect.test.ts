import 'aws-sdk-client-mock-jest';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandOutput,
  type ListObjectsV2CommandInput,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { DebugTaskError, toStepFunctionsError } from '../../../lib/domain/errors';
import type {
  BatchOutcome,
  FleetChild,
  FleetHostManifest,
  FleetLaunchInfo,
  FleetResolutionRecord,
  FleetResult,
  HostOutcome,
} from '../../../lib/domain/host-plan';
import type { RunnerManifest } from '../../../lib/domain/session';
import { resetStepClients } from '../../../lib/steps/clients';
import { collectFleet, type FleetCollectState } from '../../../lib/steps/fleet-collect';
import {
  ACCOUNT,
  BUCKET,
  CLUSTER,
  CLUSTER_ARN,
  REGION,
  SESSION_ID,
  caught,
  executionInput,
  manifest,
} from './fixtures';

const s3 = mockClient(S3Client);

const COLLECTED_AT = Date.parse('2025-01-01T12:03:00.000Z');
const START_AT = Date.parse('2025-01-01T12:00:30.000Z') / 1000;
const OBJECT_BYTES = manifest().artifact!.objectBytes;
const [A, B, C, D] = [
  'i-0000000000000000a',
  'i-0000000000000000b',
  'i-0000000000000000c',
  'i-0000000000000000d',
];
const taskArn = (i: number) =>
  `arn:aws:ecs:${REGION}:${ACCOUNT}:task/${CLUSTER}/${i.toString(16).padStart(32, '0')}`;
const childId = (i: number) => `${SESSION_ID}-${String(i).padStart(4, '0')}`;
const keyOf = (i: number) => `sessions/${SESSION_ID}/children/${childId(i)}/artifact.pcap.gz`;

/** Child i runs on HOST_OF[i]: A carries 0 and 1, B 2 and 3, C 4, D 5 and 6. */
const HOST_OF = [A, A, B, B, C, D, D];
const SKIPPED = [
  { taskArn: taskArn(99), code: 'FARGATE_UNSUPPORTED' as const, message: 'Task runs on Fargate.' },
];

const resolution: FleetResolutionRecord = {
  v: 1,
  sessionId: SESSION_ID,
  cluster: CLUSTER,
  clusterArn: CLUSTER_ARN,
  service: 'web',
  maxTasks: 100,
  listed: 9,
  leftOut: 1,
  targets: HOST_OF.map((instanceId, index) => ({
    index,
    sessionId: childId(index),
    taskArn: taskArn(index),
    container: 'app',
    instanceId,
    key: keyOf(index),
  })),
  skipped: SKIPPED,
  calls: { 'ecs:ListTasks': 1, 'ecs:DescribeTasks': 1 },
};

const fleet: FleetLaunchInfo = {
  bucket: BUCKET,
  startAt: START_AT,
  expiresAt: START_AT + 90,
  deadline: START_AT + 210,
  batches: [
    { batch: 0, instanceIds: [A, B] },
    { batch: 1, instanceIds: [C] },
    { batch: 2, instanceIds: [D] },
  ],
  counts: { listed: 9, targets: 7, skipped: 1, leftOut: 1 },
  cluster: CLUSTER,
  service: 'web',
};

/** What the Map's Catch puts at `error` of a batch whose LaunchBatch raised `error`. */
function notSent(batch: number, error: DebugTaskError): BatchOutcome {
  const carried = toStepFunctionsError(error);
  return {
    batch,
    error: {
      Error: carried.name,
      Cause: JSON.stringify({ errorType: carried.name, errorMessage: carried.message }),
    },
  };
}

const OFFLINE = new DebugTaskError('SSM_AGENT_OFFLINE', `SSM cannot send a command to ${C}.`, {
  details: { instanceId: C },
});

function stateWith(batchResults: BatchOutcome[]): FleetCollectState {
  return {
    ...executionInput({ target: { service: 'web', cluster: CLUSTER, maxTasks: 100 } }),
    fleet,
    batchResults,
  };
}
const state = stateWith([{ batch: 0 }, notSent(1, OFFLINE), { batch: 2 }]);

function hostLine(
  instanceId: string,
  children: RunnerManifest[],
  extra: Partial<FleetHostManifest> = {},
): string {
  const host: FleetHostManifest = {
    v: 1,
    action: 'fleet',
    sessionId: SESSION_ID,
    instanceId,
    status: 'OK',
    children,
    timings: { startedAt: 1735732811000, endedAt: 1735732900000 },
    ...extra,
  };
  return JSON.stringify(host);
}

const HOST_BUSY = manifest({
  sessionId: childId(1),
  status: 'FAILED',
  error: { code: 'HOST_BUSY', message: `${A} already runs 2 debug sessions (the maximum).` },
  artifact: undefined,
});

/** The default batch outcomes: A and B ran, D's command was never delivered (no output). */
function batchOutcomes(): Record<number, HostOutcome[]> {
  return {
    0: [
      {
        instanceId: A,
        status: 'Success',
        responseCode: 0,
        manifestLine: hostLine(A, [manifest({ sessionId: childId(0) }), HOST_BUSY]),
        stderrTail: '',
      },
      {
        instanceId: B,
        status: 'Success',
        responseCode: 0,
        manifestLine: hostLine(B, [manifest({ sessionId: childId(2) }), manifest({ sessionId: childId(3) })]),
        stderrTail: '',
      },
    ],
    2: [{ instanceId: D, status: 'Undeliverable' }],
  };
}

function body(value: unknown): GetObjectCommandOutput {
  const text = JSON.stringify(value);
  return {
    Body: { transformToString: () => Promise.resolve(text) },
    $metadata: {},
  } as unknown as GetObjectCommandOutput;
}

/** S3 holding resolution.json, the given batches/<n>.json, and the listed children objects. */
function givenBucket(
  batches: Record<number, HostOutcome[]>,
  objects: Record<string, number>,
  pageSize = 1000,
): void {
  const files = new Map<string, unknown>([[`sessions/${SESSION_ID}/resolution.json`, resolution]]);
  for (const [n, outcomes] of Object.entries(batches))
    files.set(`sessions/${SESSION_ID}/batches/${n}.json`, outcomes);
  s3.on(GetObjectCommand).callsFake((input: { Bucket: string; Key: string }) => {
    if (input.Bucket !== BUCKET || !files.has(input.Key)) {
      throw new NoSuchKey({
        message: 'The specified key does not exist.',
        $metadata: { httpStatusCode: 404 },
      });
    }
    return body(files.get(input.Key));
  });
  const contents = Object.entries(objects).map(([Key, Size]) => ({ Key, Size }));
  s3.on(ListObjectsV2Command).callsFake((input: ListObjectsV2CommandInput) => {
    const inPrefix = contents.filter((o) => o.Key.startsWith(input.Prefix ?? ''));
    const start = input.ContinuationToken ? Number(input.ContinuationToken) : 0;
    const end = start + pageSize;
    return {
      Contents: inPrefix.slice(start, end),
      IsTruncated: end < inPrefix.length,
      ...(end < inPrefix.length && { NextContinuationToken: String(end) }),
    };
  });
}

/** 0 and 3 uploaded as reported; 2's object is smaller than the runner says. */
const OBJECTS = { [keyOf(0)]: OBJECT_BYTES, [keyOf(2)]: 4096, [keyOf(3)]: OBJECT_BYTES };

function writtenManifest(): FleetResult & { audit: Record<string, unknown>; collectedAt: string } {
  expect(s3).toHaveReceivedCommandTimes(PutObjectCommand, 1);
  const put = s3.commandCalls(PutObjectCommand)[0].args[0].input;
  expect(put).toMatchObject({
    Bucket: BUCKET,
    Key: `sessions/${SESSION_ID}/manifest.json`,
    ContentType: 'application/json',
  });
  return JSON.parse(put.Body as string);
}

function childrenByIndex(): Map<number, FleetChild> {
  return new Map(writtenManifest().children.map((c) => [c.index, c]));
}

beforeEach(() => {
  s3.reset();
  resetStepClients();
  s3.on(PutObjectCommand).resolves({});
});

afterEach(() => resetStepClients());

describe('collectFleet', () => {
  it('returns the counts and empty children/skipped lists (the manifest holds them)', async () => {
    givenBucket(batchOutcomes(), OBJECTS);

    const result = await collectFleet(state, { now: () => COLLECTED_AT });

    expect(result).toEqual<FleetResult>({
      kind: 'fleet',
      sessionId: SESSION_ID,
      status: 'SUCCEEDED',
      target: { cluster: CLUSTER, service: 'web' },
      counts: { listed: 9, targets: 7, succeeded: 2, failed: 5, skipped: 1, leftOut: 1 },
      startAt: START_AT,
      children: [],
      skipped: [],
      manifestUri: `s3://${BUCKET}/sessions/${SESSION_ID}/manifest.json`,
    });
  });

  it('reads resolution.json and the batches that were sent, and lists the children’s objects once', async () => {
    givenBucket(batchOutcomes(), OBJECTS);

    await collectFleet(state, { now: () => COLLECTED_AT });

    const keys = s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Key);
    expect(keys.sort()).toEqual([
      `sessions/${SESSION_ID}/batches/0.json`,
      `sessions/${SESSION_ID}/batches/2.json`,
      `sessions/${SESSION_ID}/resolution.json`,
    ]);
    expect(s3).toHaveReceivedCommandTimes(ListObjectsV2Command, 1);
    expect(s3).toHaveReceivedCommandWith(ListObjectsV2Command, {
      Bucket: BUCKET,
      Prefix: `sessions/${SESSION_ID}/children/`,
    });
  });

  it('marks a child SUCCEEDED with its artifact facts and s3Uri when S3 has the object of the reported size', async () => {
    givenBucket(batchOutcomes(), OBJECTS);

    await collectFleet(state, { now: () => COLLECTED_AT });

    const m = manifest();
    const { uploaded: _u, hostPath: _h, ...facts } = m.artifact!;
    for (const i of [0, 3]) {
      expect(childrenByIndex().get(i)).toEqual<FleetChild>({
        index: i,
        sessionId: childId(i),
        taskArn: taskArn(i),
        container: 'app',
        instanceId: HOST_OF[i],
        status: 'SUCCEEDED',
        tool: m.tool,
        artifact: { ...facts, s3Uri: `s3://${BUCKET}/${keyOf(i)}`, bucket: BUCKET, key: keyOf(i) },
        timings: m.timings,
      });
    }
  });

  it('gives a child the runner’s own code (HOST_BUSY) and message', async () => {
    givenBucket(batchOutcomes(), OBJECTS);

    await collectFleet(state, { now: () => COLLECTED_AT });

    expect(childrenByIndex().get(1)).toMatchObject({
      sessionId: childId(1),
      status: 'FAILED',
      error: { code: 'HOST_BUSY', message: expect.stringContaining('already runs 2 debug sessions') },
    });
    expect(childrenByIndex().get(1)?.artifact).toBeUndefined();
  });

  it('fails a child with UPLOAD_FAILED when its object’s size differs from the runner’s, or it is missing', async () => {
    const objects: Record<string, number> = { ...OBJECTS };
    delete objects[keyOf(3)];
    givenBucket(batchOutcomes(), objects);

    await collectFleet(state, { now: () => COLLECTED_AT });

    const children = childrenByIndex();
    expect(children.get(2)).toMatchObject({
      status: 'FAILED',
      error: {
        code: 'UPLOAD_FAILED',
        message: expect.stringContaining(`has 4096 bytes, but the runner uploaded ${OBJECT_BYTES}`),
      },
    });
    expect(children.get(3)).toMatchObject({
      status: 'FAILED',
      error: { code: 'UPLOAD_FAILED', message: expect.stringContaining('does not exist') },
    });
  });

  it('fails every child of a host that printed no manifest (Undeliverable) with CAPTURE_FAILED', async () => {
    givenBucket(batchOutcomes(), OBJECTS);

    await collectFleet(state, { now: () => COLLECTED_AT });

    for (const i of [5, 6]) {
      expect(childrenByIndex().get(i)).toMatchObject({
        instanceId: D,
        status: 'FAILED',
        error: { code: 'CAPTURE_FAILED', message: expect.stringContaining('Undeliverable') },
      });
    }
  });

  it('fails the children of a batch that could not be sent with that batch’s error (SSM_AGENT_OFFLINE)', async () => {
    givenBucket(batchOutcomes(), OBJECTS);

    await collectFleet(state, { now: () => COLLECTED_AT });

    expect(childrenByIndex().get(4)).toMatchObject({
      instanceId: C,
      status: 'FAILED',
      error: { code: 'SSM_AGENT_OFFLINE', message: OFFLINE.message },
    });
  });

  it('fails the children of a host whose share could not run with the host’s error', async () => {
    const outcomes = batchOutcomes();
    outcomes[0][1] = {
      instanceId: B,
      status: 'Failed',
      responseCode: 3,
      manifestLine: hostLine(B, [], {
        status: 'FAILED',
        error: { code: 'HOST_BUSY', message: 'no room for 2 more' },
      }),
    };
    givenBucket(outcomes, OBJECTS);

    await collectFleet(state, { now: () => COLLECTED_AT });

    for (const i of [2, 3]) {
      expect(childrenByIndex().get(i)).toMatchObject({
        status: 'FAILED',
        error: { code: 'HOST_BUSY', message: expect.stringContaining('no room for 2 more') },
      });
    }
  });

  it('fails a child its host’s manifest says nothing about, and a child of a host given up on, with CAPTURE_FAILED', async () => {
    const outcomes = batchOutcomes();
    outcomes[0][0] = { ...outcomes[0][0], manifestLine: hostLine(A, [HOST_BUSY]) };
    outcomes[0][1] = { instanceId: B, status: 'GaveUp' };
    givenBucket(outcomes, OBJECTS);

    // Nothing succeeds here: the step fails, after writing the manifest.
    await caught(() => collectFleet(state, { now: () => COLLECTED_AT }));

    const children = childrenByIndex();
    expect(children.get(0)).toMatchObject({ status: 'FAILED', error: { code: 'CAPTURE_FAILED' } });
    expect(children.get(2)).toMatchObject({ status: 'FAILED', error: { code: 'CAPTURE_FAILED' } });
    expect(children.get(3)).toMatchObject({ status: 'FAILED', error: { code: 'CAPTURE_FAILED' } });
  });

  it('writes manifest.json with every child, the skipped tasks, the audit record and the time', async () => {
    givenBucket(batchOutcomes(), OBJECTS);

    await collectFleet(state, { now: () => COLLECTED_AT });

    const written = writtenManifest();
    expect(written).toMatchObject({
      kind: 'fleet',
      sessionId: SESSION_ID,
      status: 'SUCCEEDED',
      counts: { targets: 7, succeeded: 2, failed: 5, skipped: 1 },
      skipped: SKIPPED,
      audit: {
        caller: state.caller,
        reason: 'INC-42 TLS resets',
        requestedAt: state.requestedAt,
        spec: state.spec,
      },
      collectedAt: '2025-01-01T12:03:00.000Z',
    });
    expect(written.children.map((c) => [c.sessionId, c.status, c.error?.code])).toEqual([
      [childId(0), 'SUCCEEDED', undefined],
      [childId(1), 'FAILED', 'HOST_BUSY'],
      [childId(2), 'FAILED', 'UPLOAD_FAILED'],
      [childId(3), 'SUCCEEDED', undefined],
      [childId(4), 'FAILED', 'SSM_AGENT_OFFLINE'],
      [childId(5), 'FAILED', 'CAPTURE_FAILED'],
      [childId(6), 'FAILED', 'CAPTURE_FAILED'],
    ]);
  });

  it('follows ListObjectsV2 pages', async () => {
    givenBucket(batchOutcomes(), { ...OBJECTS, [`sessions/${SESSION_ID}/children/zz/other`]: 1 }, 1);

    const result = await collectFleet(state, { now: () => COLLECTED_AT });

    expect(s3).toHaveReceivedCommandTimes(ListObjectsV2Command, 4);
    expect(result.counts.succeeded).toBe(2);
  });

  it('reads a missing batch result as no outcome: its hosts’ children fail with CAPTURE_FAILED', async () => {
    const outcomes = batchOutcomes();
    delete (outcomes as Partial<Record<number, HostOutcome[]>>)[0];
    givenBucket(outcomes, OBJECTS);

    const error = await caught(() => collectFleet(state, { now: () => COLLECTED_AT }));

    expect(error).toMatchObject({ code: 'CAPTURE_FAILED' });
    const children = childrenByIndex();
    for (const i of [0, 1, 2, 3]) expect(children.get(i)?.error?.code).toBe('CAPTURE_FAILED');
  });

  describe('when no child succeeded', () => {
    it('throws the most frequent code, after writing the manifest with status FAILED', async () => {
      // Batch 0 not sent either: 5 SSM_AGENT_OFFLINE (A, A, B, B, C), 2 CAPTURE_FAILED (D, D).
      const allOffline = stateWith([notSent(0, OFFLINE), notSent(1, OFFLINE), { batch: 2 }]);
      givenBucket(batchOutcomes(), OBJECTS);

      const error = await caught(() => collectFleet(allOffline, { now: () => COLLECTED_AT }));

      expect(error).toBeInstanceOf(DebugTaskError);
      expect(error).toMatchObject({
        code: 'SSM_AGENT_OFFLINE',
        details: {
          reasons: { SSM_AGENT_OFFLINE: 5, CAPTURE_FAILED: 2 },
          manifestUri: `s3://${BUCKET}/sessions/${SESSION_ID}/manifest.json`,
        },
      });
      const written = writtenManifest();
      expect(written.status).toBe('FAILED');
      expect(written.counts).toMatchObject({ succeeded: 0, failed: 7 });
      expect(written.children).toHaveLength(7);
    });

    it('throws CAPTURE_FAILED when that is the most frequent', async () => {
      const outcomes = batchOutcomes();
      outcomes[0] = [
        { instanceId: A, status: 'GaveUp' },
        { instanceId: B, status: 'GaveUp' },
      ];
      givenBucket(outcomes, {});

      const error = await caught(() => collectFleet(state, { now: () => COLLECTED_AT }));

      expect(error).toMatchObject({ code: 'CAPTURE_FAILED' });
      expect(writtenManifest().status).toBe('FAILED');
    });
  });
});
