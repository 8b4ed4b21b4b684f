import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  StartExecutionCommand,
  type DescribeExecutionCommandInput,
  type DescribeExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import { handleApiRequest } from '../../../lib/api/routes';
import { DebugTaskError, toStepFunctionsError, type ErrorBody } from '../../../lib/domain/errors';
import type { ChildResult, ExecutionInput, SessionResult } from '../../../lib/domain/session';
import { apiEvent } from '../../support/api-event';
import { FAKE, aws, givenBucket, useAwsMocks } from '../../support/aws';
import {
  BUCKET,
  CALLER,
  CLUSTER,
  CLUSTER_ARN,
  SERVICE,
  SESSION_ID,
  childId,
  executionInput,
  fleetInstanceId,
  fleetTaskArn,
  serviceInput,
} from '../../support/fixtures';

/**
 * Re-upload (`debug-task fetch` after UPLOAD_FAILED): an execution of the same state machine, named
 * `<sessionId>-r<id>`, for the children named; the api function only starts and reads it.
 */

useAwsMocks();

const SM = FAKE.stateMachineArn;
/** The session's owner: only the owner (or whom the deployment's policy lets fetch) may re-upload. */
const ME = CALLER;
const RECORD_KEY = `sessions/${SESSION_ID}/manifest.json`;
const arnOf = (name: string) => `${SM.replace(':stateMachine:', ':execution:')}:${name}`;
const keyOf = (i: number) => `sessions/${SESSION_ID}/children/${childId(i)}/artifact.pcap.gz`;
const UPLOAD_FAILED: ErrorBody = {
  code: 'UPLOAD_FAILED',
  message: 'kept on the host',
  hint: 'fetch it again',
};

function child(i: number, error?: ErrorBody): ChildResult {
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
          tool: { name: 'tcpdump' as const, exitCode: 0 },
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

/** A service session of three children: 0 uploaded, 1 and 2 kept on their hosts. */
const CHILDREN = [child(0), child(1, UPLOAD_FAILED), child(2, UPLOAD_FAILED)];
const RECORD = {
  v: 2,
  sessionId: SESSION_ID,
  status: 'SUCCEEDED',
  kind: 'service',
  target: { cluster: CLUSTER, clusterArn: CLUSTER_ARN, service: SERVICE },
  tool: 'tcpdump',
  counts: { listed: 3, targets: 3, succeeded: 1, failed: 2, skipped: 0, leftOut: 0 },
  startAt: 1764073000,
  children: CHILDREN,
  skipped: [],
  recordUri: `s3://${BUCKET}/${RECORD_KEY}`,
  timings: { requestedAt: '2026-11-25T12:00:00.000Z', collectedAt: '2026-11-25T12:02:00.000Z' },
};

async function call(route: 'reupload' | 'getReupload', id: string, reuploadId?: string) {
  const res = await handleApiRequest(apiEvent(route, { id, reuploadId, cluster: CLUSTER, caller: ME }));
  return { status: res.statusCode, body: JSON.parse(res.body ?? '{}') };
}

const post = (id: string) => call('reupload', id);
const get = (id: string, reuploadId: string) => call('getReupload', id, reuploadId);

/** Step Functions knows these executions by name. */
function executions(byName: Record<string, Partial<DescribeExecutionCommandOutput>>): void {
  aws.sfn.on(DescribeExecutionCommand).callsFake((input: DescribeExecutionCommandInput) => {
    const name = input.executionArn?.split(':').pop() ?? '';
    const found = byName[name];
    if (!found) throw new ExecutionDoesNotExist({ message: 'Execution does not exist', $metadata: {} });
    return { executionArn: input.executionArn, ...found };
  });
}

const sessionEnded = (input: ExecutionInput = serviceInput()) => ({
  [SESSION_ID]: { status: 'SUCCEEDED' as const, input: JSON.stringify(input), output: '{}' },
});

function started(): { name: string; input: ExecutionInput } {
  expect(aws.sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
  const sent = aws.sfn.commandCalls(StartExecutionCommand)[0].args[0].input;
  expect(sent.stateMachineArn).toBe(SM);
  return { name: sent.name!, input: JSON.parse(sent.input!) as ExecutionInput };
}

beforeEach(() => {
  aws.sfn.on(StartExecutionCommand).resolves({ executionArn: 'x', startDate: new Date() });
});

describe('POST /sessions/{id}/reupload', () => {
  it("starts an execution <session>-r<id> of the session's own request for every child whose upload failed", async () => {
    executions(sessionEnded());
    givenBucket({ [RECORD_KEY]: RECORD });

    const { status, body } = await post(SESSION_ID);

    expect(status).toBe(202);
    expect(body).toEqual({
      sessionId: SESSION_ID,
      reuploadId: expect.stringMatching(/^r[0-9a-z]{1,12}$/),
      children: [childId(1), childId(2)],
      status: 'RUNNING',
    });
    const { name, input } = started();
    expect(name).toBe(`${SESSION_ID}-${body.reuploadId}`);
    expect(input).toEqual({
      ...serviceInput(),
      caller: ME,
      requestedAt: expect.any(String),
      reupload: { id: body.reuploadId, children: [childId(1), childId(2)] },
    });
  });

  it("re-uploads only the child named by a child's id", async () => {
    executions(sessionEnded());
    givenBucket({ [RECORD_KEY]: RECORD });

    const { status, body } = await post(childId(2));

    expect(status).toBe(202);
    expect(body).toMatchObject({ sessionId: childId(2), children: [childId(2)] });
    expect(started().input.reupload?.children).toEqual([childId(2)]);
  });

  it("re-uploads a one-task session's child by the session's id", async () => {
    executions(sessionEnded(executionInput()));
    givenBucket({ [RECORD_KEY]: { ...RECORD, kind: 'task', children: [child(0, UPLOAD_FAILED)] } });

    const { body } = await post(SESSION_ID);

    expect(body.children).toEqual([childId(0)]);
    expect(started().input.spec).toEqual(executionInput().spec);
  });

  it('answers SUCCEEDED at once, starting nothing, when the artifacts were already uploaded again', async () => {
    executions(sessionEnded());
    givenBucket({
      [RECORD_KEY]: RECORD,
      [`sessions/${SESSION_ID}/reuploads/rold/record.json`]: {
        v: 2,
        reuploadId: 'rold',
        children: [child(1), child(2, UPLOAD_FAILED)],
      },
      [`sessions/${SESSION_ID}/reuploads/rnew/record.json`]: {
        v: 2,
        reuploadId: 'rnew',
        children: [child(2)],
      },
    });

    const { status, body } = await post(SESSION_ID);

    expect(status).toBe(200);
    expect(aws.sfn).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(body).toMatchObject({
      sessionId: SESSION_ID,
      status: 'SUCCEEDED',
      result: {
        sessionId: SESSION_ID,
        kind: 'service',
        counts: { targets: 3, succeeded: 3, failed: 0 },
        children: [child(0), child(1), child(2)],
      },
    });
    expect(Object.keys(body.downloadUrls).sort()).toEqual([childId(1), childId(2)]);
    expect(new URL(body.downloadUrls[childId(1)]).pathname).toBe(`/${keyOf(1)}`);
  });

  it('starts an execution only for the children not uploaded again yet', async () => {
    executions(sessionEnded());
    givenBucket({
      [RECORD_KEY]: RECORD,
      [`sessions/${SESSION_ID}/reuploads/rold/record.json`]: {
        v: 2,
        reuploadId: 'rold',
        children: [child(1)],
      },
    });

    const { status, body } = await post(SESSION_ID);

    expect(status).toBe(202);
    expect(body.children).toEqual([childId(2)]);
  });

  it.each([
    ['a child whose upload worked', childId(0), 'its upload worked: just fetch it'],
    ['a child that failed otherwise', childId(3), 'it ended HOST_BUSY, with no artifact kept'],
  ])('refuses %s with INVALID_ARGUMENT, starting nothing', async (_what, id, why) => {
    executions(sessionEnded());
    givenBucket({
      [RECORD_KEY]: {
        ...RECORD,
        children: [...CHILDREN, child(3, { code: 'HOST_BUSY', message: 'busy', hint: '' })],
      },
    });

    const { status, body } = await post(id);

    expect(status).toBe(400);
    expect(body.error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: `Session ${id} cannot be uploaded again: ${why}.`,
    });
    expect(aws.sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('refuses a session that is still running', async () => {
    executions({ [SESSION_ID]: { status: 'RUNNING', input: JSON.stringify(serviceInput()) } });

    const { status, body } = await post(SESSION_ID);

    expect(status).toBe(400);
    expect(body.error.message).toContain('still running');
    expect(body.error.hint).toContain(`debug-task status ${SESSION_ID}`);
    expect(aws.sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('refuses a session that left no record', async () => {
    executions(sessionEnded());
    givenBucket();

    const { status, body } = await post(SESSION_ID);

    expect(status).toBe(400);
    expect(body.error.message).toContain('it left no record');
  });

  it('answers 404 SESSION_NOT_FOUND for a session Step Functions does not know', async () => {
    executions({});

    const { status, body } = await post(SESSION_ID);

    expect(status).toBe(404);
    expect(body.error.code).toBe('SESSION_NOT_FOUND');
  });

  it('refuses a malformed session id with 400, before any call', async () => {
    const { status, body } = await post('../../etc/passwd');

    expect(status).toBe(400);
    expect(body.error.code).toBe('INVALID_ARGUMENT');
    expect(aws.sfn.calls()).toHaveLength(0);
    expect(aws.s3.calls()).toHaveLength(0);
  });
});

describe('GET /sessions/{id}/reupload/{reuploadId}', () => {
  const REUPLOAD = 'r1a2b';
  const NAME = `${SESSION_ID}-${REUPLOAD}`;
  const output = (children: ChildResult[]): SessionResult =>
    ({ ...RECORD, status: 'SUCCEEDED', children }) as unknown as SessionResult;

  it('answers RUNNING with the phase while it runs', async () => {
    executions({ ...sessionEnded(), [NAME]: { status: 'RUNNING' } });
    aws.sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        {
          type: 'TaskStateEntered',
          id: 3,
          timestamp: new Date(),
          stateEnteredEventDetails: { name: 'Wait' },
        },
      ],
    });

    const { status, body } = await get(SESSION_ID, REUPLOAD);

    expect(status).toBe(200);
    expect(body).toEqual({ sessionId: SESSION_ID, reuploadId: REUPLOAD, status: 'RUNNING', phase: 'Wait' });
    expect(aws.sfn).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: arnOf(NAME) });
  });

  it("answers the session's result with the children uploaded again, and their downloads", async () => {
    executions({
      ...sessionEnded(),
      [NAME]: { status: 'SUCCEEDED', output: JSON.stringify(output([child(0), child(1), child(2)])) },
    });

    const { status, body } = await get(SESSION_ID, REUPLOAD);

    expect(status).toBe(200);
    expect(body).toMatchObject({ sessionId: SESSION_ID, reuploadId: REUPLOAD, status: 'SUCCEEDED' });
    expect(body.result.children).toHaveLength(3);
    expect(Object.keys(body.downloadUrls).sort()).toEqual([childId(0), childId(1), childId(2)]);
  });

  it("answers a child's re-upload as that child's one-task result", async () => {
    executions({
      ...sessionEnded(),
      [NAME]: { status: 'SUCCEEDED', output: JSON.stringify(output([child(0), child(1), child(2)])) },
    });

    const { body } = await get(childId(1), REUPLOAD);

    expect(body).toMatchObject({
      sessionId: childId(1),
      status: 'SUCCEEDED',
      result: { kind: 'task', children: [child(1)], skipped: [] },
    });
    expect(Object.keys(body.downloadUrls)).toEqual([childId(1)]);
  });

  it("fails with a child's own error when its re-upload did not work but another's did", async () => {
    const stillKept = {
      ...UPLOAD_FAILED,
      message: 'The re-upload failed 5 times',
      hint: `debug-task fetch ${childId(2)}`,
    };
    executions({
      ...sessionEnded(),
      [NAME]: {
        status: 'SUCCEEDED',
        output: JSON.stringify(output([child(0), child(1), child(2, stillKept)])),
      },
    });

    const { status, body } = await get(childId(2), REUPLOAD);

    expect(status).toBe(502);
    expect(body.error).toMatchObject({
      code: 'UPLOAD_FAILED',
      message: stillKept.message,
      hint: stillKept.hint,
    });
  });

  it.each([
    ['UPLOAD_FAILED', 502],
    ['ARTIFACT_NOT_ON_HOST', 410],
  ] as const)('fails with the error of a failed re-upload (%s, %i)', async (code, httpStatus) => {
    const raised = toStepFunctionsError(
      new DebugTaskError(code, 'what the host said', { hint: 'what to do' }),
    );
    executions({
      ...sessionEnded(),
      [NAME]: {
        status: 'FAILED',
        error: raised.name,
        cause: JSON.stringify({ errorType: raised.name, errorMessage: raised.message }),
      },
    });

    const { status, body } = await get(SESSION_ID, REUPLOAD);

    expect(status).toBe(httpStatus);
    expect(body.error).toEqual({ code, message: 'what the host said', hint: 'what to do' });
  });

  it('fails with UPLOAD_FAILED for a re-upload that timed out', async () => {
    executions({ ...sessionEnded(), [NAME]: { status: 'TIMED_OUT' } });

    const { body } = await get(SESSION_ID, REUPLOAD);

    expect(body.error).toMatchObject({
      code: 'UPLOAD_FAILED',
      message: expect.stringContaining('ended TIMED_OUT'),
    });
  });

  it('answers 404 for a re-upload Step Functions does not know', async () => {
    executions(sessionEnded());

    const { status, body } = await get(SESSION_ID, REUPLOAD);

    expect(status).toBe(404);
    expect(body.error.message).toContain(`re-upload ${REUPLOAD}`);
  });

  it('refuses a re-upload id that is not one, before any call', async () => {
    const { status, body } = await get(SESSION_ID, '../../etc');

    expect(status).toBe(400);
    expect(body.error.code).toBe('INVALID_ARGUMENT');
    expect(aws.sfn.calls()).toHaveLength(0);
  });
});
