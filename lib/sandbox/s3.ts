import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingHttpHeaders, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DebugTaskError } from '../domain/errors';
import { AwsChunkedDecoder, isAwsChunked } from './aws-chunked';

/**
 * The S3 stand-in of the local sandbox: s3rver in this process, on loopback, with a fresh data
 * directory that `stop()` removes.
 *
 * Clients must use path-style URLs (`forcePathStyle: true`, or AWS_S3_FORCE_PATH_STYLE=true for
 * the handlers): the endpoint is an IP address, so there is no bucket host name to resolve.
 */
export interface S3StandIn {
  /** http://127.0.0.1:<port>, for AWS_ENDPOINT_URL_S3. */
  readonly endpoint: string;
  readonly bucket: string;
  /**
   * While on, every presigned upload (a PUT carrying X-Amz-Signature in its query: what a host
   * sends) is answered 503 SlowDown, as S3 answers under load; the SDK's own requests pass. So a
   * session's upload fails realistically, on the host's own retries, and its artifact is kept.
   * With `keyPart`, only the uploads whose path holds it (one child of a session: its id).
   */
  refuseUploads(on: boolean, keyPart?: string): void;
  stop(): Promise<void>;
  /** At once and synchronously (a second Ctrl-C exits right after): removes its data directory. */
  forceStop(): void;
}

export interface S3StandInOptions {
  /** Bucket created at start. @default 'debug-task-sandbox' */
  readonly bucket?: string;
}

export const DEFAULT_SANDBOX_BUCKET = 'debug-task-sandbox';

/** What the sandbox's S3 is told to get wrong (refuseUploads). */
interface Faults {
  refuseUploads: boolean;
  /** Only the uploads whose path holds this. */
  keyPart?: string;
}

// s3rver ships no type declarations; this is the part of its API we use.
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
  /** Koa's middleware list; s3rver composes it when `run()` starts listening. */
  middleware: KoaMiddleware[];
  store: { existsObject(bucket: string, key: string): Promise<boolean> };
}
interface KoaContext {
  req: NodeJS.ReadableStream & Pick<IncomingMessage, 'headers' | 'url' | 'method'>;
  status: number;
  body: unknown;
  set(name: string, value: string): void;
}
type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;
interface S3rverOptions {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  vhostBuckets: boolean;
  allowMismatchedSignatures: boolean;
  configureBuckets: Array<{ name: string; configs: string[] }>;
}
type S3rverConstructor = new (options: S3rverOptions) => S3rverInstance;
interface S3rverAccount {
  createKeyPair(accessKeyId: string, secretAccessKey: string): void;
}
type S3ErrorConstructor = new (code: string, message: string, detail?: Record<string, string>) => Error;
interface S3rverAccountModule {
  DUMMY_ACCOUNT: S3rverAccount;
  registry: Map<string, S3rverAccount>;
}

// S3's own rule for bucket names (the subset that matters here: 3-63, lower case, digits, dots, hyphens).
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export async function startS3(opts: S3StandInOptions = {}): Promise<S3StandIn> {
  const bucket = opts.bucket ?? DEFAULT_SANDBOX_BUCKET;
  if (!BUCKET_NAME.test(bucket)) {
    throw new DebugTaskError('INVALID_ARGUMENT', `"${bucket}" is not a valid S3 bucket name.`, {
      hint: 'Use 3 to 63 lower-case letters, digits, dots and hyphens.',
      details: { bucket },
    });
  }
  /* eslint-disable @typescript-eslint/no-require-imports -- untyped CommonJS package, typed above */
  const S3rver = require('s3rver') as S3rverConstructor;
  const accounts = require('s3rver/lib/models/account') as S3rverAccountModule;
  const S3Error = require('s3rver/lib/models/error') as S3ErrorConstructor;
  /* eslint-enable @typescript-eslint/no-require-imports */

  const directory = await mkdtemp(join(tmpdir(), 'debug-task-s3-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    // Requests come to an IP address; a Host header never names a bucket.
    vhostBuckets: false,
    // s3rver only verifies SigV2 signatures; the SDK signs SigV4, which it accepts unverified.
    allowMismatchedSignatures: true,
    configureBuckets: [{ name: bucket, configs: [] }],
  });

  const faults: Faults = { refuseUploads: false };
  server.middleware.unshift(sandboxAdapter(accounts, S3Error, faults, server.store));

  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (cause) {
    await rm(directory, { recursive: true, force: true });
    throw new DebugTaskError('SANDBOX_UNAVAILABLE', 'The local S3 stand-in (s3rver) did not start.', {
      cause,
      hint: 'Check that loopback ports can be opened and that the temp directory is writable.',
    });
  }

  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    bucket,
    refuseUploads: (on, keyPart) => {
      faults.refuseUploads = on;
      faults.keyPart = keyPart;
    },
    forceStop: () => rmSync(directory, { recursive: true, force: true }),
    stop: () => {
      stopped ??= (async () => {
        server.httpServer?.closeAllConnections();
        await server.close().catch(() => undefined);
        await rm(directory, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/**
 * What S3 does that s3rver does not, applied before s3rver sees a request:
 * - s3rver knows one hard-coded access key and answers InvalidAccessKeyId to any other, yet never
 *   checks a SigV4 signature: accept whichever key the caller signs with (the handlers'
 *   credentials, or whoever presigned an upload URL);
 * - s3rver stores an `aws-chunked` body (SDK stream uploads) framing and all: decode it;
 * - s3rver ignores `If-None-Match: *` on PUT: refuse the write when the key exists (412), as S3 does;
 * - s3rver ignores checksums. One is checked: the CRC32 of an empty body that SDK >= 3.729 bakes
 *   into a presigned PUT unless it was made with `requestChecksumCalculation: 'WHEN_REQUIRED'`
 *   (DESIGN.md section 6). A non-empty upload to such a URL is refused with BadDigest, as a
 *   strict store does, so the mistake shows in the sandbox rather than in production.
 */
function sandboxAdapter(
  accounts: S3rverAccountModule,
  S3Error: S3ErrorConstructor,
  faults: Faults,
  store: S3rverInstance['store'],
): KoaMiddleware {
  return async (ctx, next) => {
    const url = ctx.req.url ?? '';
    if (
      faults.refuseUploads &&
      ctx.req.method === 'PUT' &&
      /[?&]X-Amz-Signature=/.test(url) &&
      (faults.keyPart === undefined || url.split('?')[0].includes(faults.keyPart))
    ) {
      ctx.status = 503;
      ctx.set('Content-Type', 'application/xml');
      ctx.body =
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';
      // Nothing is stored: the body is left unread, as S3 leaves it.
      ctx.req.resume();
      return;
    }
    const keyId = accessKeyIdOf(ctx.req);
    if (keyId && !accounts.registry.has(keyId)) accounts.DUMMY_ACCOUNT.createKeyPair(keyId, 'not-checked');
    if (hasEmptyBodyChecksum(ctx.req)) {
      throw new S3Error('BadDigest', 'The CRC32 you specified did not match the calculated checksum.');
    }
    if (ctx.req.method === 'PUT' && ctx.req.headers['if-none-match'] === '*') {
      // A conditional write (`If-None-Match: *`, how a session's record is written once): S3 answers
      // 412 when the key exists; s3rver would overwrite it.
      const [bucket, ...key] = new URL(ctx.req.url ?? '/', 'http://localhost').pathname.slice(1).split('/');
      if (await store.existsObject(bucket, decodeURIComponent(key.join('/')))) {
        ctx.req.resume();
        throw new S3Error(
          'PreconditionFailed',
          'At least one of the pre-conditions you specified did not hold',
        );
      }
    }
    if (isAwsChunked(ctx.req.headers)) {
      rewriteChunkedHeaders(ctx.req.headers);
      const raw = ctx.req as IncomingMessage;
      const decoded = raw.pipe(new AwsChunkedDecoder());
      // A malformed body (never what the SDK sends) drops the connection: the client sees a
      // failed upload rather than a stored object with the wrong bytes.
      decoded.on('error', () => raw.socket.destroy());
      // The controllers stream `ctx.req` into the store; headers are still read from the request.
      ctx.req = Object.assign(decoded, { headers: ctx.req.headers, url: ctx.req.url });
    }
    await next();
  };
}

const EMPTY_BODY_CRC32 = 'AAAAAA==';

/** A request that signed the CRC32 of an empty body yet carries a body. */
export function hasEmptyBodyChecksum(req: Pick<IncomingMessage, 'headers' | 'url'>): boolean {
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const crc =
    [...query].find(([key]) => key.toLowerCase() === 'x-amz-checksum-crc32')?.[1] ??
    req.headers['x-amz-checksum-crc32'];
  const length = Number(req.headers['x-amz-decoded-content-length'] ?? req.headers['content-length'] ?? 0);
  return crc === EMPTY_BODY_CRC32 && length > 0;
}

/** The object's own length and encoding, as S3 records them for an aws-chunked upload. */
function rewriteChunkedHeaders(headers: IncomingHttpHeaders): void {
  const decodedLength = headers['x-amz-decoded-content-length'];
  if (typeof decodedLength === 'string') headers['content-length'] = decodedLength;
  else delete headers['content-length'];
  const rest = (headers['content-encoding'] ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e && e !== 'aws-chunked');
  if (rest.length) headers['content-encoding'] = rest.join(', ');
  else delete headers['content-encoding'];
}

/** The access key id of a SigV4 request, from its Authorization header or presigned query. */
export function accessKeyIdOf(req: Pick<IncomingMessage, 'headers' | 'url'>): string | undefined {
  const auth = req.headers.authorization;
  const fromHeader = typeof auth === 'string' ? /Credential=([^/,\s]+)\//.exec(auth)?.[1] : undefined;
  if (fromHeader) return fromHeader;
  const credential = new URL(req.url ?? '/', 'http://localhost').searchParams.get('X-Amz-Credential');
  return credential?.split('/')[0] || undefined;
}
