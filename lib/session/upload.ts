import { PutObjectCommand } from '@aws-sdk/client-s3';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { DebugTaskError } from '../domain/errors';
import { chunkPostConditions, encodeChunkForm } from '../domain/follow';
import { presignedUrlFitting } from '../domain/params';
import { partitionOfRoleArn, roleSessionName, uploadSessionPolicy } from '../domain/upload';
import { awsCall, type SdkErrorInfo } from '../aws/errors';
import { presigningS3Client, type SessionCredentials } from '../aws/s3';
import { stsClient } from '../aws/sts';

/**
 * The hosts' presigned upload URLs (artifact and manifest of each child), signed by a session of
 * the upload role (lib/domain/upload.ts) that Launch assumes for each batch of a session.
 */
export interface UploadRoleRequest {
  /** UPLOAD_ROLE_ARN: the stack's upload role, which only the launch function's role may assume. */
  roleArn: string;
  sessionId: string;
  bucket: string;
  /** The keys (or `<prefix>*`) the session may write: its batch's children's objects. */
  objectKeys: readonly string[];
  /** What the policy names instead when `objectKeys` would not fit it: the session's children prefix. */
  fallbackKey: string;
  /** AssumeRole's DurationSeconds (`uploadSessionSeconds`). */
  durationSeconds: number;
  /** ARTIFACT_KEY_ARN: the bucket's KMS key, which the uploads need kms:GenerateDataKey on; unset: SSE-S3. */
  keyArn?: string;
}

/**
 * One AssumeRole per batch: the upload role, for the session's length, named after the session
 * (CloudTrail's AssumeRole and the uploads' PutObject then carry the session id), with a session
 * policy that narrows it to s3:PutObject on exactly the batch's children's objects (and
 * kms:GenerateDataKey on the bucket's key, which S3 needs to encrypt them). No session
 * tags (no sts:TagSession needed).
 */
export async function assumeUploadRole(request: UploadRoleRequest): Promise<SessionCredentials> {
  const partition = partitionOfRoleArn(request.roleArn);
  const sessionName = roleSessionName(request.sessionId);
  const out = await awsCall(
    'sts:AssumeRole',
    () =>
      stsClient().send(
        new AssumeRoleCommand({
          RoleArn: request.roleArn,
          RoleSessionName: sessionName,
          DurationSeconds: request.durationSeconds,
          Policy: uploadSessionPolicy(
            partition,
            request.bucket,
            request.objectKeys,
            request.fallbackKey,
            request.keyArn,
          ),
        }),
      ),
    assumeRoleOverride(request.roleArn),
  );
  const c = out.Credentials;
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !(c.Expiration instanceof Date)) {
    throw new DebugTaskError('AWS_ERROR', `sts:AssumeRole returned no credentials for ${request.roleArn}.`, {
      details: { call: 'sts:AssumeRole' },
    });
  }
  return {
    accessKeyId: c.AccessKeyId,
    secretAccessKey: c.SecretAccessKey,
    sessionToken: c.SessionToken,
    expiration: c.Expiration,
  };
}

/**
 * `expiresIn` of the URL: `wanted`, but never past the credentials' expiry (S3 would refuse the URL
 * from then on anyway, whatever it says). Credentials that would not even outlast the capture are
 * refused here, before anything runs on the host.
 */
export function urlLifetime(
  captureSeconds: number,
  wanted: number,
  credentials: Pick<SessionCredentials, 'expiration'>,
  nowMs: number,
): number {
  // The URL is valid from X-Amz-Date (the signing time, to the second) for expiresIn seconds.
  const remaining = Math.floor(credentials.expiration.getTime() / 1000) - Math.floor(nowMs / 1000);
  if (remaining <= captureSeconds) {
    throw new DebugTaskError(
      'AWS_ERROR',
      `The upload role's credentials expire in ${remaining} s, before the capture of ${captureSeconds} s ends: the upload URL would be dead by then.`,
      {
        hint: "STS returned a shorter session than asked for: check the upload role's MaxSessionDuration and the clock of the function.",
        details: {
          call: 'sts:AssumeRole',
          remainingSeconds: remaining,
          expiration: credentials.expiration.toISOString(),
        },
      },
    );
  }
  return Math.min(wanted, remaining);
}

/** AccessDenied on AssumeRole is about the two policies that must name each other. */
export function assumeRoleOverride(roleArn: string) {
  return (info: SdkErrorInfo): DebugTaskError | undefined => {
    if (info.name !== 'AccessDenied' && info.name !== 'AccessDeniedException') return undefined;
    return new DebugTaskError(
      'AWS_ERROR',
      `sts:AssumeRole failed: ${info.name}: ${info.message.slice(0, 300)}`,
      {
        hint:
          `This function's role may not assume the upload role ${roleArn} (UPLOAD_ROLE_ARN): the ` +
          "upload role's trust policy must name the role of the function that signs (launch for a session, api " +
          'for a re-upload), and that role must be allowed sts:AssumeRole on it (both are in the deployed ' +
          'stack); check for an SCP or permission boundary too.',
        details: {
          call: 'sts:AssumeRole',
          awsError: info.name,
          ...(info.httpStatus !== undefined && { httpStatus: info.httpStatus }),
          ...(info.requestId && { requestId: info.requestId }),
        },
      },
    );
  };
}

/** Signs the hosts' upload URLs of one batch with one S3 client (made once, not per URL). */
export interface UploadPresigner {
  /**
   * A presigned PUT whose only signed header is `host`: the runner's curl may then send any
   * Content-Type (application/gzip) and Content-Length without breaking the signature. Signed with
   * the upload role's session, so the URL carries its X-Amz-Security-Token.
   */
  presign(bucket: string, key: string, expiresIn: number, nowMs: number): Promise<string>;
  /**
   * --follow: a presigned POST for any key under `prefix` (a child's chunks/), bodies of 1 to
   * FOLLOW_CHUNK_MAX_BYTES (chunkPostConditions), as the one URL the host takes (encodeChunkForm).
   * A PUT names one key; the host uploads many chunks with this one form.
   */
  presignChunks(bucket: string, prefix: string, expiresIn: number): Promise<string>;
  /** Frees the client's sockets (a presigner sends nothing, but a client may hold an agent). */
  destroy(): void;
}

/** One presigning client for `credentials` (the upload role's session), for all of a batch's URLs. */
export function uploadPresigner(credentials: SessionCredentials): UploadPresigner {
  const client = presigningS3Client(credentials);
  return {
    async presign(bucket, key, expiresIn, nowMs) {
      const url = await awsCall('s3:PutObject (presign)', () =>
        getSignedUrl(client, new PutObjectCommand({ Bucket: bucket, Key: key }), {
          expiresIn,
          signingDate: new Date(nowMs),
        }),
      );
      return presignedUrlFitting(
        'uploadUrl',
        url,
        'upload URL',
        "BUCKET_NAME and AWS_ENDPOINT_URL_S3 (the upload role's session token is part of the URL too)",
      );
    },
    async presignChunks(bucket, prefix, expiresIn) {
      const post = await awsCall('s3:PutObject (presigned POST)', () =>
        createPresignedPost(client, {
          Bucket: bucket,
          // `${filename}`: createPresignedPost then adds no exact `key` condition (the host names each chunk).
          Key: `${prefix}\${filename}`,
          Conditions: chunkPostConditions(prefix),
          Expires: expiresIn,
        }),
      );
      return presignedUrlFitting(
        'chunkUrl',
        encodeChunkForm(post, prefix),
        'chunk form',
        'BUCKET_NAME and AWS_ENDPOINT_URL_S3',
      );
    },
    destroy: () => client.destroy(),
  };
}

/** One URL with a presigner of its own (see `uploadPresigner`, which a batch uses). */
export async function presignUpload(
  bucket: string,
  key: string,
  expiresIn: number,
  nowMs: number,
  credentials: SessionCredentials,
): Promise<string> {
  const presigner = uploadPresigner(credentials);
  try {
    return await presigner.presign(bucket, key, expiresIn, nowMs);
  } finally {
    presigner.destroy();
  }
}
