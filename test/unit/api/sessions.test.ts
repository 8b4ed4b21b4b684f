import { audit } from '../../../lib/audit/audit';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  type DescribeExecutionCommandInput,
} from '@aws-sdk/client-sfn';
import { cancelSession, getSession, listSessions, type ApiConfig } from '../../../lib/api/sessions';
import { DebugTaskError, toStepFunctionsError } from '../../../lib/domain/errors';
import type { ChildResult, ExecutionInput, SessionResult } from '../../../lib/domain/session';
import { DEFAULT_LIMITS } from '../../../lib/domain/session-spec';
import { FAKE, aws, givenBucket, useAwsMocks } from '../../support/aws';
import {
  BUCKET,
  CALLER,
  CLUSTER,
  CLUSTER_ARN,
  REGION,
  SERVICE,
  SESSION_ID,
  caught,
  childId,
  executionInput,
  fleetInstanceId,
  fleetTaskArn,
  serviceInput,
} from '../../support/fixtures';

useAwsMocks();

const SM = FAKE.stateMachineArn;
const config: ApiConfig = { stateMachineArn: SM, bucket: BUCKET, limits: DEFAULT_LIMITS };
const arnOf = (name: string) => `${SM.replace(':stateMachine:', ':execution:')}:${name}`;
const RECORD_KEY = `sessions/${SESSION_ID}/manifest.json`;
const keyOf = (i: number) => `sessions/${SESSION_ID}/children/${childId(i)}/artifact.pcap.gz`;

function child(i: number, error?: ChildResult['error']): ChildResult {
  return {
    index: i,
    sessionId: childId(i),
    taskArn: fleetTaskArn(i),
    clusterArn: CLUSTER_ARN,
    container: 'app',
    instanceId: fleetInstanceId(i),
    ...(error
      ? { status: 'FAILED' as const, error }
      : {
          status: 'SUCCEEDED' as const,
          tool: { name: 'tcpdump' as const, exitCode: 0, packets: 10, dropped: 0 },
          artifact: {
            format: 'pcap' as const,
            compression: 'gzip' as const,
            bytes: 2048,
            sha256: 'a'.repeat(64),
            objectBytes: 512,
            objectSha256: 'b'.repeat(64),
            truncated: false,
            s3Uri: `s3://${BUCKET}/${keyOf(i)}`,
            bucket: BUCKET,
            key: keyOf(i),
          },
        }),
  };
}

const BUSY = { code: 'HOST_BUSY' as const, message: 'busy', hint: 'wait' };
const CHILDREN = [child(0), child(1, BUSY), child(2)];
const SKIPPED = [{ taskArn: fleetTaskArn(3), code: 'FARGATE_UNSUPPORTED' as const, message: 'Fargate' }];
const RESULT: SessionResult = {
  sessionId: SESSION_ID,
  status: 'SUCCEEDED',
  kind: 'service',
  target: { cluster: CLUSTER, clusterArn: CLUSTER_ARN, service: SERVICE },
  tool: 'tcpdump',
  counts: { listed: 4, targets: 3, succeeded: 2, failed: 1, skipped: 1, leftOut: 0 },
  startAt: 1764073000,
  children: CHILDREN,
  skipped: SKIPPED,
  recordUri: `s3://${BUCKET}/${RECORD_KEY}`,
  timings: { requestedAt: '2026-11-25T12:00:00.000Z', collectedAt: '2026-11-25T12:02:00.000Z' },
};

function finished(output: SessionResult, input: ExecutionInput = serviceInput()): void {
  aws.sfn.on(DescribeExecutionCommand).resolves({
    status: 'SUCCEEDED',
    executionArn: arnOf(SESSION_ID),
    input: JSON.stringify(input),
    output: JSON.stringify(output),
    startDate: new Date(0),
    stopDate: new Date(1000),
  });
}

function failed(error: DebugTaskError): void {
  const raised = toStepFunctionsError(error);
  aws.sfn.on(DescribeExecutionCommand).resolves({
    status: 'FAILED',
    executionArn: arnOf(SESSION_ID),
    input: JSON.stringify(executionInput()),
    error: raised.name,
    cause: JSON.stringify({ errorType: raised.name, errorMessage: raised.message }),
  });
}

function expectDownload(url: string | undefined, i: number): void {
  const parsed = new URL(url ?? '');
  expect(parsed.hostname).toBe(`${BUCKET}.s3.${REGION}.amazonaws.com`);
  expect(parsed.pathname).toBe(`/${keyOf(i)}`);
  expect(parsed.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  expect(parsed.searchParams.get('X-Amz-Expires')).toBe('300');
  expect(parsed.toString()).not.toMatch(/x-amz-checksum/i);
}

describe('getSession', () => {
  it('gives a finished session its result and one presigned download per succeeded child', async () => {
    finished(RESULT);

    const view = await getSession(SESSION_ID, config);

    expect(view).toMatchObject({
      sessionId: SESSION_ID,
      status: 'SUCCEEDED',
      startedAt: new Date(0).toISOString(),
      stoppedAt: new Date(1000).toISOString(),
      result: RESULT,
    });
    expect(Object.keys(view.downloadUrls ?? {}).sort()).toEqual([childId(0), childId(2)]);
    expectDownload(view.downloadUrls?.[childId(0)], 0);
    expectDownload(view.downloadUrls?.[childId(2)], 2);
    expect(aws.s3).not.toHaveReceivedCommand(GetObjectCommand);
  });

  it('puts each download URL on the audit log as given to the caller, never the URL itself', async () => {
    finished(RESULT);
    const caller = 'arn:aws:iam::123456789012:user/auditor';

    const view = await getSession(SESSION_ID, config, caller);

    const events = audit.pending();
    expect(events.map((e) => [e.type, 'childId' in e && e.childId, 'caller' in e && e.caller])).toEqual([
      ['artifact.download-url', childId(0), caller],
      ['artifact.download-url', childId(2), caller],
    ]);
    expect(events[0]).toMatchObject({ sessionId: SESSION_ID, expiresInSeconds: 300 });
    expect(JSON.stringify(events)).not.toContain(view.downloadUrls![childId(0)]);
  });

  it('reads the children from the record when the output left them there (many children)', async () => {
    finished({ ...RESULT, children: [], skipped: [], childrenInRecord: true });
    givenBucket({ [RECORD_KEY]: { ...RESULT, v: 2 } });

    const view = await getSession(SESSION_ID, config);

    expect(view.result).toEqual({ ...RESULT, childrenInRecord: false });
    expect(aws.s3).toHaveReceivedCommandWith(GetObjectCommand, { Bucket: BUCKET, Key: RECORD_KEY });
    expect(Object.keys(view.downloadUrls ?? {})).toHaveLength(2);
  });

  it('throws AWS_ERROR naming s3:GetObject when the record cannot be read', async () => {
    finished({ ...RESULT, children: [], childrenInRecord: true });
    aws.s3
      .on(GetObjectCommand)
      .rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: {} }));

    const error = await caught(() => getSession(SESSION_ID, config));

    expect(error).toMatchObject({ code: 'AWS_ERROR', message: expect.stringContaining('s3:GetObject') });
  });

  it('shows the phase of a running session', async () => {
    aws.sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING', executionArn: arnOf(SESSION_ID) });
    aws.sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        {
          type: 'TaskStateEntered',
          id: 8,
          timestamp: new Date(),
          stateEnteredEventDetails: { name: 'Poll' },
        },
      ],
    });

    await expect(getSession(SESSION_ID, config)).resolves.toMatchObject({ status: 'RUNNING', phase: 'Poll' });
    // Names only: the states' data would ride along with every look of a following CLI.
    expect(aws.sfn).toHaveReceivedCommandWith(GetExecutionHistoryCommand, {
      reverseOrder: true,
      includeExecutionData: false,
    });
  });

  it.each([
    ['a cancelled session as CANCELLED', new DebugTaskError('CANCELLED', 'cancelled'), 'CANCELLED'],
    [
      'a failed session as FAILED with its error',
      new DebugTaskError('HOST_BUSY', 'busy', { hint: 'wait' }),
      'FAILED',
    ],
  ])('reports %s', async (_what, error, status) => {
    failed(error);

    const view = await getSession(SESSION_ID, config);

    expect(view).toMatchObject({ status, error: { code: error.code, message: error.message } });
  });

  it.each([
    ['TIMED_OUT', 'TIMED_OUT', 'SESSION_TIMED_OUT'],
    ['ABORTED', 'CANCELLED', 'CANCELLED'],
  ])('reports an execution %s as %s with %s', async (executionStatus, status, code) => {
    aws.sfn.on(DescribeExecutionCommand).resolves({ status: executionStatus as 'ABORTED' });

    await expect(getSession(SESSION_ID, config)).resolves.toMatchObject({ status, error: { code } });
  });
});

describe('getSession of a child (GET /sessions/{childId})', () => {
  it("gives a succeeded child its own view, as a one-task session's, with its download only", async () => {
    finished(RESULT);

    const view = await getSession(childId(2), config);

    expect(view).toMatchObject({
      sessionId: childId(2),
      status: 'SUCCEEDED',
      result: {
        sessionId: SESSION_ID,
        kind: 'task',
        target: { cluster: CLUSTER, service: SERVICE, task: fleetTaskArn(2) },
        counts: { listed: 1, targets: 1, succeeded: 1, failed: 0, skipped: 0, leftOut: 0 },
        children: [CHILDREN[2]],
        skipped: [],
      },
    });
    expect(Object.keys(view.downloadUrls ?? {})).toEqual([childId(2)]);
    expectDownload(view.downloadUrls?.[childId(2)], 2);
    expect(aws.sfn).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: arnOf(SESSION_ID) });
  });

  it('gives a failed child of a session that succeeded its own error', async () => {
    finished(RESULT);

    const view = await getSession(childId(1), config);

    expect(view).toMatchObject({ sessionId: childId(1), status: 'FAILED', error: BUSY });
    expect(view).not.toHaveProperty('result');
    expect(view.downloadUrls).toBeUndefined();
  });

  it("gives the child of a failed session the child's error from the record", async () => {
    failed(new DebugTaskError('HOST_BUSY', 'busy'));
    givenBucket({ [RECORD_KEY]: { ...RESULT, v: 2, status: 'FAILED' } });

    const view = await getSession(childId(1), config);

    expect(view).toMatchObject({ sessionId: childId(1), status: 'FAILED', error: BUSY });
  });

  it('gives every child of a cancelled session the cancel, as the record has it', async () => {
    const cancelled = new DebugTaskError('CANCELLED', 'cancelled').toJSON();
    failed(new DebugTaskError('CANCELLED', 'cancelled'));
    givenBucket({ [RECORD_KEY]: { ...RESULT, children: [child(0, cancelled)] } });

    await expect(getSession(childId(0), config)).resolves.toMatchObject({
      status: 'CANCELLED',
      error: { code: 'CANCELLED' },
    });
  });

  it('reads the child from the record when the output left the children there', async () => {
    finished({ ...RESULT, children: [], childrenInRecord: true });
    givenBucket({ [RECORD_KEY]: { ...RESULT, v: 2 } });

    const view = await getSession(childId(0), config);

    expect(view).toMatchObject({
      sessionId: childId(0),
      status: 'SUCCEEDED',
      result: { children: [CHILDREN[0]] },
    });
  });

  it('answers RUNNING, under the child id, while the session runs', async () => {
    aws.sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING', executionArn: arnOf(SESSION_ID) });
    aws.sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });

    await expect(getSession(childId(1), config)).resolves.toMatchObject({
      sessionId: childId(1),
      status: 'RUNNING',
    });
  });

  it('throws SESSION_NOT_FOUND naming the session for a child it does not have', async () => {
    finished(RESULT);

    const error = await caught(() => getSession(childId(7), config));

    expect(error).toMatchObject({
      code: 'SESSION_NOT_FOUND',
      message: `Session ${SESSION_ID} has no child ${childId(7)}.`,
      hint: expect.stringContaining(`debug-task status ${SESSION_ID}`),
    });
  });
});

describe('cancelSession', () => {
  it("cancels a child's whole session: the marker is the session's", async () => {
    aws.sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
    aws.s3.on(PutObjectCommand).resolves({});

    const out = await cancelSession(childId(1), CALLER, config);

    expect(out).toEqual({ sessionId: SESSION_ID, status: 'CANCELLING' });
    expect(aws.s3).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: BUCKET,
      Key: `sessions/${SESSION_ID}/cancel`,
    });
    expect(aws.sfn).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: arnOf(SESSION_ID) });
  });
});

describe('listSessions', () => {
  const TASK_ID = 'dt-20261125120000-bbbbbb';
  const taskInput: ExecutionInput = {
    ...executionInput({ target: { task: fleetTaskArn(7) }, tool: 'strace', filter: '' }),
    sessionId: TASK_ID,
    caller: 'arn:aws:iam::123456789012:user/bob',
  };

  function givenExecutions(): void {
    aws.sfn.on(ListExecutionsCommand).resolves({
      executions: [
        {
          name: `${SESSION_ID}-r1a2b`,
          status: 'RUNNING',
          executionArn: arnOf(`${SESSION_ID}-r1a2b`),
          stateMachineArn: SM,
          startDate: new Date(3000),
        },
        {
          name: SESSION_ID,
          status: 'RUNNING',
          executionArn: arnOf(SESSION_ID),
          stateMachineArn: SM,
          startDate: new Date(2000),
        },
        {
          name: TASK_ID,
          status: 'SUCCEEDED',
          executionArn: arnOf(TASK_ID),
          stateMachineArn: SM,
          startDate: new Date(1000),
          stopDate: new Date(1500),
        },
        {
          name: 'dt-20261125110000-cccccc',
          status: 'FAILED',
          executionArn: arnOf('dt-20261125110000-cccccc'),
          stateMachineArn: SM,
          startDate: new Date(0),
        },
      ],
    });
    aws.sfn.on(DescribeExecutionCommand).callsFake((input: DescribeExecutionCommandInput) => {
      if (input.executionArn === arnOf(SESSION_ID))
        return { status: 'RUNNING', input: JSON.stringify(serviceInput()) };
      if (input.executionArn === arnOf(TASK_ID))
        return { status: 'SUCCEEDED', input: JSON.stringify(taskInput) };
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} });
    });
  }

  it('gives each session its cluster, target, tool, caller and kind, from one DescribeExecution each; re-uploads are not sessions, nor a session whose owner cannot be told', async () => {
    givenExecutions();

    // Which rows a caller may see is decided elsewhere (lib/api/access.ts): here, every row.
    const rows = await listSessions(config, { mayRead: async () => true });

    expect(rows).toEqual([
      {
        sessionId: SESSION_ID,
        status: 'RUNNING',
        startedAt: new Date(2000).toISOString(),
        stoppedAt: undefined,
        cluster: CLUSTER,
        target: `service ${SERVICE} (cluster ${CLUSTER})`,
        tool: 'tcpdump',
        caller: CALLER,
        kind: 'service',
      },
      {
        sessionId: TASK_ID,
        status: 'SUCCEEDED',
        startedAt: new Date(1000).toISOString(),
        stoppedAt: new Date(1500).toISOString(),
        cluster: CLUSTER,
        target: fleetTaskArn(7),
        tool: 'strace',
        caller: 'arn:aws:iam::123456789012:user/bob',
        kind: 'task',
      },
    ]);
    // dt-20261125110000-cccccc, whose input cannot be read: whose it is cannot be told, so no row.
    expect(aws.sfn).toHaveReceivedCommandTimes(DescribeExecutionCommand, 3);
    expect(aws.sfn).not.toHaveReceivedCommandWith(DescribeExecutionCommand, {
      executionArn: arnOf(`${SESSION_ID}-r1a2b`),
    });
  });

  it('asks for running executions only when asked for active sessions, at most the limit', async () => {
    aws.sfn.on(ListExecutionsCommand).resolves({ executions: [] });

    await listSessions(config, { active: true, limit: 5, mayRead: async () => true });

    expect(aws.sfn).toHaveReceivedCommandWith(ListExecutionsCommand, {
      stateMachineArn: SM,
      maxResults: 5,
      statusFilter: 'RUNNING',
    });
  });
});
