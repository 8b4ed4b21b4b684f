import { S3Client } from '@aws-sdk/client-s3';
import { s3ClientConfig } from '../config';
import { sharedClient } from './registry';

/**
 * The functions' S3 client. Presigned URLs are made with the same settings (`s3ClientConfig`): since
 * client-s3 3.729 the default `requestChecksumCalculation: 'WHEN_SUPPORTED'` bakes the CRC32 of an
 * empty body into a presigned PUT, and the host's real upload would then be rejected (or stored
 * corrupted by lax stores). Path style is only for S3-compatible stand-ins on loopback.
 */
export function s3Client(): S3Client {
  return sharedClient('s3', () => new S3Client(s3ClientConfig()));
}

/** Temporary credentials of an assumed role, as STS returns them. */
export interface SessionCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

/**
 * An S3 client that signs with `credentials` instead of the function's own: Launch presigns the
 * hosts' uploads with the upload role's session (lib/domain/upload.ts). A new instance each time,
 * never the shared one, so those credentials sign nothing else.
 */
export function presigningS3Client(credentials: SessionCredentials): S3Client {
  return new S3Client({ ...s3ClientConfig(), credentials });
}
