import 'aws-sdk-client-mock-jest';
import { S3Client } from '@aws-sdk/client-s3';
import { InvalidInstanceId, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { AssumeRoleCommand, STSClient, STSServiceException } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { HOST_PARAMS, isValidHostParam } from '../../../lib/domain/params';
import { commandParameters } from '../../../lib/host/runner-script';
import { resetStepClients } from '../../../lib/steps/clients';
import { auditValue, launchSession, type LaunchState } from '../../../lib/steps/launch';
import {
  BUCKET,
  DOCUMENT,
  IMAGE,
  INSTANCE_ID,
  RUNTIME_ID,
  SESSION_ID,
  caught,
  executionInput,
  target,
  withEnv,
} from './fixtures';

const ssm = mockClient(SSMClient);
const sts = mockClient(STSClient);
mockClient(S3Client); // presigning sends nothing; this only guarantees nothing else does

const NOW_MS = Date.parse('2025-01-01T12:00:10.000Z');
const NOW = NOW_MS / 1000;
const COMMAND_ID = '11111111-2222-3333-4444-555555555555';
const state: LaunchState = { ...executionInput({ durationSeconds: 60 }), target };
const UPLOAD_ROLE_ARN = 'arn:aws:iam::123456789012:role/DebugTask-UploadRole2F1F88CA-AbCdEf';
const ARTIFACT_KEY = `sessions/${SESSION_ID}/artifact.pcap.gz`;
/** The upload role's session, as STS returns it: not the function's own (AKIATESTFAKE..., no token). */
const ASSUMED = {
  AccessKeyId: 'ASIAUPLOADSESSION001',
  SecretAccessKey: 'upload-session-secret-not-real',
  // The shape of a real token: base64 with + / =, which the URL carries percent-encoded.
  SessionToken: `IQoJb3JpZ2luX2VjEXAMPLE+/=${'Ab9+/'.repeat(200)}==`,
  Expiration: new Date(NOW_MS + 3600_000),
};

let restoreEnv: () => void;

beforeEach(() => {
  ssm.reset();
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: COMMAND_ID } });
  sts.reset();
  sts.on(AssumeRoleCommand).resolves({ Credentials: ASSUMED });
  resetStepClients();
  restoreEnv = withEnv({
    BUCKET_NAME: BUCKET,
    DOCUMENT_NAME: DOCUMENT,
    TOOLBOX_IMAGE: IMAGE,
    UPLOAD_ROLE_ARN,
    GRACE_SECONDS: '30',
    HOST_CPUS: '1',
    HOST_MEMORY_MB: '512',
    HOST_PIDS_LIMIT: undefined,
    HOST_MAX_SESSIONS: '3',
    AWS_S3_FORCE_PATH_STYLE: undefined,
  });
});

afterEach(() => {
  restoreEnv();
  resetStepClients();
});

function sent() {
  return ssm.commandCalls(SendCommandCommand)[0].args[0].input;
}

function assumed() {
  return sts.commandCalls(AssumeRoleCommand)[0].args[0].input;
}

function sessionPolicyOf(policy: string | undefined) {
  return JSON.parse(policy ?? 'null') as {
    Version: string;
    Statement: Array<{ Effect: string; Action: string | string[]; Resource: string | string[] }>;
  };
}

function uploadUrlOf(parameters: Record<string, string[]> | undefined): URL {
  const url = Object.values(parameters ?? {})
    .flat()
    .find((value) => value.startsWith('https://'));
  if (!url) throw new Error('no upload URL among the SendCommand parameters');
  return new URL(url);
}

describe('launchSession', () => {
  it('returns the command, the object key and the session deadlines', async () => {
    const launch = await launchSession(state, { now: () => NOW_MS });

    expect(launch).toEqual({
      commandId: COMMAND_ID,
      instanceId: INSTANCE_ID,
      bucket: BUCKET,
      objectKey: `sessions/${SESSION_ID}/artifact.pcap.gz`,
      startedAt: '2025-01-01T12:00:10.000Z',
      expiresAt: NOW + 60 + 30,
      deadline: NOW + 60 + 30 + 120,
    });
  });

  it('sends our document, latest version, to the one instance, with a delivery timeout and the session in the comment', async () => {
    await launchSession(state, { now: () => NOW_MS });

    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    expect(sent()).toMatchObject({
      DocumentName: DOCUMENT,
      DocumentVersion: '$LATEST',
      InstanceIds: [INSTANCE_ID],
      TimeoutSeconds: 60,
      Comment: `debug-task ${SESSION_ID}`,
    });
  });

  it('passes every host parameter as a string: session, container, tool, limits, image, URL and time boxes', async () => {
    await launchSession(state, { now: () => NOW_MS });

    const input = sent();
    const uploadUrl = uploadUrlOf(input.Parameters).toString();
    expect(input.Parameters).toEqual(
      commandParameters({
        action: 'run',
        sessionId: SESSION_ID,
        containerId: RUNTIME_ID,
        tool: 'tcpdump',
        durationSeconds: '60',
        maxBytes: '100000000',
        filter: 'tcp port 443',
        iface: '',
        snaplen: '262144',
        allowHostNetwork: 'false',
        allowHostPid: 'false',
        image: IMAGE,
        uploadUrl,
        expiresAt: String(NOW + 90),
        cpus: '1',
        memoryMb: '512',
        pidsLimit: '64',
        maxSessions: '3',
        caller: `arn:aws:sts::123456789012:assumed-role/oncall/alice`,
        reason: 'INC-42 TLS resets',
        executionTimeout: String(60 + 30 + 60),
      }),
    );
  });

  it('passes who asked and why for the toolbox container’s audit labels, leaving out an absent reason', async () => {
    await launchSession(
      { ...state, caller: 'arn:aws:iam::123456789012:user/bob', spec: { ...state.spec, reason: undefined } },
      { now: () => NOW_MS },
    );

    expect(sent().Parameters).toMatchObject({ caller: ['arn:aws:iam::123456789012:user/bob'] });
    expect(sent().Parameters?.reason).toBeUndefined(); // SSM applies the default, ''
  });

  it.each([
    [
      'an ARN, as is',
      'arn:aws:sts::123456789012:assumed-role/a.b@c=d,e+f/s-1_2',
      'arn:aws:sts::123456789012:assumed-role/a.b@c=d,e+f/s-1_2',
    ],
    ['nothing, as nothing', '', ''],
    ['other characters, as _', 'arn:aws:iam::1:user/x y"$(id)', 'arn:aws:iam::1:user/x_y___id_'],
    ['too long a value, cut', `arn:${'a'.repeat(400)}`, `arn:${'a'.repeat(252)}`],
  ])('makes the caller fit its host parameter: %s', (_label, caller, expected) => {
    expect(auditValue('caller', caller)).toBe(expected);
    expect(isValidHostParam('caller', auditValue('caller', caller))).toBe(true);
  });

  it('makes a reason the API would refuse fit too (an execution started some other way), rather than fail the launch', async () => {
    const reason = `it's "broken"; see $URL\n${'x'.repeat(300)}`;

    await launchSession({ ...state, spec: { ...state.spec, reason } }, { now: () => NOW_MS });

    const sentReason = sent().Parameters?.reason?.[0] ?? '';
    expect(sentReason.startsWith('it_s _broken__ see _URL_xxx')).toBe(true);
    expect(sentReason).toHaveLength(200);
    expect(isValidHostParam('reason', sentReason)).toBe(true);
  });

  it.each([
    ['true when the session asked for the host network', true, 'true'],
    ['false when it did not', false, 'false'],
    ['false for an execution started before the field existed', undefined, 'false'],
  ])('passes allowHostNetwork %s', async (_label, allowHostNetwork, expected) => {
    await launchSession(
      { ...state, spec: { ...state.spec, allowHostNetwork: allowHostNetwork as boolean } },
      { now: () => NOW_MS },
    );

    expect(sent().Parameters?.allowHostNetwork).toEqual([expected]);
    expect(isValidHostParam('allowHostNetwork', expected)).toBe(true);
  });

  it.each([
    ['the string "true"', 'true'],
    ['1', 1],
    ['null', null],
  ])('refuses allowHostNetwork given as %s in the state, before any call', async (_label, value) => {
    const error = await caught(() =>
      launchSession(
        { ...state, spec: { ...state.spec, allowHostNetwork: value as unknown as boolean } },
        { now: () => NOW_MS },
      ),
    );

    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'spec.allowHostNetwork' } });
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 0);
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });

  it('presigns a PUT of the artifact key, signing only the host header, with no checksum parameters', async () => {
    await launchSession(state, { now: () => NOW_MS });

    const url = uploadUrlOf(sent().Parameters);
    expect(url.hostname).toBe(`${BUCKET}.s3.xx-test-1.amazonaws.com`);
    expect(url.pathname).toBe(`/sessions/${SESSION_ID}/artifact.pcap.gz`);
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host');
    const names = [...url.searchParams.keys()].map((name) => name.toLowerCase());
    expect(
      names.filter((name) => name.startsWith('x-amz-checksum') || name.startsWith('x-amz-sdk-checksum')),
    ).toEqual([]);
    expect(isValidHostParam('uploadUrl', url.toString())).toBe(true);
  });

  it('lets the URL outlive the session: duration + grace + 900 s, signed at launch time', async () => {
    await launchSession(state, { now: () => NOW_MS });

    const url = uploadUrlOf(sent().Parameters);
    expect(url.searchParams.get('X-Amz-Expires')).toBe(String(60 + 30 + 900));
    expect(url.searchParams.get('X-Amz-Date')).toBe('20250101T120010Z');
  });

  describe('the upload role', () => {
    it('is assumed once per session, before SendCommand, named after the session, for duration + grace + 900 s', async () => {
      await launchSession(state, { now: () => NOW_MS });

      expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 1);
      expect(assumed()).toMatchObject({
        RoleArn: UPLOAD_ROLE_ARN,
        RoleSessionName: SESSION_ID,
        DurationSeconds: 60 + 30 + 900,
      });
      expect(assumed().RoleSessionName).toMatch(/^[\w+=,.@-]{2,64}$/);
      // No session tags: the trust policy grants sts:AssumeRole only, not sts:TagSession.
      expect(assumed().Tags).toBeUndefined();
      expect(assumed().TransitiveTagKeys).toBeUndefined();
      expect(
        sts.commandCalls(AssumeRoleCommand)[0].calledBefore(ssm.commandCalls(SendCommandCommand)[0]),
      ).toBe(true);
    });

    it("is narrowed by a session policy to s3:PutObject on exactly this session's artifact key", async () => {
      await launchSession(state, { now: () => NOW_MS });

      const policy = sessionPolicyOf(assumed().Policy);
      expect(policy).toEqual({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 's3:PutObject', Resource: `arn:aws:s3:::${BUCKET}/${ARTIFACT_KEY}` },
        ],
      });
      expect(policy.Statement[0].Resource).not.toMatch(/[*?]/);
    });

    it('takes the partition of the session policy from the role ARN (aws-cn, aws-us-gov)', async () => {
      process.env.UPLOAD_ROLE_ARN = 'arn:aws-cn:iam::123456789012:role/upload';

      await launchSession(state, { now: () => NOW_MS });

      expect(sessionPolicyOf(assumed().Policy).Statement[0].Resource).toBe(
        `arn:aws-cn:s3:::${BUCKET}/${ARTIFACT_KEY}`,
      );
    });

    it('is asked for at most the role-chaining hour, however long the grace', async () => {
      process.env.GRACE_SECONDS = '3000';

      await launchSession({ ...state, spec: { ...state.spec, durationSeconds: 900 } }, { now: () => NOW_MS });

      expect(assumed().DurationSeconds).toBe(3600);
      // The URL then lives as long as the credentials, not the 900 + 3000 + 900 s it would like.
      expect(uploadUrlOf(sent().Parameters).searchParams.get('X-Amz-Expires')).toBe('3600');
    });

    it('signs the URL: the assumed access key in X-Amz-Credential, the assumed session token in X-Amz-Security-Token', async () => {
      await launchSession(state, { now: () => NOW_MS });

      const url = uploadUrlOf(sent().Parameters);
      expect(url.searchParams.get('X-Amz-Credential')).toBe(
        `${ASSUMED.AccessKeyId}/20250101/xx-test-1/s3/aws4_request`,
      );
      expect(url.searchParams.get('X-Amz-Security-Token')).toBe(ASSUMED.SessionToken);
      expect(url.toString()).not.toContain(process.env.AWS_ACCESS_KEY_ID);
    });

    it("never signs with the function's own session (its token stays out of the URL)", async () => {
      const restore = withEnv({ AWS_SESSION_TOKEN: 'FUNCTION-OWN-SESSION-TOKEN' });
      try {
        await launchSession(state, { now: () => NOW_MS });
      } finally {
        restore();
      }

      const url = uploadUrlOf(sent().Parameters);
      expect(url.toString()).not.toContain('FUNCTION-OWN-SESSION-TOKEN');
      expect(url.searchParams.get('X-Amz-Security-Token')).toBe(ASSUMED.SessionToken);
    });

    it("keeps the URL within the credentials' lifetime when they expire before duration + grace + 900 s", async () => {
      const expiration = new Date(NOW_MS + 600_000 + 999);
      sts.on(AssumeRoleCommand).resolves({ Credentials: { ...ASSUMED, Expiration: expiration } });

      await launchSession(state, { now: () => NOW_MS });

      const url = uploadUrlOf(sent().Parameters);
      const expiresIn = Number(url.searchParams.get('X-Amz-Expires'));
      expect(expiresIn).toBe(600);
      expect(NOW_MS + expiresIn * 1000).toBeLessThanOrEqual(expiration.getTime());
    });

    it('refuses credentials that would die before the capture ends, and sends nothing', async () => {
      sts
        .on(AssumeRoleCommand)
        .resolves({ Credentials: { ...ASSUMED, Expiration: new Date(NOW_MS + 30_000) } });

      const error = await caught(() => launchSession(state, { now: () => NOW_MS }));

      expect(error).toMatchObject({ code: 'AWS_ERROR', message: expect.stringContaining('expire in 30 s') });
      expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
    });

    it('throws AWS_ERROR naming sts:AssumeRole, with a hint about the trust policy, when access is denied; sends nothing', async () => {
      sts.on(AssumeRoleCommand).rejects(
        new STSServiceException({
          name: 'AccessDenied',
          message:
            'User: arn:aws:sts::123456789012:assumed-role/launch/fn is not authorized to perform: sts:AssumeRole',
          $fault: 'client',
          $metadata: { httpStatusCode: 403, requestId: 'req-1' },
        }),
      );

      const error = await caught(() => launchSession(state, { now: () => NOW_MS }));

      expect(error).toMatchObject({
        code: 'AWS_ERROR',
        message: expect.stringMatching(/^sts:AssumeRole failed: AccessDenied: User: .* is not authorized/),
        hint: expect.stringContaining('UPLOAD_ROLE_ARN'),
        details: { call: 'sts:AssumeRole', awsError: 'AccessDenied', httpStatus: 403, requestId: 'req-1' },
      });
      expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
    });

    it('throws AWS_ERROR naming sts:AssumeRole for any other STS error', async () => {
      sts.on(AssumeRoleCommand).rejects(
        Object.assign(
          new Error('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.'),
          {
            name: 'ValidationError',
          },
        ),
      );

      const error = await caught(() => launchSession(state, { now: () => NOW_MS }));

      expect(error).toMatchObject({
        code: 'AWS_ERROR',
        message: expect.stringMatching(/^sts:AssumeRole failed: ValidationError: /),
      });
      expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
    });

    it('throws AWS_ERROR when STS answers without credentials', async () => {
      sts.on(AssumeRoleCommand).resolves({});

      const error = await caught(() => launchSession(state, { now: () => NOW_MS }));

      expect(error).toMatchObject({ code: 'AWS_ERROR', message: expect.stringContaining('no credentials') });
    });

    it('names UPLOAD_ROLE_ARN and calls nothing when it is not set', async () => {
      delete process.env.UPLOAD_ROLE_ARN;

      const error = await caught(() => launchSession(state));

      expect(error).toMatchObject({ code: 'AWS_ERROR', message: expect.stringContaining('UPLOAD_ROLE_ARN') });
      expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 0);
      expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
    });

    it('names UPLOAD_ROLE_ARN when it is not a role ARN', async () => {
      process.env.UPLOAD_ROLE_ARN = 'arn:aws:s3:::not-a-role';

      const error = await caught(() => launchSession(state));

      expect(error).toMatchObject({ code: 'AWS_ERROR', message: expect.stringContaining('UPLOAD_ROLE_ARN') });
      expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 0);
    });

    it('checks every host value before it: a state SSM would refuse costs no AssumeRole', async () => {
      const bad: LaunchState = {
        ...state,
        target: { ...target, container: { ...target.container, runtimeId: 'not-a-docker-id' } },
      };

      const error = await caught(() => launchSession(bad, { now: () => NOW_MS }));

      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { parameter: 'containerId' } });
      expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 0);
      expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
    });

    it('refuses a session id SSM (and STS) would refuse, before any call', async () => {
      const error = await caught(() => launchSession({ ...state, sessionId: 'dt bad id' }));

      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 0);
      expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
    });
  });

  it('produces an upload URL the SSM document accepts with a long session token, the longest bucket name and region', async () => {
    // 2,800 characters of base64 (real tokens of a role session with a small session policy are
    // around 1,000 to 1,500), its + and / percent-encoded in the URL as they would be.
    const token = Buffer.from(Array.from({ length: 2100 }, (_, i) => (i * 131 + 7) % 256)).toString('base64');
    expect(token).toHaveLength(2800);
    expect(token).toMatch(/[+/]/);
    sts.on(AssumeRoleCommand).resolves({ Credentials: { ...ASSUMED, SessionToken: token } });
    const bucket = `b${'x'.repeat(61)}z`; // 63, S3's longest
    const restore = withEnv({ BUCKET_NAME: bucket, AWS_REGION: 'ap-southeast-5' });
    try {
      await launchSession(state, { now: () => NOW_MS });
    } finally {
      restore();
    }

    const url = uploadUrlOf(sent().Parameters).toString();
    expect(new URL(url).searchParams.get('X-Amz-Security-Token')).toBe(token);
    expect(isValidHostParam('uploadUrl', url)).toBe(true);
    expect(url.length).toBeLessThanOrEqual(HOST_PARAMS.uploadUrl.maxChars);
  });

  it('uses path-style URLs when AWS_S3_FORCE_PATH_STYLE is true (S3-compatible stand-ins)', async () => {
    process.env.AWS_S3_FORCE_PATH_STYLE = 'true';

    await launchSession(state, { now: () => NOW_MS });

    const url = uploadUrlOf(sent().Parameters);
    expect(url.pathname).toBe(`/${BUCKET}/sessions/${SESSION_ID}/artifact.pcap.gz`);
  });

  it('names the artifact after the tool, e.g. .txt.gz for strace', async () => {
    const launch = await launchSession(
      { ...state, spec: { ...state.spec, tool: 'strace', filter: '' } },
      { now: () => NOW_MS },
    );

    expect(launch.objectKey).toBe(`sessions/${SESSION_ID}/artifact.txt.gz`);
  });

  it('names the missing variable and sends nothing when BUCKET_NAME is not set', async () => {
    delete process.env.BUCKET_NAME;

    const error = await caught(() => launchSession(state));

    expect(error.message).toContain('BUCKET_NAME');
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });

  it('throws SSM_AGENT_OFFLINE when SSM says the instance cannot take commands (InvalidInstanceId)', async () => {
    ssm
      .on(SendCommandCommand)
      .rejects(new InvalidInstanceId({ message: 'Instances not in a valid state', $metadata: {} }));

    const error = await caught(() => launchSession(state, { now: () => NOW_MS }));

    expect(error).toMatchObject({ code: 'SSM_AGENT_OFFLINE', details: { instanceId: INSTANCE_ID } });
  });

  it('throws AWS_ERROR naming ssm:SendCommand for any other SSM error', async () => {
    ssm
      .on(SendCommandCommand)
      .rejects(Object.assign(new Error('Document not found'), { name: 'InvalidDocument' }));

    const error = await caught(() => launchSession(state, { now: () => NOW_MS }));

    expect(error).toMatchObject({
      code: 'AWS_ERROR',
      message: 'ssm:SendCommand failed: InvalidDocument: Document not found',
    });
  });
});
