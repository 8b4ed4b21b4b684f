import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { resetAwsClients, setAwsClients } from '../../../lib/aws/registry';
import { DebugTaskError } from '../../../lib/domain/errors';
import { startS3, type S3StandIn } from '../../../lib/sandbox/s3';
import { putJsonOnce } from '../../../lib/session/store';
import { caught } from '../../support/fixtures';

const run = promisify(execFile);
const credentials = { accessKeyId: 'AKIATESTFAKE0000000', secretAccessKey: 'test-secret-not-real' };

describe('startS3 (s3rver stand-in)', () => {
  let s3: S3StandIn;
  let client: S3Client;
  let work: string;

  beforeAll(async () => {
    s3 = await startS3({ bucket: 'unit-bucket' });
    client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'xx-test-1', credentials });
    work = await mkdtemp(join(tmpdir(), 'debug-task-s3-test-'));
  });

  afterAll(async () => {
    client.destroy();
    await s3.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('listens on loopback and creates the bucket', () => {
    expect(s3.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:[0-9]+$/);
    expect(s3.bucket).toBe('unit-bucket');
  });

  it('stores and returns an object with PutObject, HeadObject and GetObject', async () => {
    const body = randomBytes(10_000);
    await client.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: 'a/b.bin',
        Body: body,
        ContentType: 'application/x-test',
      }),
    );

    const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'a/b.bin' }));
    expect(head.ContentLength).toBe(body.length);
    expect(head.ContentType).toBe('application/x-test');
    const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'a/b.bin' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
  });

  it('stores the exact bytes of a streamed upload (aws-chunked with a checksum trailer)', async () => {
    const body = randomBytes(300_000);
    await client.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: 'stream.bin',
        Body: Readable.from([body.subarray(0, 100_000), body.subarray(100_000)]),
        ContentLength: body.length,
      }),
    );
    const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'stream.bin' }));
    expect(got.ContentLength).toBe(body.length);
    expect(got.ContentEncoding).toBeUndefined();
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
  });

  it('stores the exact bytes a presigned PUT receives from curl -T', async () => {
    const presigner = new S3Client({
      endpoint: s3.endpoint,
      forcePathStyle: true,
      region: 'xx-test-1',
      credentials: { accessKeyId: 'AKIAPRESIGNER000000', secretAccessKey: 'another-fake-secret' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    const url = await getSignedUrl(
      presigner,
      new PutObjectCommand({ Bucket: s3.bucket, Key: 'sessions/dt-1/capture.pcap.gz' }),
      {
        expiresIn: 300,
      },
    );
    presigner.destroy();
    // WHEN_REQUIRED keeps the CRC of an empty body out of the URL (DESIGN.md section 6).
    expect(url).not.toMatch(/x-amz-checksum/i);

    const file = join(work, 'capture.bin');
    const body = randomBytes(1_500_000);
    await writeFile(file, body);
    const { stdout } = await run('curl', [
      '-sS',
      '--fail',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-T',
      file,
      url,
    ]);
    expect(stdout).toBe('200');

    const got = await client.send(
      new GetObjectCommand({ Bucket: s3.bucket, Key: 'sessions/dt-1/capture.pcap.gz' }),
    );
    const stored = Buffer.from(await got.Body!.transformToByteArray());
    expect(createHash('sha256').update(stored).digest('hex')).toBe(
      createHash('sha256').update(body).digest('hex'),
    );
  });

  it('refuses, with BadDigest, a body sent to a presigned PUT that signed the CRC32 of an empty body', async () => {
    // The SDK default (WHEN_SUPPORTED) presigns a checksum of no body at all.
    const careless = new S3Client({
      endpoint: s3.endpoint,
      forcePathStyle: true,
      region: 'xx-test-1',
      credentials,
    });
    const url = await getSignedUrl(
      careless,
      new PutObjectCommand({ Bucket: s3.bucket, Key: 'careless.bin' }),
      {
        expiresIn: 300,
      },
    );
    careless.destroy();
    expect(url).toMatch(/x-amz-checksum-crc32=AAAAAA%3D%3D/i);

    const file = join(work, 'careless.bin');
    await writeFile(file, 'some bytes');
    const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-T', file, url]);
    expect(stdout).toBe('400');
    await expect(
      client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'careless.bin' })),
    ).rejects.toMatchObject({
      name: 'NotFound',
    });
  });

  it('refuses a conditional write (If-None-Match: *) on a key that exists with 412, as S3 does', async () => {
    const put = (body: string) =>
      client.send(
        new PutObjectCommand({ Bucket: s3.bucket, Key: 'once.json', Body: body, IfNoneMatch: '*' }),
      );
    await put('first');

    const error = await caught(() => put('second'));

    expect(error).toMatchObject({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } });
    const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'once.json' }));
    expect(await got.Body!.transformToString()).toBe('first');
  });

  it("lets a session's record be written once through the store (putJsonOnce)", async () => {
    setAwsClients({ s3: client });
    try {
      await expect(putJsonOnce(s3.bucket, 'sessions/x/manifest.json', { status: 'SUCCEEDED' })).resolves.toBe(
        true,
      );
      await expect(putJsonOnce(s3.bucket, 'sessions/x/manifest.json', { status: 'CANCELLED' })).resolves.toBe(
        false,
      );
    } finally {
      resetAwsClients();
    }

    const got = await client.send(
      new GetObjectCommand({ Bucket: s3.bucket, Key: 'sessions/x/manifest.json' }),
    );
    expect(JSON.parse(await got.Body!.transformToString())).toEqual({ status: 'SUCCEEDED' });
  });

  it('answers NoSuchKey for a missing object', async () => {
    await expect(
      client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'missing' })),
    ).rejects.toMatchObject({
      name: 'NoSuchKey',
    });
  });
});

describe('startS3 lifecycle', () => {
  it('refuses a bucket name S3 would refuse', async () => {
    await expect(startS3({ bucket: 'Not_A_Bucket' })).rejects.toBeInstanceOf(DebugTaskError);
  });

  it('runs several stand-ins side by side and stops answering once stopped', async () => {
    const [a, b] = await Promise.all([startS3(), startS3()]);
    expect(a.endpoint).not.toBe(b.endpoint);
    expect(a.bucket).toBe('debug-task-sandbox');
    await Promise.all([a.stop(), b.stop()]);
    await a.stop(); // idempotent
    await expect(fetch(`${a.endpoint}/`)).rejects.toThrow();
  });
});
