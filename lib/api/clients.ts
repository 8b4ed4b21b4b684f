import { SFNClient } from '@aws-sdk/client-sfn';
import { S3Client } from '@aws-sdk/client-s3';
import { s3ClientConfig } from '../config';

/**
 * The api function's SDK clients: created once per container, on first use (no network at import),
 * replaceable in tests. Region and endpoints come from the standard environment.
 */
export interface ApiClients {
  sfn: SFNClient;
  s3: S3Client;
}

let clients: ApiClients | undefined;

export function apiClients(): ApiClients {
  clients ??= {
    sfn: new SFNClient({}),
    // Presigned URLs carry no checksum parameters (s3ClientConfig); the CLI checks the runner's sha256 itself.
    s3: new S3Client(s3ClientConfig()),
  };
  return clients;
}

export function setApiClients(replacement: ApiClients | undefined): void {
  clients = replacement;
}
