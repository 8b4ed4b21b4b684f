import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import {
  checkNotCancelled,
  exists,
  getJson,
  getText,
  objectSizes,
  putJson,
  putJsonOnce,
} from '../../../lib/session/store';
import { aws, givenBucket, objectBody, useAwsMocks } from '../../support/aws';
import { BUCKET, SESSION_ID, caught } from '../../support/fixtures';

useAwsMocks();

const denied = () =>
  Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });

describe('getJson and getText', () => {
  it('reads an object as JSON', async () => {
    givenBucket({ 'a.json': { v: 2 } });

    await expect(getJson(BUCKET, 'a.json')).resolves.toEqual({ v: 2 });
  });

  it('gives the fallback for a key that does not exist', async () => {
    givenBucket();

    await expect(getJson(BUCKET, 'missing.json', () => [])).resolves.toEqual([]);
    await expect(getText(BUCKET, 'missing.json')).resolves.toBeUndefined();
  });

  it('throws AWS_ERROR naming the object when it does not exist and there is no fallback', async () => {
    givenBucket();

    const error = await caught(() => getJson(BUCKET, 'missing.json'));

    expect(error).toMatchObject({
      code: 'AWS_ERROR',
      message: `s3://${BUCKET}/missing.json does not exist.`,
      details: { bucket: BUCKET, key: 'missing.json' },
    });
  });

  it('throws AWS_ERROR naming the object when it is not JSON', async () => {
    aws.s3.on(GetObjectCommand).resolves(objectBody('{not json'));

    const error = await caught(() => getJson(BUCKET, 'bad.json', () => undefined));

    expect(error).toMatchObject({ code: 'AWS_ERROR', message: `s3://${BUCKET}/bad.json is not JSON.` });
  });

  it('throws AWS_ERROR naming s3:GetObject when it may not read', async () => {
    aws.s3.on(GetObjectCommand).rejects(denied());

    const error = await caught(() => getText(BUCKET, 'a.json'));

    expect(error).toMatchObject({ code: 'AWS_ERROR', details: { call: 's3:GetObject', httpStatus: 403 } });
  });
});

describe('putJson', () => {
  it('writes JSON with its content type', async () => {
    const bucket = givenBucket();

    await putJson(BUCKET, 'plan.json', { v: 2 });

    expect(bucket.puts()).toEqual([
      { Bucket: BUCKET, Key: 'plan.json', Body: '{"v":2}', ContentType: 'application/json' },
    ]);
  });

  it('throws AWS_ERROR naming s3:PutObject when it may not write', async () => {
    aws.s3.on(PutObjectCommand).rejects(denied());

    const error = await caught(() => putJson(BUCKET, 'plan.json', {}));

    expect(error).toMatchObject({ code: 'AWS_ERROR', details: { call: 's3:PutObject' } });
  });
});

describe('putJsonOnce', () => {
  it('writes with If-None-Match: * and says it did', async () => {
    const bucket = givenBucket();

    await expect(putJsonOnce(BUCKET, 'record.json', { status: 'SUCCEEDED' })).resolves.toBe(true);

    expect(bucket.puts()[0]).toMatchObject({
      Key: 'record.json',
      IfNoneMatch: '*',
      ContentType: 'application/json',
    });
    expect(bucket.json('record.json')).toEqual({ status: 'SUCCEEDED' });
  });

  it('never overwrites: false, and the first value stays, when the key exists (412)', async () => {
    const bucket = givenBucket({ 'record.json': { status: 'SUCCEEDED' } });

    await expect(putJsonOnce(BUCKET, 'record.json', { status: 'FAILED' })).resolves.toBe(false);

    expect(bucket.json('record.json')).toEqual({ status: 'SUCCEEDED' });
  });

  it('throws AWS_ERROR naming s3:PutObject for any other failure', async () => {
    aws.s3.on(PutObjectCommand).rejects(denied());

    const error = await caught(() => putJsonOnce(BUCKET, 'record.json', {}));

    expect(error).toMatchObject({ code: 'AWS_ERROR', details: { call: 's3:PutObject', httpStatus: 403 } });
  });
});

describe('exists', () => {
  it('is true for a key S3 has, false for one it has not', async () => {
    givenBucket({ here: 'x' });

    await expect(exists(BUCKET, 'here')).resolves.toBe(true);
    await expect(exists(BUCKET, 'gone')).resolves.toBe(false);
  });

  it('throws AWS_ERROR naming s3:HeadObject, with the hint about the role, when it may not look', async () => {
    aws.s3.on(HeadObjectCommand).rejects(denied());

    const error = await caught(() => exists(BUCKET, 'here'));

    expect(error).toMatchObject({ code: 'AWS_ERROR', details: { call: 's3:HeadObject', httpStatus: 403 } });
    expect(error.hint).toContain('may not call s3:HeadObject');
  });
});

describe('objectSizes', () => {
  it('lists the sizes of every object under the prefix, following the pages', async () => {
    givenBucket({ 'p/a': 'xx', 'p/b': 'xxx', 'q/c': 'x', 'p/d': '' }, { pageSize: 2 });

    const sizes = await objectSizes(BUCKET, 'p/');

    expect(Object.fromEntries(sizes)).toEqual({ 'p/a': 2, 'p/b': 3, 'p/d': 0 });
    expect(aws.s3).toHaveReceivedCommandTimes(ListObjectsV2Command, 2);
  });
});

describe('checkNotCancelled', () => {
  it('throws CANCELLED, naming the marker, when the cancel marker exists', async () => {
    givenBucket({ [`sessions/${SESSION_ID}/cancel`]: {} });

    const error = await caught(() => checkNotCancelled(SESSION_ID, BUCKET));

    expect(error).toMatchObject({ code: 'CANCELLED', details: { marker: `sessions/${SESSION_ID}/cancel` } });
  });

  it('passes when there is none', async () => {
    givenBucket();

    await expect(checkNotCancelled(SESSION_ID, BUCKET)).resolves.toBeUndefined();
    expect(aws.s3).toHaveReceivedCommandWith(HeadObjectCommand, {
      Bucket: BUCKET,
      Key: `sessions/${SESSION_ID}/cancel`,
    });
  });
});
