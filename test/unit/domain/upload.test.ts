import { newSessionId, sessionKeys } from '../../../lib/domain/session';
import {
  ROLE_CHAINING_MAX_SECONDS,
  URL_EXTRA_SECONDS,
  partitionOfRoleArn,
  roleSessionName,
  uploadRoleMaxSessionSeconds,
  uploadSessionPolicy,
  uploadSessionSeconds,
} from '../../../lib/domain/upload';

describe('upload role parameters', () => {
  it.each([
    [900, 30, 3600], // the defaults: 1,830 s, lifted to IAM's minimum of an hour
    [7200, 600, 7200 + 600 + URL_EXTRA_SECONDS],
    [90_000, 30, 43_200], // IAM's maximum: 12 hours
  ])(
    'gives the role a MaxSessionDuration for maxDuration %i + grace %i: %i s',
    (duration, grace, expected) => {
      expect(uploadRoleMaxSessionSeconds(duration, grace)).toBe(expected);
    },
  );

  it.each([
    [60, 30, 990],
    [1, 10, 911],
    [900, 30, 1830],
    [900, 3000, ROLE_CHAINING_MAX_SECONDS], // capped: role chaining allows one hour
  ])('asks STS for duration %i + grace %i + 900 s, 900 to 3600: %i s', (duration, grace, expected) => {
    expect(uploadSessionSeconds(duration, grace)).toBe(expected);
  });

  it('asks for no more than any role the stack makes allows', () => {
    for (const [duration, grace] of [
      [1, 10],
      [900, 30],
      [900, 3600],
      [99_000, 3600],
    ]) {
      expect(uploadSessionSeconds(duration, grace)).toBeLessThanOrEqual(
        uploadRoleMaxSessionSeconds(duration, grace),
      );
      expect(uploadSessionSeconds(duration, grace)).toBeGreaterThanOrEqual(900);
    }
  });

  it('names the role session after the session id, which always fits the STS rule', () => {
    for (let i = 0; i < 50; i++) {
      const id = newSessionId(new Date(Date.UTC(2025, 0, 1) + i * 7_777_777));
      expect(roleSessionName(id)).toBe(id);
    }
  });

  it.each(['x', 'has space', 'a/b', 'x'.repeat(65), ''])('refuses %j as a role session name', (name) => {
    expect(() => roleSessionName(name)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it.each([
    ['arn:aws:iam::123456789012:role/DebugTask-UploadRole-X', 'aws'],
    ['arn:aws-cn:iam::123456789012:role/path/to/upload', 'aws-cn'],
    ['arn:aws-us-gov:iam::123456789012:role/upload', 'aws-us-gov'],
  ])('reads the partition of %s', (arn, partition) => {
    expect(partitionOfRoleArn(arn)).toBe(partition);
  });

  it.each([
    '',
    'upload',
    'arn:aws:iam::123:role/x',
    'arn:aws:iam::123456789012:user/x',
    'arn:aws:s3:::bucket',
  ])('refuses %j as the upload role ARN, naming UPLOAD_ROLE_ARN', (arn) => {
    expect(() => partitionOfRoleArn(arn)).toThrow(/UPLOAD_ROLE_ARN/);
  });

  it('writes a session policy of one statement: s3:PutObject on the keys given', () => {
    const key = sessionKeys.childArtifact('dt-20250101120000-abc123-0000', 'pcap');

    expect(JSON.parse(uploadSessionPolicy('aws', 'my-bucket', key))).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 's3:PutObject',
          Resource:
            'arn:aws:s3:::my-bucket/sessions/dt-20250101120000-abc123/children/dt-20250101120000-abc123-0000/artifact.pcap.gz',
        },
      ],
    });
    // Far below the 2,048 characters STS takes for a session policy.
    expect(uploadSessionPolicy('aws-us-gov', 'b'.repeat(63), key).length).toBeLessThan(400);
  });
});
