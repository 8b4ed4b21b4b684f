import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { awsCall } from './errors';
import { s3Client } from './s3';

/**
 * A presigned GET of one object, signed with the function's own credentials (the shared client):
 * the runner file, a host plan, a download, a followed chunk. Its own module, so that only the
 * functions that presign bundle the presigner. `call` names it in an error (AWS_ERROR).
 */
export function presignGet(
  bucket: string,
  key: string,
  expiresIn: number,
  call = 's3:GetObject (presign)',
): Promise<string> {
  return awsCall(call, () =>
    getSignedUrl(s3Client(), new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn }),
  );
}
