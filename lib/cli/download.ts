import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { httpRequest, isOk, type HttpResponse } from '../client/http';
import { DebugTaskError } from '../domain/errors';

export interface ExpectedArtifact {
  objectSha256: string;
  objectBytes: number;
  sha256: string;
  bytes: number;
  /** A capture cut at --max-size (a pcap is then rewritten to whole packets: --follow's streams differ at the end). */
  truncated?: boolean;
}

/**
 * Streams the artifact from its (presigned) URL, gunzips it into `path`, and checks both hashes
 * the host runner computed: the object's (what crossed the network) and the artifact's (what the
 * user gets). Nothing half-written is left at `path` when a check fails.
 */
export async function downloadArtifact(url: string, expected: ExpectedArtifact, path: string): Promise<void> {
  let response: HttpResponse;
  try {
    response = await httpRequest(new URL(url));
  } catch (cause) {
    throw new DebugTaskError('AWS_ERROR', 'Could not download the artifact from S3.', { cause });
  }
  if (!isOk(response)) {
    response.body.resume(); // frees the socket
    throw new DebugTaskError('AWS_ERROR', `Downloading the artifact failed: HTTP ${response.status}.`, {
      hint: 'The link may have expired: run `debug-task fetch SESSION` for a fresh one.',
    });
  }
  await unpackArtifact(response.body, expected, path);
}

/** Same checks for an artifact already on this machine (debug-task local). */
export function unpackLocalArtifact(gzPath: string, expected: ExpectedArtifact, path: string): Promise<void> {
  return unpackArtifact(createReadStream(gzPath), expected, path);
}

async function unpackArtifact(source: Readable, expected: ExpectedArtifact, path: string): Promise<void> {
  const partial = `${path}.partial`;
  const objectHash = counting();
  const artifactHash = counting();
  try {
    await pipeline(
      source,
      objectHash.stream,
      createGunzip(),
      artifactHash.stream,
      createWriteStream(partial),
    );
    check('object', objectHash.result(), expected.objectSha256, expected.objectBytes);
    check('artifact', artifactHash.result(), expected.sha256, expected.bytes);
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    if (error instanceof DebugTaskError) throw error;
    // This machine could not write the file (a folder, a missing or read-only parent, a full disk):
    // the artifact itself is fine, and fetch can download it again. -o is checked before a session
    // starts (output-path.ts), so this is what changed since, or what no check can see (ENOSPC).
    const code = (error as NodeJS.ErrnoException).code;
    if (code && LOCAL_WRITE_ERRORS.has(code)) {
      throw new DebugTaskError(
        'AWS_ERROR',
        `Could not write the artifact to ${path}: ${(error as Error).message}.`,
        {
          hint: 'The artifact is safe in S3: `debug-task fetch SESSION -o PATH` downloads it again to another path.',
          cause: error,
          details: { path, errno: code },
        },
      );
    }
    throw new DebugTaskError('UPLOAD_FAILED', 'The downloaded artifact is not a valid gzip stream.', {
      hint: 'Fetch it again with `debug-task fetch SESSION`; if it persists the object was altered in S3.',
      cause: error,
    });
  }
}

const LOCAL_WRITE_ERRORS = new Set([
  'EISDIR',
  'ENOENT',
  'ENOTDIR',
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOSPC',
  'EDQUOT',
]);

function check(what: string, got: { sha256: string; bytes: number }, sha256: string, bytes: number): void {
  if (got.sha256 !== sha256 || got.bytes !== bytes) {
    throw new DebugTaskError(
      'UPLOAD_FAILED',
      `The ${what} does not match what the host computed: sha256 ${got.sha256} (${got.bytes} bytes), expected ${sha256} (${bytes} bytes).`,
      {
        hint: 'Fetch it again with `debug-task fetch SESSION`; if it persists the object was altered in S3.',
      },
    );
  }
}

function counting(): { stream: Transform; result: () => { sha256: string; bytes: number } } {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  return { stream, result: () => ({ sha256: hash.digest('hex'), bytes }) };
}
