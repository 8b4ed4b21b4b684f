import { DebugTaskError } from './errors';

/**
 * `--follow`: the capture streamed while it runs (issue 13, item 2).
 *
 * The host runner reads what the tool has written so far every `followSeconds` (and at
 * FOLLOW_CHUNK_MAX_BYTES) and uploads those bytes as the next chunk, `chunks/<seq>` under the
 * child's prefix; the CLI lists the chunks after the last one it wrote and appends them to its
 * output, in order. A chunk may end in the middle of a packet: the reader concatenates bytes. The
 * chunks joined are the uncompressed artifact byte for byte (the artifact stays the one verified
 * truth: the CLI compares the stream with its sha256 at the end, and completes a stream with a gap
 * from it).
 *
 * A presigned PUT names one key, so the chunks go up by a presigned POST (S3's browser upload):
 * a policy, signed by Launch with the same upload-role session as the artifact's PUT, that admits
 * any key under the child's `chunks/` prefix and a body of 1 to FOLLOW_CHUNK_MAX_BYTES bytes. The
 * form travels to the host as one URL (`chunkUrl`, see encodeChunkForm): the bucket's endpoint, with
 * the form's fields in its query, so the document's `allowedPattern` fences it to this deployment's
 * bucket like every other URL.
 */

/** The chunk interval when the request names none, and its bounds (the host parameter followSeconds). */
export const FOLLOW_SECONDS = { default: 2, min: 1, max: 60 } as const;

/** Largest chunk: a flood's bytes go up in several chunks per interval, none larger (content-length-range). */
export const FOLLOW_CHUNK_MAX_BYTES = 8_000_000;

/** Chunk keys end in the sequence number, zero-padded so that S3 lists them in order. */
export const CHUNK_SEQ_DIGITS = 6;

/** `<child prefix>chunks/`, as the runner checks the form's key against its own session id. */
export function chunkPrefix(childPrefix: string): string {
  return `${childPrefix}chunks/`;
}

export function chunkKey(prefix: string, seq: number): string {
  return `${prefix}${String(seq).padStart(CHUNK_SEQ_DIGITS, '0')}`;
}

/** The sequence number of a chunk key under `prefix`; undefined for anything else there. */
export function chunkSeqOf(prefix: string, key: string): number | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const tail = key.slice(prefix.length);
  return new RegExp(`^[0-9]{${CHUNK_SEQ_DIGITS}}$`).test(tail) ? Number(tail) : undefined;
}

/**
 * The POST policy's own conditions (createPresignedPost adds the signing fields' and the bucket's):
 * any key under the chunks prefix, and a body of 1 to FOLLOW_CHUNK_MAX_BYTES bytes. Nothing else
 * can be written with the form: the upload role's session policy already limits it to the child's
 * prefix, and this limits it to the chunks under it.
 */
export function chunkPostConditions(prefix: string): ChunkCondition[] {
  return [
    ['starts-with', '$key', prefix],
    ['content-length-range', 1, FOLLOW_CHUNK_MAX_BYTES],
  ];
}

export type ChunkCondition = ['starts-with', '$key', string] | ['content-length-range', number, number];

/**
 * The form fields a host sends with each chunk, by name: what createPresignedPost returns (the
 * runner refuses any other). `key` is the chunks prefix, to which the host appends the sequence.
 */
export const CHUNK_FORM_FIELDS = [
  'key',
  'bucket',
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Security-Token',
  'Policy',
  'X-Amz-Signature',
] as const;

/**
 * One URL for a presigned POST: its endpoint (with the trailing `/` S3's path-style and
 * virtual-hosted URLs both accept, so that it starts like the bucket's other URLs) and the fields
 * percent-encoded in its query, `key` first. Every character is then one the URL parameters admit.
 */
export function encodeChunkForm(
  post: { url: string; fields: Record<string, string> },
  prefix: string,
): string {
  const fields: Record<string, string> = { ...post.fields, key: prefix };
  const unknown = Object.keys(fields).filter(
    (name) => !(CHUNK_FORM_FIELDS as readonly string[]).includes(name),
  );
  if (unknown.length > 0) {
    throw new DebugTaskError(
      'AWS_ERROR',
      `The presigned POST has fields the host does not send: ${unknown.join(', ')}.`,
    );
  }
  const query = CHUNK_FORM_FIELDS.filter((name) => fields[name] !== undefined)
    .map((name) => `${name}=${encodeURIComponent(fields[name])}`)
    .join('&');
  const base = post.url.endsWith('/') ? post.url : `${post.url}/`;
  return `${base}?${query}`;
}

/** The inverse of encodeChunkForm (tests and the sandbox read a form back with it). */
export function decodeChunkForm(url: string): { url: string; fields: Record<string, string> } {
  const at = url.indexOf('?');
  const fields: Record<string, string> = {};
  for (const pair of url.slice(at + 1).split('&')) {
    const eq = pair.indexOf('=');
    fields[pair.slice(0, eq)] = decodeURIComponent(pair.slice(eq + 1));
  }
  return { url: url.slice(0, at), fields };
}

/** One chunk as GET /sessions/{id}/chunks lists it: its sequence, size and a presigned GET. */
export interface ChunkRef {
  seq: number;
  bytes: number;
  url: string;
}

/** GET /clusters/{cluster}/sessions/{id}/chunks?after=N: the chunks after N, and the session's status. */
export interface ChunkList {
  /** The child whose chunks these are (a one-task session's id names its only child). */
  sessionId: string;
  childId: string;
  /** The session's status when listed: after the last list of a session that ended, no chunk comes. */
  status: string;
  chunks: ChunkRef[];
  /** More chunks follow these (the list is capped per call): ask again at once. */
  more: boolean;
}

/** What the runner's manifest says of a followed capture. */
export interface FollowFacts {
  /** Chunks uploaded, and chunks that failed (their seq is missing: the CLI completes from the artifact). */
  chunks: number;
  failedChunks: number;
  /** Bytes read from the tool's output into chunks (uploaded or not). */
  bytes: number;
  intervalSeconds: number;
}
