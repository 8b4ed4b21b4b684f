import { DebugTaskError } from './domain/errors';

/** Reads a required environment variable once, with a message that names it. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new DebugTaskError('AWS_ERROR', `The environment variable ${name} is not set.`, {
      hint: `Set ${name} (the stack sets it for its functions).`,
    });
  }
  return value;
}

export function optionalEnv(name: string, fallback: string): string {
  const value = process.env[name];
  return value === undefined || value === '' ? fallback : value;
}

export function numberEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) {
    throw new DebugTaskError('AWS_ERROR', `The environment variable ${name}="${raw}" is not a number.`);
  }
  return value;
}

/**
 * ALLOWED_CLUSTERS, the clusters this deployment may touch: comma-separated cluster names, spaces
 * around a name and empty entries ignored, each name once. Empty (or unset) means any cluster of the
 * account and region. Entries are taken as they are: the stack writes only names it has validated
 * (lib/infra/stack-props.ts refuses ARNs, `*` and an empty list), so there is no wildcard and no ARN here.
 */
export function allowedClustersFromEnv(): string[] {
  const names = optionalEnv('ALLOWED_CLUSTERS', '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  return [...new Set(names)];
}

/**
 * S3-compatible stand-ins (s3rver, MinIO) on loopback need path-style URLs; AWS does not.
 * Read from the standard-looking AWS_S3_FORCE_PATH_STYLE so handlers carry no sandbox code.
 */
export function s3ForcePathStyle(): boolean {
  return process.env.AWS_S3_FORCE_PATH_STYLE === 'true';
}

/**
 * What every S3 client of ours shares. WHEN_REQUIRED both ways: since SDK 3.729 presigned PUTs would
 * otherwise bake in an empty-body CRC32 and real uploads fail, and presigned GETs would carry
 * `x-amz-checksum-mode`; hashes are checked end to end by the runner's sha256 instead. Path style
 * for S3-compatible stand-ins (see s3ForcePathStyle).
 */
export function s3ClientConfig(): {
  requestChecksumCalculation: 'WHEN_REQUIRED';
  responseChecksumValidation: 'WHEN_REQUIRED';
  forcePathStyle: boolean;
} {
  return {
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    forcePathStyle: s3ForcePathStyle(),
  };
}
