import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEventV2WithIAMAuthorizer } from 'aws-lambda';
import { handleApiRequest } from '../../../lib/api/routes';
import { toStepFunctionsError, DebugTaskError } from '../../../lib/domain/errors';
import { FAKE, aws, useAwsMocks } from '../../support/aws';

useAwsMocks({ BUCKET_NAME: 'artifacts' });

const { sfn, s3 } = aws;
const SM = FAKE.stateMachineArn;
const TASK = 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef';
const CALLER = 'arn:aws:iam::123456789012:user/alice';
const ID = 'dt-20261125123456-a1b2c3';

function event(
  routeKey: string,
  init: { body?: unknown; id?: string } = {},
): APIGatewayProxyEventV2WithIAMAuthorizer {
  return {
    routeKey,
    body:
      init.body === undefined
        ? undefined
        : typeof init.body === 'string'
          ? init.body
          : JSON.stringify(init.body),
    isBase64Encoded: false,
    pathParameters: init.id ? { id: init.id } : undefined,
    requestContext: { authorizer: { iam: { userArn: CALLER } } },
  } as unknown as APIGatewayProxyEventV2WithIAMAuthorizer;
}

async function call(routeKey: string, init?: { body?: unknown; id?: string }) {
  const res = await handleApiRequest(event(routeKey, init));
  return { status: res.statusCode, body: JSON.parse(res.body ?? '{}') };
}

describe('POST /sessions', () => {
  it('starts an execution named after a new session id, with the caller recorded', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'x', startDate: new Date() });

    const { status, body } = await call('POST /sessions', {
      body: { target: { task: TASK }, tool: 'tcpdump' },
    });

    expect(status).toBe(202);
    expect(body.sessionId).toMatch(/^dt-\d{14}-[a-z0-9]{6}$/);
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
    const input = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input!);
    expect(input).toMatchObject({
      sessionId: body.sessionId,
      caller: CALLER,
      spec: { tool: 'tcpdump', durationSeconds: 60 },
    });
    expect(sfn.commandCalls(StartExecutionCommand)[0].args[0].input.name).toBe(body.sessionId);
  });

  it('answers 400 INVALID_FILTER and starts nothing for a hostile filter', async () => {
    const { status, body } = await call('POST /sessions', {
      body: { target: { task: TASK }, tool: 'tcpdump', filter: 'port 80 $(curl evil)' },
    });

    expect(status).toBe(400);
    expect(body.error.code).toBe('INVALID_FILTER');
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('answers 400 INVALID_TASK_ARN for a target that is not a task', async () => {
    const { status, body } = await call('POST /sessions', {
      body: { target: { task: 'i-0123' }, tool: 'tcpdump' },
    });
    expect(status).toBe(400);
    expect(body.error.code).toBe('INVALID_TASK_ARN');
  });

  it('answers 400 INVALID_ARGUMENT when the body is not JSON', async () => {
    const { status, body } = await call('POST /sessions', { body: 'tool=tcpdump' });
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'INVALID_ARGUMENT', message: 'The request body is not JSON.' });
  });

  it('answers 502 AWS_ERROR naming the call, without internals, when StartExecution fails', async () => {
    sfn.on(StartExecutionCommand).rejects(new Error('Rate exceeded'));
    const { status, body } = await call('POST /sessions', {
      body: { target: { task: TASK }, tool: 'tcpdump' },
    });
    expect(status).toBe(502);
    expect(body.error.code).toBe('AWS_ERROR');
    expect(body.error.message).toMatch(/states:StartExecution failed/);
    expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+/);
  });
});

describe('GET /sessions/{id}', () => {
  it('shows the phase of a running session from the last state entered', async () => {
    sfn
      .on(DescribeExecutionCommand)
      .resolves({ status: 'RUNNING', executionArn: `${SM}:${ID}`, startDate: new Date() });
    sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        { type: 'TaskScheduled', id: 9, timestamp: new Date() },
        {
          type: 'TaskStateEntered',
          id: 8,
          timestamp: new Date(),
          stateEnteredEventDetails: { name: 'Poll' },
        },
      ],
    });

    const { status, body } = await call('GET /sessions/{id}', { id: ID });

    expect(status).toBe(200);
    expect(body).toMatchObject({ sessionId: ID, status: 'RUNNING', phase: 'Poll' });
    expect(sfn.commandCalls(DescribeExecutionCommand)[0].args[0].input.executionArn).toBe(
      `arn:aws:states:xx-test-1:123456789012:execution:DebugTaskSessions:${ID}`,
    );
  });

  it('gives the result and a presigned download URL of its child for a finished session', async () => {
    const key = `sessions/${ID}/children/${ID}-0000/artifact.pcap.gz`;
    const result = {
      sessionId: ID,
      kind: 'task',
      children: [
        { index: 0, sessionId: `${ID}-0000`, status: 'SUCCEEDED', artifact: { bucket: 'artifacts', key } },
      ],
    };
    sfn.on(DescribeExecutionCommand).resolves({ status: 'SUCCEEDED', output: JSON.stringify(result) });

    const { body } = await call('GET /sessions/{id}', { id: ID });

    expect(body.status).toBe('SUCCEEDED');
    expect(body.result).toEqual(result);
    expect(Object.keys(body.downloadUrls)).toEqual([`${ID}-0000`]);
    expect(body.downloadUrls[`${ID}-0000`]).toMatch(
      new RegExp(`/sessions/${ID}/children/${ID}-0000/artifact\\.pcap\\.gz\\?.*X-Amz-Signature=`),
    );
    expect(body.downloadUrls[`${ID}-0000`]).not.toMatch(/x-amz-checksum/i);
  });

  it('decodes a failed execution back into the error code, message and hint raised by a step', async () => {
    const raised = toStepFunctionsError(
      new DebugTaskError('HOST_BUSY', 'i-0abc already runs 2 debug sessions.', { hint: 'wait' }),
    );
    sfn.on(DescribeExecutionCommand).resolves({
      status: 'FAILED',
      error: raised.name,
      cause: JSON.stringify({ errorType: raised.name, errorMessage: raised.message }),
    });

    const { body } = await call('GET /sessions/{id}', { id: ID });

    expect(body.status).toBe('FAILED');
    expect(body.error).toEqual({
      code: 'HOST_BUSY',
      message: 'i-0abc already runs 2 debug sessions.',
      hint: 'wait',
    });
  });

  it('answers 404 SESSION_NOT_FOUND for an unknown session', async () => {
    sfn.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'no', $metadata: {} }));
    const { status, body } = await call('GET /sessions/{id}', { id: ID });
    expect(status).toBe(404);
    expect(body.error.code).toBe('SESSION_NOT_FOUND');
  });

  it('answers 400 without calling AWS for a malformed id', async () => {
    const { status } = await call('GET /sessions/{id}', { id: '../../etc/passwd' });
    expect(status).toBe(400);
    expect(sfn).not.toHaveReceivedCommand(DescribeExecutionCommand);
  });
});

describe('DELETE /sessions/{id}', () => {
  it('leaves a cancel marker for the Poll step rather than stopping the execution (so Cleanup runs)', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
    s3.on(PutObjectCommand).resolves({});

    const { status, body } = await call('DELETE /sessions/{id}', { id: ID });

    expect(status).toBe(202);
    expect(body).toEqual({ sessionId: ID, status: 'CANCELLING' });
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: 'artifacts',
      Key: `sessions/${ID}/cancel`,
    });
  });

  it('does nothing to a session that has already ended', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ status: 'SUCCEEDED' });
    const { body } = await call('DELETE /sessions/{id}', { id: ID });
    expect(body.status).toBe('SUCCEEDED');
    expect(s3).not.toHaveReceivedCommand(PutObjectCommand);
  });
});

describe('GET /sessions', () => {
  it('lists executions newest first as sessions', async () => {
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        { name: ID, status: 'RUNNING', executionArn: 'a', stateMachineArn: SM, startDate: new Date(0) },
        {
          name: 'dt-20261124000000-zzzzzz',
          status: 'ABORTED',
          executionArn: 'b',
          stateMachineArn: SM,
          startDate: new Date(0),
        },
      ],
    });
    sfn.on(DescribeExecutionCommand, { executionArn: 'a' }).resolves({
      input: JSON.stringify({
        sessionId: ID,
        caller: 'arn:aws:iam::123456789012:user/alice',
        spec: { target: { service: 'web', cluster: 'prod', maxTasks: 100 }, tool: 'tcpdump' },
      }),
    } as never);
    sfn.on(DescribeExecutionCommand, { executionArn: 'b' }).rejects(new Error('throttled'));
    const { body } = await call('GET /sessions');
    expect(body.sessions.map((s: { status: string }) => s.status)).toEqual(['RUNNING', 'CANCELLED']);
    // Who asked for what, from each execution's input; a row whose input cannot be read still lists.
    expect(body.sessions[0]).toMatchObject({
      target: 'service web (cluster prod)',
      tool: 'tcpdump',
      caller: 'arn:aws:iam::123456789012:user/alice',
      kind: 'service',
    });
    expect(body.sessions[1]).not.toHaveProperty('target');
  });
});
