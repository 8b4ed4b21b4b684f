import { AssumeRoleCommand, STSServiceException } from '@aws-sdk/client-sts';
import * as s3 from '../../../lib/aws/s3';
import { HOST_PARAMS, isValidHostParam } from '../../../lib/domain/params';
import {
  assumeUploadRole,
  presignUpload,
  uploadPresigner,
  urlLifetime,
  type UploadRoleRequest,
} from '../../../lib/session/upload';
import { FAKE, aws, useAwsMocks, withEnv } from '../../support/aws';
import { BUCKET, SESSION_ID, caught } from '../../support/fixtures';

useAwsMocks();

const NOW_MS = Date.parse('2025-01-01T12:00:10.000Z');
const KEY = `sessions/${SESSION_ID}/children/${SESSION_ID}-0000/artifact.pcap.gz`;
const request: UploadRoleRequest = {
  roleArn: FAKE.uploadRoleArn,
  sessionId: SESSION_ID,
  bucket: BUCKET,
  objectKeys: [
    `sessions/${SESSION_ID}/children/${SESSION_ID}-0000/*`,
    `sessions/${SESSION_ID}/children/${SESSION_ID}-0001/*`,
  ],
  fallbackKey: `sessions/${SESSION_ID}/children/*`,
  durationSeconds: 990,
};
const credentials = (seconds: number) => ({
  AccessKeyId: 'ASIAUPLOADSESSION001',
  SecretAccessKey: 'upload-session-secret-not-real',
  SessionToken: 'token+/=',
  Expiration: new Date(NOW_MS + seconds * 1000),
});
const session = {
  accessKeyId: 'ASIAUPLOADSESSION001',
  secretAccessKey: 'upload-session-secret-not-real',
  sessionToken: 'token+/=',
  expiration: new Date(NOW_MS + 3600_000),
};

function assumed() {
  return aws.sts.commandCalls(AssumeRoleCommand)[0].args[0].input;
}

describe('assumeUploadRole', () => {
  it('assumes the role named after the session, for the duration asked, with no session tags', async () => {
    aws.sts.on(AssumeRoleCommand).resolves({ Credentials: credentials(3600) });

    const out = await assumeUploadRole(request);

    expect(out).toEqual({
      accessKeyId: 'ASIAUPLOADSESSION001',
      secretAccessKey: 'upload-session-secret-not-real',
      sessionToken: 'token+/=',
      expiration: new Date(NOW_MS + 3600_000),
    });
    expect(aws.sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 1);
    expect(assumed()).toMatchObject({
      RoleArn: FAKE.uploadRoleArn,
      RoleSessionName: SESSION_ID,
      DurationSeconds: 990,
    });
    expect(assumed().RoleSessionName).toMatch(/^[\w+=,.@-]{2,64}$/);
    // The trust policy grants sts:AssumeRole only, not sts:TagSession.
    expect(assumed().Tags).toBeUndefined();
    expect(assumed().TransitiveTagKeys).toBeUndefined();
  });

  it("narrows the session with a policy of s3:PutObject on its batch's children's objects, nothing else", async () => {
    aws.sts.on(AssumeRoleCommand).resolves({ Credentials: credentials(3600) });

    await assumeUploadRole(request);

    expect(JSON.parse(assumed().Policy!)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 's3:PutObject',
          Resource: [
            `arn:aws:s3:::${BUCKET}/sessions/${SESSION_ID}/children/${SESSION_ID}-0000/*`,
            `arn:aws:s3:::${BUCKET}/sessions/${SESSION_ID}/children/${SESSION_ID}-0001/*`,
          ],
        },
      ],
    });
  });

  it("names the session's children prefix instead when the batch's children would not fit the policy", async () => {
    aws.sts.on(AssumeRoleCommand).resolves({ Credentials: credentials(3600) });
    const many = Array.from(
      { length: 50 },
      (_, i) => `sessions/${SESSION_ID}/children/${SESSION_ID}-${String(i).padStart(4, '0')}/*`,
    );

    await assumeUploadRole({ ...request, objectKeys: many });

    expect(JSON.parse(assumed().Policy!).Statement[0].Resource).toBe(
      `arn:aws:s3:::${BUCKET}/sessions/${SESSION_ID}/children/*`,
    );
  });

  it('takes the partition of the session policy from the role ARN (aws-cn, aws-us-gov)', async () => {
    aws.sts.on(AssumeRoleCommand).resolves({ Credentials: credentials(3600) });

    await assumeUploadRole({ ...request, roleArn: 'arn:aws-cn:iam::123456789012:role/upload' });

    expect(JSON.parse(assumed().Policy!).Statement[0].Resource).toEqual([
      `arn:aws-cn:s3:::${BUCKET}/sessions/${SESSION_ID}/children/${SESSION_ID}-0000/*`,
      `arn:aws-cn:s3:::${BUCKET}/sessions/${SESSION_ID}/children/${SESSION_ID}-0001/*`,
    ]);
  });

  it('names UPLOAD_ROLE_ARN, and calls nothing, when it is not a role ARN', async () => {
    const error = await caught(() => assumeUploadRole({ ...request, roleArn: 'arn:aws:s3:::not-a-role' }));

    expect(error).toMatchObject({ code: 'AWS_ERROR', message: expect.stringContaining('UPLOAD_ROLE_ARN') });
    expect(aws.sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 0);
  });

  it('refuses a session id STS would refuse as a role session name, before any call', async () => {
    const error = await caught(() => assumeUploadRole({ ...request, sessionId: 'dt bad id' }));

    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'sessionId' } });
    expect(aws.sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 0);
  });

  it('throws AWS_ERROR naming sts:AssumeRole, with a hint about the trust policy, when access is denied', async () => {
    aws.sts.on(AssumeRoleCommand).rejects(
      new STSServiceException({
        name: 'AccessDenied',
        message:
          'User: arn:aws:sts::123456789012:assumed-role/launch/fn is not authorized to perform: sts:AssumeRole',
        $fault: 'client',
        $metadata: { httpStatusCode: 403, requestId: 'req-1' },
      }),
    );

    const error = await caught(() => assumeUploadRole(request));

    expect(error).toMatchObject({
      code: 'AWS_ERROR',
      message: expect.stringMatching(/^sts:AssumeRole failed: AccessDenied: User: .* is not authorized/),
      hint: expect.stringContaining('UPLOAD_ROLE_ARN'),
      details: { call: 'sts:AssumeRole', awsError: 'AccessDenied', httpStatus: 403, requestId: 'req-1' },
    });
  });

  it('throws AWS_ERROR naming sts:AssumeRole for any other STS error', async () => {
    aws.sts.on(AssumeRoleCommand).rejects(
      Object.assign(
        new Error('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.'),
        {
          name: 'ValidationError',
        },
      ),
    );

    const error = await caught(() => assumeUploadRole(request));

    expect(error).toMatchObject({
      code: 'AWS_ERROR',
      message: expect.stringMatching(/^sts:AssumeRole failed: ValidationError: /),
    });
  });

  it('throws AWS_ERROR when STS answers without credentials', async () => {
    aws.sts.on(AssumeRoleCommand).resolves({});

    const error = await caught(() => assumeUploadRole(request));

    expect(error).toMatchObject({ code: 'AWS_ERROR', message: expect.stringContaining('no credentials') });
  });
});

describe('urlLifetime', () => {
  it('gives the lifetime wanted when the credentials outlive it', () => {
    expect(urlLifetime(90, 990, { expiration: new Date(NOW_MS + 3600_000) }, NOW_MS)).toBe(990);
  });

  it("cuts the URL's lifetime at the credentials' expiry, to the second of signing", () => {
    expect(urlLifetime(90, 990, { expiration: new Date(NOW_MS + 600_999) }, NOW_MS)).toBe(600);
  });

  it('refuses credentials that would die before the capture ends', () => {
    let error: unknown;
    try {
      urlLifetime(90, 990, { expiration: new Date(NOW_MS + 30_000) }, NOW_MS);
    } catch (e) {
      error = e;
    }

    expect(error).toMatchObject({
      code: 'AWS_ERROR',
      message: expect.stringContaining('expire in 30 s'),
      details: { call: 'sts:AssumeRole', remainingSeconds: 30 },
    });
  });
});

describe('presignUpload', () => {
  const sign = (key = KEY, expiresIn = 990) => presignUpload(BUCKET, key, expiresIn, NOW_MS, session);

  it('presigns a PUT of the key, signing only the host header, with no checksum parameters', async () => {
    const url = new URL(await sign());

    expect(url.hostname).toBe(`${BUCKET}.s3.xx-test-1.amazonaws.com`);
    expect(url.pathname).toBe(`/${KEY}`);
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host');
    const names = [...url.searchParams.keys()].map((name) => name.toLowerCase());
    expect(names.filter((n) => n.startsWith('x-amz-checksum') || n.startsWith('x-amz-sdk-checksum'))).toEqual(
      [],
    );
    expect(url.searchParams.get('X-Amz-Expires')).toBe('990');
    expect(url.searchParams.get('X-Amz-Date')).toBe('20250101T120010Z');
  });

  it("signs with the upload role's session: its key in X-Amz-Credential, its token in X-Amz-Security-Token", async () => {
    const restore = withEnv({ AWS_SESSION_TOKEN: 'FUNCTION-OWN-SESSION-TOKEN' });
    let text: string;
    try {
      text = await sign();
    } finally {
      restore();
    }

    const url = new URL(text);
    expect(url.searchParams.get('X-Amz-Credential')).toBe(
      'ASIAUPLOADSESSION001/20250101/xx-test-1/s3/aws4_request',
    );
    expect(url.searchParams.get('X-Amz-Security-Token')).toBe('token+/=');
    expect(text).not.toContain(process.env.AWS_ACCESS_KEY_ID);
    expect(text).not.toContain('FUNCTION-OWN-SESSION-TOKEN');
  });

  it('uses path-style URLs when AWS_S3_FORCE_PATH_STYLE is true (S3-compatible stand-ins)', async () => {
    process.env.AWS_S3_FORCE_PATH_STYLE = 'true';

    const url = new URL(await sign());

    expect(url.pathname).toBe(`/${BUCKET}/${KEY}`);
  });

  it('fits the SSM document with a long session token, the longest bucket name and region', async () => {
    // 2,800 characters of base64 (real tokens of a role session with a small session policy are
    // around 1,000 to 1,500), its + and / percent-encoded in the URL as they would be.
    const token = Buffer.from(Array.from({ length: 2100 }, (_, i) => (i * 131 + 7) % 256)).toString('base64');
    expect(token).toHaveLength(2800);
    const bucket = `b${'x'.repeat(61)}z`; // 63, S3's longest
    process.env.AWS_REGION = 'ap-southeast-5';
    const childKey = `sessions/${SESSION_ID}/children/${SESSION_ID}-0999/artifact.pcap.gz`;

    const url = await presignUpload(bucket, childKey, 990, NOW_MS, { ...session, sessionToken: token });

    expect(new URL(url).searchParams.get('X-Amz-Security-Token')).toBe(token);
    expect(isValidHostParam('uploadUrl', url)).toBe(true);
    expect(url.length).toBeLessThanOrEqual(HOST_PARAMS.uploadUrl.maxChars);
  });

  it('refuses, naming the limit, a URL the SSM document would not take', async () => {
    const error = await caught(() =>
      presignUpload(BUCKET, KEY, 990, NOW_MS, { ...session, sessionToken: 'x'.repeat(5000) }),
    );

    expect(error).toMatchObject({
      code: 'AWS_ERROR',
      message: expect.stringContaining('does not fit the uploadUrl parameter'),
      hint: expect.stringContaining(String(HOST_PARAMS.uploadUrl.maxChars)),
    });
  });
});

describe('uploadPresigner (a batch signs all its URLs with one client)', () => {
  it('makes one client for every URL it signs, and the same URLs as presignUpload', async () => {
    const made = jest.spyOn(s3, 'presigningS3Client');
    const keys = [KEY, KEY.replace('-0000', '-0001'), KEY.replace('artifact.pcap.gz', 'manifest.json')];
    const presigner = uploadPresigner(session);
    let urls: string[];
    try {
      urls = await Promise.all(keys.map((key) => presigner.presign(BUCKET, key, 990, NOW_MS)));
    } finally {
      presigner.destroy();
    }
    expect(made).toHaveBeenCalledTimes(1);

    const one = await Promise.all(keys.map((key) => presignUpload(BUCKET, key, 990, NOW_MS, session)));
    expect(urls).toEqual(one);
    expect(new Set(urls).size).toBe(keys.length);
    made.mockRestore();
  });

  it('refuses a URL the SSM document would not take, as presignUpload does', async () => {
    const presigner = uploadPresigner({ ...session, sessionToken: 'x'.repeat(5000) });
    const error = await caught(() => presigner.presign(BUCKET, KEY, 990, NOW_MS)).finally(() =>
      presigner.destroy(),
    );

    expect(error).toMatchObject({ code: 'AWS_ERROR', message: expect.stringContaining('uploadUrl') });
  });
});
