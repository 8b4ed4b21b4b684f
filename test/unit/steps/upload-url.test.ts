import 'aws-sdk-client-mock-jest';
import { S3Client } from '@aws-sdk/client-s3';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { resetStepClients } from '../../../lib/steps/clients';
import * as launch from '../../../lib/steps/launch';
import { sessionUploadUrl, type SessionUploadRequest } from '../../../lib/steps/upload-url';
import { BUCKET, SESSION_ID, caught } from './fixtures';

const sts = mockClient(STSClient);
mockClient(S3Client); // presigning sends nothing

const NOW_MS = Date.parse('2025-01-01T12:00:10.000Z');
const KEY = `sessions/${SESSION_ID}/artifact.txt.gz`;
const request: SessionUploadRequest = {
  roleArn: 'arn:aws-cn:iam::123456789012:role/Upload',
  sessionId: SESSION_ID,
  bucket: BUCKET,
  objectKey: KEY,
  roleSeconds: 3600,
  urlSeconds: 3600,
  mustOutliveSeconds: 900,
  nowMs: NOW_MS,
};
const credentials = (seconds: number) => ({
  AccessKeyId: 'ASIASHAREDUPLOAD0001',
  SecretAccessKey: 'secret-not-real',
  SessionToken: 'token+/=',
  Expiration: new Date(NOW_MS + seconds * 1000),
});

beforeEach(() => {
  sts.reset();
  resetStepClients();
});

describe('sessionUploadUrl (shared by Launch and the re-upload)', () => {
  it('assumes the upload role with a one-key session policy and signs a PUT of that key with it', async () => {
    sts.on(AssumeRoleCommand).resolves({ Credentials: credentials(3600) });

    const url = new URL(await sessionUploadUrl(request));

    expect(sts).toHaveReceivedCommandWith(AssumeRoleCommand, {
      RoleArn: request.roleArn,
      RoleSessionName: SESSION_ID,
      DurationSeconds: 3600,
    });
    const policy = JSON.parse(sts.commandCalls(AssumeRoleCommand)[0].args[0].input.Policy!);
    // The partition comes from the role ARN.
    expect(policy.Statement).toEqual([
      { Effect: 'Allow', Action: 's3:PutObject', Resource: `arn:aws-cn:s3:::${BUCKET}/${KEY}` },
    ]);
    expect(url.pathname).toContain(KEY);
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^ASIASHAREDUPLOAD0001\//);
    expect(url.searchParams.get('X-Amz-Security-Token')).toBe('token+/=');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('3600');
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host');
  });

  it("cuts the URL's lifetime at the credentials' expiry", async () => {
    sts.on(AssumeRoleCommand).resolves({ Credentials: credentials(1800) });

    const url = new URL(await sessionUploadUrl(request));

    expect(url.searchParams.get('X-Amz-Expires')).toBe('1800');
  });

  it('refuses credentials that would not outlive mustOutliveSeconds', async () => {
    sts.on(AssumeRoleCommand).resolves({ Credentials: credentials(600) });

    const error = await caught(() => sessionUploadUrl(request));

    expect(error).toMatchObject({ code: 'AWS_ERROR' });
    expect(error.message).toContain('expire in 600 s');
  });

  it('is what Launch re-exports: one implementation', async () => {
    const shared = await import('../../../lib/steps/upload-url');
    expect(launch.assumeUploadRole).toBe(shared.assumeUploadRole);
    expect(launch.presignUpload).toBe(shared.presignUpload);
    expect(launch.urlLifetime).toBe(shared.urlLifetime);
  });
});
