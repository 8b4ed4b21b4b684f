import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { DebugTaskError } from '../domain/errors';
import { sessionKeys } from '../domain/session';
import { awsCall, isNotFound, sdkErrorInfo, translateAwsError } from '../aws/errors';
import { s3Client } from '../aws/s3';

/**
 * The session's objects in S3 (key layout: `sessionKeys`, `runKeys` in lib/domain/session.ts): the
 * plan, the hosts' outcomes, the children's manifests and artifacts, markers, the session record.
 */

export async function getJson<T>(bucket: string, key: string): Promise<T>;
export async function getJson<T>(bucket: string, key: string, orElse: () => T): Promise<T>;
export async function getJson<T>(bucket: string, key: string, orElse?: () => T): Promise<T> {
  const text = await getText(bucket, key);
  if (text === undefined) {
    if (orElse) return orElse();
    throw new DebugTaskError('AWS_ERROR', `s3://${bucket}/${key} does not exist.`, {
      details: { bucket, key },
    });
  }
  try {
    return JSON.parse(text) as T;
  } catch (cause) {
    throw new DebugTaskError('AWS_ERROR', `s3://${bucket}/${key} is not JSON.`, {
      cause,
      details: { bucket, key },
    });
  }
}

/** The object's text; undefined when there is no such key. */
export async function getText(bucket: string, key: string): Promise<string | undefined> {
  try {
    const out = await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return (await out.Body?.transformToString()) ?? '';
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw translateAwsError('s3:GetObject', error);
  }
}

export async function putJson(bucket: string, key: string, value: unknown): Promise<void> {
  await putText(bucket, key, JSON.stringify(value), 'application/json');
}

export async function putText(bucket: string, key: string, body: string, contentType: string): Promise<void> {
  await awsCall('s3:PutObject', () =>
    s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType })),
  );
}

/**
 * Writes `value` unless the key exists (S3 conditional write, `If-None-Match: *`): a session's record
 * is written once, whoever gets there first (Collect, or Cleanup after a failure), and never
 * overwritten. False when it was there already.
 */
export async function putJsonOnce(bucket: string, key: string, value: unknown): Promise<boolean> {
  try {
    await s3Client().send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: JSON.stringify(value, null, 2),
        ContentType: 'application/json',
        IfNoneMatch: '*',
      }),
    );
    return true;
  } catch (error) {
    const info = sdkErrorInfo(error);
    if (info.httpStatus === 412 || info.name === 'PreconditionFailed') return false;
    throw translateAwsError('s3:PutObject', error);
  }
}

/** True when the key exists (HeadObject). */
export async function exists(bucket: string, key: string): Promise<boolean> {
  try {
    await s3Client().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw translateAwsError('s3:HeadObject', error);
  }
}

/** Sizes of every object under `prefix` (ListObjectsV2, 1,000 keys a page). */
export async function objectSizes(bucket: string, prefix: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await awsCall('s3:ListObjectsV2', () =>
      s3Client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token })),
    );
    for (const o of page.Contents ?? []) if (o.Key) sizes.set(o.Key, o.Size ?? 0);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return sizes;
}

/** True when the API's stop marker is there: the session's captures are to end now and be kept. */
export async function isStopRequested(sessionId: string, bucket: string): Promise<boolean> {
  return exists(bucket, sessionKeys.stop(sessionId));
}

/** CANCELLED when the API's cancel marker is there: the cancel then goes through Cleanup. */
export async function checkNotCancelled(sessionId: string, bucket: string): Promise<void> {
  const key = sessionKeys.cancel(sessionId);
  if (await exists(bucket, key)) {
    throw new DebugTaskError('CANCELLED', `Session ${sessionId} was cancelled.`, {
      details: { marker: key },
    });
  }
}
