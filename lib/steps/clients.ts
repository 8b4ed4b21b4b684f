import { ECSClient } from '@aws-sdk/client-ecs';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { s3ClientConfig } from '../config';

/**
 * One SDK client per service, shared by every step of a warm Lambda.
 *
 * Created on first use rather than at import so that nothing (not even config resolution) runs
 * while the module loads, and so that tests and the sandbox can inject their own. Region and
 * endpoint come from the standard environment (AWS_REGION, AWS_ENDPOINT_URL_ECS/_SSM/_S3/_STS):
 * the sandbox points them at its stand-ins, so no sandbox code lives here.
 */
export interface StepClients {
  ecs: ECSClient;
  ssm: SSMClient;
  s3: S3Client;
  sts: STSClient;
}

let clients: Partial<StepClients> = {};

export function ecsClient(): ECSClient {
  return (clients.ecs ??= new ECSClient({}));
}

export function ssmClient(): SSMClient {
  return (clients.ssm ??= new SSMClient({}));
}

/**
 * The steps' S3 client (poll, collect). The host's upload URL is presigned by `presigningS3Client`,
 * with the same settings: since client-s3 3.729 the default `requestChecksumCalculation:
 * 'WHEN_SUPPORTED'` bakes the CRC32 of an empty body into a presigned PUT, and the host's real
 * upload would then be rejected (or stored corrupted by lax stores). Path style is only for
 * S3-compatible stand-ins on loopback (see lib/config.ts).
 */
export function s3Client(): S3Client {
  return (clients.s3 ??= new S3Client(s3ClientConfig()));
}

export function stsClient(): STSClient {
  return (clients.sts ??= new STSClient({}));
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
 * host's upload with the upload role's session (lib/domain/upload.ts). A new instance each time,
 * never the shared one, so those credentials sign nothing else; the same settings as `s3Client`
 * (no checksum baked into a presigned PUT, path style only for stand-ins).
 */
export function presigningS3Client(credentials: SessionCredentials): S3Client {
  return new S3Client({ ...s3ClientConfig(), credentials });
}

/** Replaces some clients (tests, the sandbox); the others are still created on first use. */
export function setStepClients(overrides: Partial<StepClients>): void {
  clients = { ...clients, ...overrides };
}

/** Forgets every client, so the next use builds them again from the current environment. */
export function resetStepClients(): void {
  clients = {};
}
