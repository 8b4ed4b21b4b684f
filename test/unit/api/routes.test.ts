import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handleApiRequest } from '../../../lib/api/routes';
import { toStepFunctionsError, DebugTaskError } from '../../../lib/domain/errors';
import type { RouteName } from '../../../lib/domain/routes';
import { apiEvent, type ApiEventInit } from '../../support/api-event';
import { FAKE, aws, noSuchKey, objectBody, useAwsMocks } from '../../support/aws';

useAwsMocks({ BUCKET_NAME: 'artifacts' });

const { sfn, s3 } = aws;
const SM = FAKE.stateMachineArn;
const TASK = 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef';
const CALLER = 'arn:aws:iam::123456789012:user/alice';
const ID = 'dt-20261125123456-a1b2c3';

/** The execution input of a session alice started on cluster prod. */
const OWNED = JSON.stringify({
  sessionId: ID,
  caller: CALLER,
  spec: { target: { task: TASK, cluster: 'prod' }, tool: 'tcpdump' },
});

async function call(route: RouteName, init?: ApiEventInit) {
  const res = await handleApiRequest(apiEvent(route, init));
  return { status: res.statusCode, body: JSON.parse(res.body ?? '{}') };
}

describe('POST /clusters/{cluster}/tools/{tool}/sessions', () => {
  it('starts an execution named after a new session id, with the caller recorded', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'x', startDate: new Date() });

    const { status, body } = await call('start', {
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
    const { status, body } = await call('start', {
      body: { target: { task: TASK }, tool: 'tcpdump', filter: 'port 80 $(curl evil)' },
    });

    expect(status).toBe(400);
    expect(body.error.code).toBe('INVALID_FILTER');
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('answers 400 INVALID_TASK_ARN for a target that is not a task', async () => {
    const { status, body } = await call('start', {
      body: { target: { task: 'i-0123' }, tool: 'tcpdump' },
    });
    expect(status).toBe(400);
    expect(body.error.code).toBe('INVALID_TASK_ARN');
  });

  it('answers 400 INVALID_ARGUMENT when the body is not JSON', async () => {
    const { status, body } = await call('start', { body: 'tool=tcpdump' });
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'INVALID_ARGUMENT', message: 'The request body is not JSON.' });
  });

  it('answers 502 AWS_ERROR naming the call, without internals, when StartExecution fails', async () => {
    sfn.on(StartExecutionCommand).rejects(new Error('Rate exceeded'));
    const { status, body } = await call('start', {
      body: { target: { task: TASK }, tool: 'tcpdump' },
    });
    expect(status).toBe(502);
    expect(body.error.code).toBe('AWS_ERROR');
    expect(body.error.message).toMatch(/states:StartExecution failed/);
    expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+/);
  });
});

describe('GET /clusters/{cluster}/sessions/{id}', () => {
  it('shows the phase of a running session from the last state entered', async () => {
    sfn
      .on(DescribeExecutionCommand)
      .resolves({ input: OWNED, status: 'RUNNING', executionArn: `${SM}:${ID}`, startDate: new Date() });
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

    const { status, body } = await call('get', { id: ID });

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
    sfn
      .on(DescribeExecutionCommand)
      .resolves({ input: OWNED, status: 'SUCCEEDED', output: JSON.stringify(result) });

    const { body } = await call('get', { id: ID });

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
      input: OWNED,
      status: 'FAILED',
      error: raised.name,
      cause: JSON.stringify({ errorType: raised.name, errorMessage: raised.message }),
    });

    const { body } = await call('get', { id: ID });

    expect(body.status).toBe('FAILED');
    expect(body.error).toEqual({
      code: 'HOST_BUSY',
      message: 'i-0abc already runs 2 debug sessions.',
      hint: 'wait',
    });
  });

  it('answers 404 SESSION_NOT_FOUND for an unknown session', async () => {
    sfn.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'no', $metadata: {} }));
    const { status, body } = await call('get', { id: ID });
    expect(status).toBe(404);
    expect(body.error.code).toBe('SESSION_NOT_FOUND');
  });

  it('answers 400 without calling AWS for a malformed id', async () => {
    const { status } = await call('get', { id: '../../etc/passwd' });
    expect(status).toBe(400);
    expect(sfn).not.toHaveReceivedCommand(DescribeExecutionCommand);
  });
});

describe('GET /clusters/{cluster}/sessions/{id}/chunks (--follow)', () => {
  const PREFIX = `sessions/${ID}/children/${ID}-0000/chunks/`;
  beforeEach(() => {
    sfn
      .on(DescribeExecutionCommand)
      .resolves({ input: OWNED, status: 'RUNNING', executionArn: `${SM}:${ID}` });
  });

  it("lists a one-task session's chunks after ?after=N, with a presigned GET of a minute each, and its status", async () => {
    s3.on(ListObjectsV2Command).resolves({
      Contents: [
        { Key: `${PREFIX}000003`, Size: 100 },
        { Key: `${PREFIX}000004`, Size: 7 },
        { Key: `${PREFIX}stray`, Size: 1 },
      ],
      IsTruncated: false,
    });

    const { status, body } = await call('chunks', { id: ID, query: { after: '2' } });

    expect(status).toBe(200);
    expect(s3.commandCalls(ListObjectsV2Command)[0].args[0].input).toMatchObject({
      Bucket: 'artifacts',
      Prefix: PREFIX,
      StartAfter: `${PREFIX}000002`,
    });
    expect(body).toMatchObject({ sessionId: ID, childId: `${ID}-0000`, status: 'RUNNING', more: false });
    expect(body.chunks.map((c: { seq: number; bytes: number }) => [c.seq, c.bytes])).toEqual([
      [3, 100],
      [4, 7],
    ]);
    expect(body.chunks[0].url).toMatch(
      new RegExp(`/${PREFIX}000003\\?.*X-Amz-Expires=60&.*X-Amz-Signature=`),
    );
  });

  it('lists from the first chunk without ?after, and says when more follow', async () => {
    s3.on(ListObjectsV2Command).resolves({
      Contents: [{ Key: `${PREFIX}000000`, Size: 24 }],
      IsTruncated: true,
    });

    const { body } = await call('chunks', { id: `${ID}-0000` });

    expect(s3.commandCalls(ListObjectsV2Command)[0].args[0].input.StartAfter).toBeUndefined();
    expect(body).toMatchObject({ childId: `${ID}-0000`, more: true, chunks: [{ seq: 0, bytes: 24 }] });
  });

  it('refuses an ?after that is not a chunk number, and a service session (its chunks are per child), listing nothing', async () => {
    expect((await call('chunks', { id: ID, query: { after: '-1' } })).body.error.code).toBe(
      'INVALID_ARGUMENT',
    );
    sfn.on(DescribeExecutionCommand).resolves({
      input: JSON.stringify({
        sessionId: ID,
        caller: CALLER,
        spec: { target: { service: 'web', cluster: 'prod' }, tool: 'tcpdump' },
      }),
      status: 'RUNNING',
      executionArn: `${SM}:${ID}`,
    });
    const { status, body } = await call('chunks', { id: ID });
    expect(status).toBe(400);
    expect(body.error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      hint: expect.stringContaining(`${ID}-0000`),
    });
    expect(s3).not.toHaveReceivedCommand(ListObjectsV2Command);
  });

  it("refuses another principal's read without a policy: 403, no chunk listed", async () => {
    const { status, body } = await call('chunks', {
      id: ID,
      caller: 'arn:aws:iam::123456789012:user/mallory',
    });
    expect(status).toBe(403);
    expect(body.error.code).toBe('NOT_AUTHORIZED');
    expect(s3).not.toHaveReceivedCommand(ListObjectsV2Command);
  });
});

describe('POST /clusters/{cluster}/sessions/{id}/stop', () => {
  it('leaves a stop marker for the Poll step (which sends action=stop and keeps the captures), not a cancel', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ input: OWNED, status: 'RUNNING' });
    s3.on(PutObjectCommand).resolves({});

    const { status, body } = await call('stop', { id: ID });

    expect(status).toBe(202);
    expect(body).toEqual({ sessionId: ID, status: 'STOPPING' });
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: 'artifacts',
      Key: `sessions/${ID}/stop`,
    });
    expect(s3).not.toHaveReceivedCommandWith(PutObjectCommand, { Key: `sessions/${ID}/cancel` });
  });

  it('stops a child’s whole session: the marker is the session’s', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ input: OWNED, status: 'RUNNING' });
    s3.on(PutObjectCommand).resolves({});

    await call('stop', { id: `${ID}-0001` });

    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, { Key: `sessions/${ID}/stop` });
  });

  it('does nothing to a session that has already ended', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ input: OWNED, status: 'SUCCEEDED' });
    const { body } = await call('stop', { id: ID });
    expect(body.status).toBe('SUCCEEDED');
    expect(s3).not.toHaveReceivedCommand(PutObjectCommand);
  });
});

describe('DELETE /clusters/{cluster}/sessions/{id}', () => {
  it('leaves a cancel marker for the Poll step rather than stopping the execution (so Cleanup runs)', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ input: OWNED, status: 'RUNNING' });
    s3.on(PutObjectCommand).resolves({});

    const { status, body } = await call('cancel', { id: ID });

    expect(status).toBe(202);
    expect(body).toEqual({ sessionId: ID, status: 'CANCELLING' });
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: 'artifacts',
      Key: `sessions/${ID}/cancel`,
    });
  });

  it('does nothing to a session that has already ended', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ input: OWNED, status: 'SUCCEEDED' });
    const { body } = await call('cancel', { id: ID });
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
    const { body } = await call('list');
    // Who asked for what, from each execution's input; a row whose owner cannot be told is left out.
    expect(body.sessions).toEqual([
      expect.objectContaining({
        sessionId: ID,
        status: 'RUNNING',
        cluster: 'prod',
        target: 'service web (cluster prod)',
        tool: 'tcpdump',
        caller: 'arn:aws:iam::123456789012:user/alice',
        kind: 'service',
      }),
    ]);
  });
});

describe('who may act on a session (owner isolation, the deployment policy)', () => {
  const BOB = 'arn:aws:sts::123456789012:assumed-role/security/bob';
  const PLAN = {
    v: 2,
    sessionId: ID,
    kind: 'task',
    clusterArn: 'arn:aws:ecs:xx-test-1:123456789012:cluster/prod',
    targets: [
      {
        index: 0,
        sessionId: `${ID}-0000`,
        taskArn: TASK,
        clusterArn: 'arn:aws:ecs:xx-test-1:123456789012:cluster/prod',
        container: 'web',
        containerId: 'c',
        instanceId: 'i-0abc',
        service: 'payments',
        tags: { team: 'payments' },
        launchType: 'EC2',
        networkMode: 'bridge',
      },
    ],
    skipped: [],
  };
  let policyDir: string;
  const usePolicy = (text: string) => {
    const file = join(policyDir, `policy-${Math.random().toString(36).slice(2)}.cedar`);
    writeFileSync(file, text);
    process.env.DEBUG_TASK_POLICY_FILE = file;
  };
  beforeAll(() => {
    policyDir = mkdtempSync(join(tmpdir(), 'debug-task-policy-'));
  });
  afterAll(() => rmSync(policyDir, { recursive: true, force: true }));
  beforeEach(() => {
    sfn
      .on(DescribeExecutionCommand)
      .resolves({ input: OWNED, status: 'RUNNING', executionArn: `${SM}:${ID}` });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    s3.on(PutObjectCommand).resolves({});
    s3.on(GetObjectCommand).rejects(noSuchKey());
    s3.on(GetObjectCommand, { Key: `sessions/${ID}/plan.json` }).resolves(objectBody(JSON.stringify(PLAN)));
  });
  afterEach(() => {
    delete process.env.DEBUG_TASK_POLICY_FILE;
  });

  it('lets the owner read and cancel their own session, with no policy at all', async () => {
    expect((await call('get', { id: ID })).status).toBe(200);
    expect((await call('cancel', { id: ID })).body).toEqual({ sessionId: ID, status: 'CANCELLING' });
  });

  it.each([
    ['get', 'read'],
    ['stop', 'stop'],
    ['cancel', 'cancel'],
    ['reupload', 'fetch'],
  ] as const)(
    'refuses %s to anyone else without a policy: 403 NOT_AUTHORIZED, nothing revealed',
    async (route, action) => {
      const { status, body } = await call(route, { id: ID, caller: BOB });

      expect(status).toBe(403);
      expect(body.error.code).toBe('NOT_AUTHORIZED');
      expect(body.error.message).toContain(`not yours to ${action}`);
      expect(JSON.stringify(body)).not.toMatch(/i-0abc|X-Amz-Signature|alice/);
      expect(s3).not.toHaveReceivedCommand(PutObjectCommand);
    },
  );

  it('lets another principal read when the policy permits read on the session’s task, and names the rule that refuses cancel', async () => {
    usePolicy(`@id("security-reads-payments")
permit (principal, action == DebugTask::Action::"read", resource)
when { principal.arn like "*:assumed-role/security/*" && resource.hasTag("team") && resource.getTag("team") == "payments" };`);

    const read = await call('get', { id: ID, caller: BOB });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ sessionId: ID, status: 'RUNNING' });
    const cancel = await call('cancel', { id: ID, caller: BOB });
    expect(cancel.status).toBe(403);
    expect(cancel.body.error).toMatchObject({
      code: 'NOT_AUTHORIZED',
      details: { action: 'cancel', rule: 'no permit applies' },
    });
    expect(s3).not.toHaveReceivedCommand(PutObjectCommand);
  });

  it('decides stop as its own action: a permit of cancel does not let anyone stop, a permit of stop does not let anyone cancel', async () => {
    usePolicy(`@id("oncall-stops-payments")
permit (principal, action == DebugTask::Action::"stop", resource)
when { principal.arn like "*:assumed-role/security/*" && resource.hasTag("team") && resource.getTag("team") == "payments" };`);

    const stop = await call('stop', { id: ID, caller: BOB });
    expect(stop.status).toBe(202);
    expect(stop.body).toEqual({ sessionId: ID, status: 'STOPPING' });
    const cancel = await call('cancel', { id: ID, caller: BOB });
    expect(cancel.status).toBe(403);
    expect(cancel.body.error).toMatchObject({ code: 'NOT_AUTHORIZED', details: { action: 'cancel' } });
    expect(s3).not.toHaveReceivedCommandWith(PutObjectCommand, { Key: `sessions/${ID}/cancel` });
  });

  it('a permit of cancel alone lets no one else stop', async () => {
    usePolicy(`@id("security-cancels")
permit (principal, action == DebugTask::Action::"cancel", resource);`);

    const { status, body } = await call('stop', { id: ID, caller: BOB });

    expect(status).toBe(403);
    expect(body.error).toMatchObject({
      code: 'NOT_AUTHORIZED',
      details: { action: 'stop', rule: 'no permit applies' },
    });
    expect(s3).not.toHaveReceivedCommand(PutObjectCommand);
  });

  it('decides on the tasks Plan resolved (their tags), not on what the request named', async () => {
    usePolicy(`@id("reads-team-search")
permit (principal, action == DebugTask::Action::"read", resource)
when { resource.hasTag("team") && resource.getTag("team") == "search" };`);

    const { status, body } = await call('get', { id: ID, caller: BOB });

    expect(status).toBe(403);
    expect(body.error.code).toBe('NOT_AUTHORIZED');
  });

  it('a forbid names its @id', async () => {
    usePolicy(`permit (principal, action, resource);
@id("nobody-cancels-payments")
forbid (principal, action == DebugTask::Action::"cancel", resource) when { resource.service == "payments" };`);

    const { body } = await call('cancel', { id: ID, caller: BOB });

    expect(body.error.code).toBe('NOT_AUTHORIZED');
    expect(body.error.message).toContain('forbid "nobody-cancels-payments"');
  });

  it('a session of another cluster is not found through this cluster’s routes, even for its owner', async () => {
    const { status, body } = await call('get', { id: ID, cluster: 'staging' });

    expect(status).toBe(404);
    expect(body.error.code).toBe('SESSION_NOT_FOUND');
    expect(sfn).not.toHaveReceivedCommand(GetExecutionHistoryCommand);
  });

  it('list shows the caller only what they may read; ?id= finds one session’s cluster', async () => {
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        { name: ID, status: 'RUNNING', executionArn: 'a', stateMachineArn: SM, startDate: new Date(0) },
      ],
    });
    sfn.on(DescribeExecutionCommand).resolves({ name: ID, input: OWNED, status: 'RUNNING' });

    expect((await call('list', { caller: BOB })).body.sessions).toEqual([]);
    expect((await call('list')).body.sessions).toHaveLength(1);
    expect((await call('list', { query: { id: `${ID}-0000` } })).body.sessions).toEqual([
      expect.objectContaining({ sessionId: `${ID}-0000`, cluster: 'prod' }),
    ]);
    expect((await call('list', { caller: BOB, query: { id: ID } })).body.sessions).toEqual([]);
    expect((await call('listCluster', { cluster: 'staging' })).body.sessions).toEqual([]);
  });

  it('a start whose body names another cluster or tool than its route is refused before anything starts', async () => {
    const otherCluster = await call('start', {
      cluster: 'staging',
      body: { target: { task: TASK }, tool: 'tcpdump' },
    });
    const otherTool = await call('start', {
      tool: 'ngrep',
      body: { target: { task: TASK }, tool: 'tcpdump' },
    });

    expect(otherCluster.status).toBe(400);
    expect(otherCluster.body.error.message).toMatch(
      /cluster "prod" but --cluster says "staging"|route is for cluster "staging"/,
    );
    expect(otherTool.body.error.message).toContain('its route is for tool "ngrep"');
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });
});

describe('a deployment policy that cannot be used', () => {
  it('denies (AWS_ERROR naming file:line:col for the operator), never falls back to no policy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'debug-task-policy-'));
    const file = join(dir, 'broken.cedar');
    writeFileSync(file, 'permit (principal, action, resource)\nwhen { resource.nope == 1 };');
    process.env.DEBUG_TASK_POLICY_FILE = file;
    sfn.on(DescribeExecutionCommand).resolves({ input: OWNED, status: 'RUNNING' });
    try {
      const { status, body } = await call('get', {
        id: ID,
        caller: 'arn:aws:iam::123456789012:user/mallory',
      });

      expect(status).toBe(502);
      expect(body.error.code).toBe('AWS_ERROR');
      expect(body.error.message).toMatch(/broken\.cedar:2:\d+: .*nope/);
    } finally {
      delete process.env.DEBUG_TASK_POLICY_FILE;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a trigger's session, without a deployment policy", () => {
  const BOB = 'arn:aws:sts::123456789012:assumed-role/oncall/bob';
  const RULE = 'arn:aws:events:xx-test-1:123456789012:rule/DebugTask-TriggersOnAlarm-1AB2C3';
  beforeEach(() => {
    delete process.env.DEBUG_TASK_POLICY_FILE;
    const triggered = JSON.stringify({
      sessionId: ID,
      caller: RULE,
      trigger: 'on-alarm',
      spec: { target: { task: TASK, cluster: 'prod' }, tool: 'tcpdump', ring: { seconds: 60 } },
    });
    sfn
      .on(DescribeExecutionCommand)
      .resolves({ input: triggered, status: 'RUNNING', executionArn: `${SM}:${ID}` });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    s3.on(PutObjectCommand).resolves({});
    s3.on(GetObjectCommand).rejects(noSuchKey());
  });

  it('is the deployment’s: anyone IAM lets onto its cluster reads it and stops it (keeping the capture)', async () => {
    expect((await call('get', { id: ID, caller: BOB })).status).toBe(200);
    expect((await call('stop', { id: ID, caller: BOB })).body).toEqual({ sessionId: ID, status: 'STOPPING' });
  });

  it('is cancelled (its evidence discarded) by nobody but its trigger', async () => {
    const cancel = await call('cancel', { id: ID, caller: BOB });

    expect(cancel.status).toBe(403);
    expect(cancel.body.error.code).toBe('NOT_AUTHORIZED');
    expect(s3).not.toHaveReceivedCommand(PutObjectCommand);
  });
});
