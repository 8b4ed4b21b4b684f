import { newSessionId } from '../../../lib/domain/session';
import {
  ROLE_CHAINING_MAX_SECONDS,
  SESSION_POLICY_MAX_CHARS,
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

  const ID = 'dt-20250101120000-abc123';
  const childObjects = (i: number) => `sessions/${ID}/children/${ID}-${String(i).padStart(4, '0')}/*`;
  const FALLBACK = `sessions/${ID}/children/*`;

  it("writes a session policy of one statement: s3:PutObject on a child's objects", () => {
    expect(JSON.parse(uploadSessionPolicy('aws', 'my-bucket', [childObjects(0)], FALLBACK))).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 's3:PutObject',
          Resource: `arn:aws:s3:::my-bucket/${childObjects(0)}`,
        },
      ],
    });
    // Far below the 2,048 characters STS takes for a session policy.
    expect(
      uploadSessionPolicy('aws-us-gov', 'b'.repeat(63), [childObjects(0)], FALLBACK).length,
    ).toBeLessThan(400);
  });

  it("names each child's objects of a batch, in the partition given", () => {
    const policy = JSON.parse(
      uploadSessionPolicy('aws-cn', 'b', [childObjects(0), childObjects(7)], FALLBACK),
    );

    expect(policy.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: [`arn:aws-cn:s3:::b/${childObjects(0)}`, `arn:aws-cn:s3:::b/${childObjects(7)}`],
      },
    ]);
  });

  it("falls back to the session's children prefix when the children would not fit AssumeRole's 2,048 characters", () => {
    const many = Array.from({ length: 40 }, (_, i) => childObjects(i));

    const policy = uploadSessionPolicy('aws', 'b', many, FALLBACK);

    expect(JSON.parse(policy).Statement).toEqual([
      { Effect: 'Allow', Action: 's3:PutObject', Resource: `arn:aws:s3:::b/${FALLBACK}` },
    ]);
    expect(policy.length).toBeLessThanOrEqual(SESSION_POLICY_MAX_CHARS);
    // The most children that fit are named one by one.
    const fitting = many.slice(0, 20);
    expect(uploadSessionPolicy('aws', 'b', fitting, FALLBACK).length).toBeLessThanOrEqual(
      SESSION_POLICY_MAX_CHARS,
    );
    expect(JSON.parse(uploadSessionPolicy('aws', 'b', fitting, FALLBACK)).Statement[0].Resource).toHaveLength(
      20,
    );
  });
});
