import { randomBytes } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { PLAN_HEADER } from '../../../lib/domain/host-plan';
import type { BatchState } from '../../../lib/domain/session';
import { startS3, type S3StandIn } from '../../../lib/sandbox/s3';
import { startStsStandIn, type StsCall, type StsStandIn } from '../../../lib/sandbox/sts';
import { launchBatch } from '../../../lib/steps/launch';
import { aws, useAwsMocks } from '../../support/aws';
import {
  CHILD_ID,
  SESSION_ID,
  caught,
  executionInput,
  planInfoOf,
  taskPlanRecord,
} from '../../support/fixtures';

const ROLE_ARN = 'arn:aws:iam::000000000000:role/debug-task-sandbox-upload';
const credentials = { accessKeyId: 'AKIATESTFAKE0000000', secretAccessKey: 'test-secret-not-real' };

describe('startStsStandIn (AssumeRole over the query protocol)', () => {
  let sts: StsStandIn;
  let client: STSClient;
  const seen: StsCall[] = [];

  beforeAll(async () => {
    sts = await startStsStandIn({ roleArn: ROLE_ARN, onCall: (call) => seen.push(call) });
    client = new STSClient({ endpoint: sts.endpoint, region: 'xx-test-1', credentials });
  });

  afterAll(async () => {
    client.destroy();
    await sts.stop();
  });

  it('listens on loopback', () => {
    expect(sts.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:[0-9]+$/);
  });

  it('answers AssumeRole as @aws-sdk/client-sts reads it, and records the call with its session policy', async () => {
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 's3:PutObject', Resource: 'arn:aws:s3:::b/sessions/x/a.gz' }],
    });
    const before = Date.now();

    const out = await client.send(
      new AssumeRoleCommand({
        RoleArn: ROLE_ARN,
        RoleSessionName: SESSION_ID,
        DurationSeconds: 990,
        Policy: policy,
      }),
    );

    expect(out.Credentials).toEqual({
      AccessKeyId: expect.stringMatching(/^ASIA[0-9A-F]{16}$/),
      SecretAccessKey: expect.any(String),
      SessionToken: expect.stringMatching(/^IQoJb3JpZ2luX2Vj[A-Za-z0-9+/=]{1000,}$/),
      Expiration: expect.any(Date),
    });
    // Expiration is whole seconds after the moment STS answered: between `before` - 1 s and the
    // answer's arrival, plus the 990 s asked for.
    const answeredInMs = Date.now() - before;
    const expiresInMs = (out.Credentials?.Expiration?.getTime() ?? 0) - before;
    expect(expiresInMs).toBeGreaterThan(988_000);
    expect(expiresInMs).toBeLessThanOrEqual(990_000 + answeredInMs);
    expect(out.AssumedRoleUser).toEqual({
      AssumedRoleId: `AROASANDBOXUPLOAD0000:${SESSION_ID}`,
      Arn: `arn:aws:sts::000000000000:assumed-role/debug-task-sandbox-upload/${SESSION_ID}`,
    });
    const call = { service: 'sts', action: 'AssumeRole', input: expect.objectContaining({ Policy: policy }) };
    expect(sts.calls.at(-1)).toEqual(call);
    expect(seen.at(-1)).toEqual(call);
    expect(sts.calls.at(-1)?.input).toEqual({
      RoleArn: ROLE_ARN,
      RoleSessionName: SESSION_ID,
      DurationSeconds: '990',
      Policy: policy,
    });
    expect(sts.issued.at(-1)).toMatchObject({
      accessKeyId: out.Credentials?.AccessKeyId,
      sessionToken: out.Credentials?.SessionToken,
      roleSessionName: SESSION_ID,
      policy,
    });
  });

  it.each([
    ['another role', { RoleArn: 'arn:aws:iam::000000000000:role/other' }, 'AccessDenied', 403],
    ['more than the role-chaining hour', { DurationSeconds: 3601 }, 'ValidationError', 400],
    ['less than 15 minutes', { DurationSeconds: 899 }, 'ValidationError', 400],
    ['a session name STS refuses', { RoleSessionName: 'has space' }, 'ValidationError', 400],
    ['a session policy that is not JSON', { Policy: '{not json' }, 'MalformedPolicyDocumentException', 400],
    [
      'a session policy over 2,048 characters',
      { Policy: JSON.stringify({ x: 'y'.repeat(2100) }) },
      'ValidationError',
      400,
    ],
  ])('refuses %s as STS does', async (_label, override, name, status) => {
    const error = await caught(() =>
      client.send(
        new AssumeRoleCommand({
          RoleArn: ROLE_ARN,
          RoleSessionName: 'dt-x-y',
          DurationSeconds: 900,
          ...override,
        }),
      ),
    );

    expect(error.name).toBe(name);
    expect((error.$metadata as { httpStatusCode?: number }).httpStatusCode).toBe(status);
  });
});

describe('Launch against the STS and S3 stand-ins', () => {
  // Only SSM is stubbed: the upload role is assumed from the STS stand-in, the plans and uploads go
  // to s3rver.
  useAwsMocks(
    { AWS_ENDPOINT_URL_STS: undefined, AWS_ENDPOINT_URL_S3: undefined, AWS_S3_FORCE_PATH_STYLE: 'true' },
    { real: ['s3', 'sts'] },
  );
  let sts: StsStandIn;
  let s3: S3StandIn;
  let reader: S3Client;
  const record = taskPlanRecord();

  beforeAll(async () => {
    sts = await startStsStandIn({ roleArn: ROLE_ARN });
    s3 = await startS3({ bucket: 'sts-unit-bucket' });
    reader = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'xx-test-1', credentials });
  });

  afterAll(async () => {
    reader.destroy();
    await sts.stop();
    await s3.stop();
  });

  beforeEach(async () => {
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_STS: sts.endpoint,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      BUCKET_NAME: s3.bucket,
      UPLOAD_ROLE_ARN: ROLE_ARN,
    });
    aws.ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1' } });
    await reader.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: `sessions/${SESSION_ID}/plan.json`,
        Body: JSON.stringify(record),
      }),
    );
  });

  function state(nowMs: number): BatchState {
    const nowS = Math.floor(nowMs / 1000);
    const plan = { ...planInfoOf(record, { expiresAt: nowS + 90, deadline: nowS + 210 }), bucket: s3.bucket };
    return { ...executionInput({ durationSeconds: 60 }), plan, batch: plan.batches[0] };
  }

  /** What the host does first: GET the plan with planUrl, keep its own lines. */
  async function hostPlan(): Promise<{ artifactUrl: URL; manifestUrl: URL }> {
    const planUrl = aws.ssm.commandCalls(SendCommandCommand)[0].args[0].input.Parameters?.planUrl?.[0] ?? '';
    const res = await fetch(planUrl);
    expect(res.status).toBe(200);
    const [header, line] = (await res.text()).trimEnd().split('\n');
    expect(header).toBe(PLAN_HEADER);
    const [, child, , artifactUrl, manifestUrl] = line.split('\t');
    expect(child).toBe(CHILD_ID);
    return { artifactUrl: new URL(artifactUrl), manifestUrl: new URL(manifestUrl) };
  }

  // What s3rver cannot see (it checks neither signatures nor tokens): the URLs are signed by the
  // session STS issued, carry its token, and die no later than it.
  it('signs the uploads with the credentials the stand-in issued, within their lifetime', async () => {
    const now = Date.now();

    await launchBatch(state(now), { now: () => now });

    const issued = sts.issued.at(-1);
    expect(issued?.roleSessionName).toBe(SESSION_ID);
    expect(JSON.parse(issued?.policy ?? '{}')).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 's3:PutObject',
          Resource: `arn:aws:s3:::${s3.bucket}/sessions/${SESSION_ID}/children/${CHILD_ID}/*`,
        },
      ],
    });
    for (const url of Object.values(await hostPlan())) {
      expect(url.searchParams.get('X-Amz-Credential')?.startsWith(`${issued?.accessKeyId}/`)).toBe(true);
      expect(url.searchParams.get('X-Amz-Security-Token')).toBe(issued?.sessionToken);
      const expiresAtMs =
        Math.floor(now / 1000) * 1000 + Number(url.searchParams.get('X-Amz-Expires')) * 1000;
      expect(expiresAtMs).toBeLessThanOrEqual(issued?.expiration.getTime() ?? 0);
      expect(url.searchParams.get('X-Amz-Expires')).toBe(String(60 + 30 + 900));
    }
  });

  it("gives URLs s3rver takes the child's artifact and manifest through, token and all", async () => {
    const now = Date.now();
    await launchBatch(state(now), { now: () => now });
    const { artifactUrl, manifestUrl } = await hostPlan();
    const artifact = randomBytes(4096);
    const manifest = JSON.stringify({ v: 1, sessionId: CHILD_ID });

    const puts = await Promise.all([
      fetch(artifactUrl, { method: 'PUT', body: artifact, headers: { 'content-type': 'application/gzip' } }),
      fetch(manifestUrl, { method: 'PUT', body: manifest, headers: { 'content-type': 'application/json' } }),
    ]);

    expect(puts.map((p) => p.status)).toEqual([200, 200]);
    const read = async (key: string) =>
      Buffer.from(
        await (
          await reader.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))
        ).Body!.transformToByteArray(),
      );
    expect(
      (await read(`sessions/${SESSION_ID}/children/${CHILD_ID}/artifact.pcap.gz`)).equals(artifact),
    ).toBe(true);
    expect((await read(`sessions/${SESSION_ID}/children/${CHILD_ID}/manifest.json`)).toString()).toBe(
      manifest,
    );
  });

  it('fails typed, naming sts:AssumeRole, when the stand-in denies the role; sends nothing', async () => {
    process.env.UPLOAD_ROLE_ARN = 'arn:aws:iam::000000000000:role/not-trusted';

    const error = await caught(() => launchBatch(state(Date.now())));

    expect(error).toMatchObject({
      code: 'AWS_ERROR',
      message: expect.stringMatching(/^sts:AssumeRole failed: AccessDenied: /),
    });
    expect(aws.ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });
});
