import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { AssumeRoleCommand, STSClient, STSServiceException } from '@aws-sdk/client-sts';
import type { APIGatewayProxyEventV2WithIAMAuthorizer } from 'aws-lambda';
import { handleApiRequest } from '../../../lib/api/routes';
import { DebugTaskError, toStepFunctionsError, type ErrorCode } from '../../../lib/domain/errors';
import type { ExecutionInput, RunnerManifest } from '../../../lib/domain/session';
import { resetStepClients } from '../../../lib/steps/clients';

const sfn = mockClient(SFNClient);
const s3 = mockClient(S3Client);
const ssm = mockClient(SSMClient);
const sts = mockClient(STSClient);

const SM = 'arn:aws:states:xx-test-1:123456789012:stateMachine:DebugTaskSessions';
const TASK = 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef';
const CLUSTER = 'arn:aws:ecs:xx-test-1:123456789012:cluster/prod';
const CALLER = 'arn:aws:iam::123456789012:user/alice';
const ID = 'dt-20261125123456-a1b2c3';
const INSTANCE = 'i-0abc123def4567890';
const BUCKET = 'artifacts';
const KEY = `sessions/${ID}/artifact.pcap.gz`;
const HOST_PATH = `/var/lib/debug-task/${ID}/artifact.pcap.gz`;
const COMMAND_ID = '11111111-2222-3333-4444-555555555555';
const UPLOAD_ROLE_ARN = 'arn:aws:iam::123456789012:role/DebugTask-UploadRole-AbCdEf';
const NOW_MS = Date.now();
const ASSUMED = {
  AccessKeyId: 'ASIAREUPLOADSESSION1',
  SecretAccessKey: 'reupload-session-secret-not-real',
  SessionToken: `IQoJb3JpZ2luX2VjEXAMPLE+/=${'Ab9+/'.repeat(100)}==`,
  Expiration: new Date(NOW_MS + 3600_000),
};

const input: ExecutionInput = {
  sessionId: ID,
  spec: {
    target: { task: TASK },
    tool: 'tcpdump',
    durationSeconds: 30,
    maxBytes: 1000,
    filter: '',
    iface: '',
    snaplen: 262144,
    allowHostNetwork: false,
    allowHostPid: false,
  },
  requestedAt: '2026-11-25T12:34:56.000Z',
  caller: CALLER,
};

/** A failed execution as Step Functions reports it, with the error Collect raised. */
function failedWith(code: ErrorCode, details: Record<string, unknown> = {}) {
  const carried = toStepFunctionsError(new DebugTaskError(code, `${code} happened`, { details }));
  return {
    status: 'FAILED' as const,
    input: JSON.stringify(input),
    error: code,
    cause: JSON.stringify({ errorType: code, errorMessage: carried.message }),
  };
}

const uploadFailed = () =>
  failedWith('UPLOAD_FAILED', {
    instanceId: INSTANCE,
    hostPath: HOST_PATH,
    objectKey: KEY,
    taskArn: TASK,
    clusterArn: CLUSTER,
    container: 'web',
  });

function manifest(overrides: Partial<RunnerManifest> = {}): RunnerManifest {
  return {
    v: 1,
    sessionId: ID,
    status: 'OK',
    action: 'reupload',
    tool: { name: 'tcpdump', exitCode: null },
    artifact: {
      format: 'pcap',
      compression: 'gzip',
      bytes: 2000,
      sha256: 'a'.repeat(64),
      objectBytes: 700,
      objectSha256: 'b'.repeat(64),
      linkType: 'EN10MB',
      truncated: false,
      uploaded: true,
    },
    timings: { startedAt: 1, endedAt: 2 },
    ...overrides,
  };
}

function event(routeKey: string, params: Record<string, string>): APIGatewayProxyEventV2WithIAMAuthorizer {
  return {
    routeKey,
    isBase64Encoded: false,
    pathParameters: params,
    requestContext: { authorizer: { iam: { userArn: CALLER } } },
  } as unknown as APIGatewayProxyEventV2WithIAMAuthorizer;
}

async function post(id = ID) {
  const res = await handleApiRequest(event('POST /sessions/{id}/reupload', { id }));
  return { status: res.statusCode, body: JSON.parse(res.body ?? '{}') };
}

async function get(commandId = COMMAND_ID) {
  const res = await handleApiRequest(event('GET /sessions/{id}/reupload/{commandId}', { id: ID, commandId }));
  return { status: res.statusCode, body: JSON.parse(res.body ?? '{}') };
}

const noRecord = () => Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' });

beforeAll(() => {
  process.env.STATE_MACHINE_ARN = SM;
  process.env.BUCKET_NAME = BUCKET;
  process.env.DOCUMENT_NAME = 'DebugTask-Runner';
  process.env.UPLOAD_ROLE_ARN = UPLOAD_ROLE_ARN;
});
afterAll(() => {
  delete process.env.DOCUMENT_NAME;
  delete process.env.UPLOAD_ROLE_ARN;
});
beforeEach(() => {
  for (const mock of [sfn, s3, ssm, sts]) mock.reset();
  resetStepClients();
  sfn.on(DescribeExecutionCommand).resolves(uploadFailed());
  s3.on(GetObjectCommand).rejects(noRecord());
  sts.on(AssumeRoleCommand).resolves({ Credentials: ASSUMED });
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: COMMAND_ID } });
});

describe('POST /sessions/{id}/reupload', () => {
  it('sends action=reupload to the host that keeps the artifact, with a fresh one-key URL of the upload role', async () => {
    const { status, body } = await post();

    expect(status).toBe(202);
    expect(body).toEqual({ sessionId: ID, commandId: COMMAND_ID, instanceId: INSTANCE, status: 'RUNNING' });
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 1);
    const assumed = sts.commandCalls(AssumeRoleCommand)[0].args[0].input;
    expect(assumed).toMatchObject({ RoleArn: UPLOAD_ROLE_ARN, RoleSessionName: ID, DurationSeconds: 3600 });
    expect(JSON.parse(assumed.Policy!)).toEqual({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 's3:PutObject', Resource: `arn:aws:s3:::${BUCKET}/${KEY}` }],
    });
    const sent = ssm.commandCalls(SendCommandCommand)[0].args[0].input;
    expect(sent).toMatchObject({
      DocumentName: 'DebugTask-Runner',
      DocumentVersion: '$LATEST',
      InstanceIds: [INSTANCE],
      Comment: `debug-task reupload ${ID}`,
    });
    expect(sent.Parameters).toMatchObject({
      action: ['reupload'],
      sessionId: [ID],
      tool: ['tcpdump'],
      caller: [CALLER],
    });
    const url = new URL(sent.Parameters!.uploadUrl[0]);
    expect(url.pathname).toContain(`/${KEY}`);
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^ASIAREUPLOADSESSION1\//);
    expect(url.searchParams.get('X-Amz-Security-Token')).toBe(ASSUMED.SessionToken);
    expect(Number(url.searchParams.get('X-Amz-Expires'))).toBeGreaterThan(900);
    expect(Number(url.searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(3600);
    // Nothing else: no execution started, nothing written.
    expect(sfn).toHaveReceivedCommandTimes(StartExecutionCommand, 0);
    expect(s3).toHaveReceivedCommandTimes(PutObjectCommand, 0);
  });

  it('answers SUCCEEDED at once, sending nothing, when the artifact was already re-uploaded', async () => {
    const record = {
      kind: 'reupload',
      reupload: { commandId: COMMAND_ID },
      result: { artifact: { key: KEY } },
    };
    s3.on(GetObjectCommand).resolves({
      Body: { transformToString: async () => JSON.stringify(record) },
    } as never);

    const { status, body } = await post();

    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'SUCCEEDED', commandId: COMMAND_ID, result: record.result });
    expect(body.downloadUrl).toContain(KEY);
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 0);
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });

  it.each([
    [
      'a SUCCEEDED session (just fetch it)',
      { status: 'SUCCEEDED', input: JSON.stringify(input) },
      /SUCCEEDED/,
      /fetch/,
    ],
    ['a running session', { status: 'RUNNING', input: JSON.stringify(input) }, /still running/, /status/],
    [
      'a session that failed otherwise',
      failedWith('HOST_BUSY', { instanceId: INSTANCE }),
      /HOST_BUSY, not UPLOAD_FAILED/,
      /./,
    ],
    [
      'an UPLOAD_FAILED with no kept artifact (S3 disagreed with the host)',
      failedWith('UPLOAD_FAILED', { bucket: BUCKET, key: KEY }),
      /no kept artifact/,
      /run the capture again/,
    ],
    ['a timed-out session', { status: 'TIMED_OUT', input: JSON.stringify(input) }, /TIMED_OUT/, /again/],
  ])('refuses %s with 400 INVALID_ARGUMENT saying why', async (_, execution, message, hint) => {
    sfn.on(DescribeExecutionCommand).resolves(execution as never);

    const { status, body } = await post();

    expect(status).toBe(400);
    expect(body.error.code).toBe('INVALID_ARGUMENT');
    expect(body.error.message).toMatch(new RegExp(`^Session ${ID} cannot be re-uploaded: `));
    expect(body.error.message).toMatch(message);
    expect(body.error.hint).toMatch(hint);
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 0);
  });

  it('refuses a kept path that is not the session artifact', async () => {
    sfn
      .on(DescribeExecutionCommand)
      .resolves(failedWith('UPLOAD_FAILED', { instanceId: INSTANCE, hostPath: '/etc/shadow' }));

    const { status, body } = await post();

    expect(status).toBe(400);
    expect(body.error.message).toContain('unexpected kept path');
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });

  it('refuses a malformed session id with 400 INVALID_ARGUMENT, before any call', async () => {
    const { status, body } = await post('not-a-session; rm -rf /');

    expect(status).toBe(400);
    expect(body.error.code).toBe('INVALID_ARGUMENT');
    expect(sfn).toHaveReceivedCommandTimes(DescribeExecutionCommand, 0);
  });

  it('reports an AssumeRole refusal as AWS_ERROR naming the trust policy, sending nothing', async () => {
    sts.on(AssumeRoleCommand).rejects(
      new STSServiceException({
        name: 'AccessDenied',
        message: 'not authorized to perform: sts:AssumeRole',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
      }),
    );

    const { status, body } = await post();

    expect(status).toBe(502);
    expect(body.error.code).toBe('AWS_ERROR');
    expect(body.error.message).toContain('sts:AssumeRole failed: AccessDenied');
    expect(body.error.hint).toContain('api for a re-upload');
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });
});

describe('GET /sessions/{id}/reupload/{commandId}', () => {
  const invocation = (status: string, stdout = '', responseCode?: number) =>
    ssm.on(GetCommandInvocationCommand).resolves({
      Status: status,
      StatusDetails: status,
      StandardOutputContent: stdout,
      StandardErrorContent: '',
      ...(responseCode !== undefined && { ResponseCode: responseCode }),
    } as never);

  it('answers RUNNING while the command runs (and while SSM does not know it yet)', async () => {
    invocation('InProgress');
    expect(await get()).toEqual({
      status: 200,
      body: {
        sessionId: ID,
        commandId: COMMAND_ID,
        instanceId: INSTANCE,
        status: 'RUNNING',
        ssmStatus: 'InProgress',
      },
    });
    expect(ssm.commandCalls(GetCommandInvocationCommand)[0].args[0].input).toEqual({
      CommandId: COMMAND_ID,
      InstanceId: INSTANCE,
      PluginName: 'runDebugTask',
    });

    ssm
      .on(GetCommandInvocationCommand)
      .rejects(Object.assign(new Error('no'), { name: 'InvocationDoesNotExist' }));
    expect((await get()).body).toMatchObject({ status: 'RUNNING', ssmStatus: 'Pending' });
  });

  it('checks the object, writes the audit record and answers the result with a download URL', async () => {
    invocation('Success', `progress\n${JSON.stringify(manifest())}\n`, 0);
    s3.on(HeadObjectCommand).resolves({ ContentLength: 700 });
    s3.on(PutObjectCommand).resolves({});

    const { status, body } = await get();

    expect(status).toBe(200);
    expect(body).toMatchObject({
      sessionId: ID,
      commandId: COMMAND_ID,
      status: 'SUCCEEDED',
      result: {
        sessionId: ID,
        status: 'SUCCEEDED',
        target: { taskArn: TASK, clusterArn: CLUSTER, container: 'web', instanceId: INSTANCE },
        tool: { name: 'tcpdump' },
        artifact: {
          s3Uri: `s3://${BUCKET}/${KEY}`,
          key: KEY,
          bytes: 2000,
          sha256: 'a'.repeat(64),
          objectBytes: 700,
          objectSha256: 'b'.repeat(64),
          linkType: 'EN10MB',
        },
      },
    });
    expect(new URL(body.downloadUrl).pathname).toContain(KEY);
    expect(s3.commandCalls(HeadObjectCommand)[0].args[0].input).toEqual({ Bucket: BUCKET, Key: KEY });
    const record = s3.commandCalls(PutObjectCommand)[0].args[0].input;
    expect(record.Key).toBe(`sessions/${ID}/manifest.json`);
    expect(JSON.parse(record.Body as string)).toMatchObject({
      kind: 'reupload',
      reupload: { commandId: COMMAND_ID, instanceId: INSTANCE, hostPath: HOST_PATH },
      reuploadedBy: CALLER,
    });
  });

  it('fails with UPLOAD_FAILED when S3 does not hold what the host says it sent', async () => {
    invocation('Success', JSON.stringify(manifest()), 0);
    s3.on(HeadObjectCommand).resolves({ ContentLength: 12 });

    const { status, body } = await get();

    expect(status).toBe(502);
    expect(body.error).toMatchObject({ code: 'UPLOAD_FAILED' });
    expect(body.error.message).toContain('has 12 bytes, but the runner uploaded 700');
    expect(s3).toHaveReceivedCommandTimes(PutObjectCommand, 0);
  });

  it("passes the host's ARTIFACT_NOT_ON_HOST on as 410", async () => {
    const message = 'No artifact of session ... is kept on this host: it is gone.';
    invocation(
      'Failed',
      JSON.stringify(
        manifest({ status: 'FAILED', error: { code: 'ARTIFACT_NOT_ON_HOST', message }, artifact: undefined }),
      ),
      4,
    );

    const { status, body } = await get();

    expect(status).toBe(410);
    expect(body.error).toMatchObject({ code: 'ARTIFACT_NOT_ON_HOST', message });
  });

  it('says a failed re-upload still keeps the artifact, and how to try again', async () => {
    const failed = manifest({
      status: 'UPLOAD_FAILED',
      error: { code: 'UPLOAD_FAILED', message: 'The re-upload to http://s3/x failed 5 times' },
    });
    invocation('Failed', JSON.stringify(failed), 4);

    const { body } = await get();

    expect(body.error.code).toBe('UPLOAD_FAILED');
    expect(body.error.hint).toContain(`debug-task fetch ${ID}`);
    expect(body.error.details).toMatchObject({ instanceId: INSTANCE, hostPath: HOST_PATH });
  });

  it('refuses a command id that is not one, before any call', async () => {
    const { status, body } = await get('../../etc');

    expect(status).toBe(400);
    expect(body.error.code).toBe('INVALID_ARGUMENT');
    expect(sfn).toHaveReceivedCommandTimes(DescribeExecutionCommand, 0);
  });
});
