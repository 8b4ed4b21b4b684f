import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { access, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DebugTaskClient } from '../client/api-client';
import { httpRequest, isOk, readBody } from '../client/http';
import { DebugTaskError } from '../domain/errors';
import type { ChunkRef } from '../domain/follow';
import type { ExpectedArtifact } from './download';
import type { Progress } from './progress';

/**
 * `--follow` on the CLI's side (lib/domain/follow.ts): the session's chunks, listed about every
 * second, written in order to one stream (stdout, a file that grows, or Wireshark's stdin); at the
 * end the stream is checked against the verified artifact. A stream with a gap (a chunk the host
 * could not upload, or this machine could not download) stops at the gap while the session runs
 * and is completed from the artifact at the end, after checking that what was written is the
 * artifact's beginning. Whatever was written that is not the artifact is an error, never silent.
 */

/** How often the chunks are listed while the session runs. */
export const CHUNK_POLL_MS = 1000;
/** Tries of one chunk's download before it counts as a gap. */
const CHUNK_FETCH_TRIES = 3;

/** What `--json` and the summary say of a followed session. */
export interface FollowOutcome {
  /** Chunks written to the stream while the session ran. */
  chunks: number;
  /** Bytes written from chunks, and from the artifact at the end (a gap, or what came after it). */
  streamedBytes: number;
  completedFromArtifactBytes: number;
  /** The first missing chunk, when the stream had a gap. */
  gapAtChunk?: number;
  /**
   * A capture cut at --max-size: the stream ends with these bytes of the packet the cap cut, which
   * the artifact (rewritten to whole packets) drops; everything before them is the artifact.
   */
  cutPacketBytes?: number;
}

/** Writes a followed session's chunks to `write`, in order, from chunk 0; the checks of the end. */
export class ChunkAssembler {
  private next = 0;
  private written = 0;
  private chunks = 0;
  private readonly hash: Hash = createHash('sha256');
  private gap: number | undefined;
  /** The last chunk and the hash before it: where a capture cut at --max-size ends (complete). */
  private last: { bytes: Buffer; hashBefore: Hash; offset: number } | undefined;

  constructor(
    private readonly write: (bytes: Buffer) => Promise<void>,
    private readonly onGap: (seq: number) => void = () => undefined,
  ) {}

  /**
   * Appends the chunks that continue the stream (in any order given; repeats are skipped). A chunk
   * missing before a later one is a gap: the host uploads one after the other, so it will not come.
   * From a gap on nothing more is written while the session runs (bytes after a hole would corrupt
   * the stream); `complete` continues from the artifact.
   */
  async add(chunks: readonly ChunkRef[], fetchChunk: (chunk: ChunkRef) => Promise<Buffer>): Promise<void> {
    for (const chunk of [...chunks].sort((a, b) => a.seq - b.seq)) {
      if (this.gap !== undefined) return;
      if (chunk.seq < this.next) continue;
      if (chunk.seq > this.next) return this.markGap(this.next);
      let bytes: Buffer;
      try {
        bytes = await fetchChunk(chunk);
      } catch {
        return this.markGap(chunk.seq);
      }
      this.last = { bytes, hashBefore: this.hash.copy(), offset: this.written };
      await this.append(bytes);
      this.chunks++;
      this.next++;
    }
  }

  /** The next chunk wanted: list after `next - 1`. */
  get lastSeq(): number | undefined {
    return this.next === 0 ? undefined : this.next - 1;
  }

  /**
   * At the end: the stream must be the artifact. When it already is (bytes and sha256), nothing is
   * downloaded. Otherwise the verified artifact is downloaded (`download` writes it at the path it is
   * given, checking both sha256s); what was written must be its beginning, and the rest is appended.
   */
  async complete(
    expected: ExpectedArtifact,
    download: (path: string) => Promise<void>,
  ): Promise<FollowOutcome> {
    const outcome = (fromArtifact: number): FollowOutcome => ({
      chunks: this.chunks,
      streamedBytes: this.written - fromArtifact,
      completedFromArtifactBytes: fromArtifact,
      ...(this.gap !== undefined && { gapAtChunk: this.gap }),
    });
    if (this.written === expected.bytes && this.digest() === expected.sha256) return outcome(0);
    if (expected.truncated && this.endsWithCutPacket(expected)) {
      return { ...outcome(0), streamedBytes: expected.bytes, cutPacketBytes: this.written - expected.bytes };
    }
    const scratch = await mkdtemp(join(tmpdir(), 'debug-task-follow-'));
    try {
      const path = join(scratch, 'artifact');
      await download(path);
      const streamed = this.written;
      const start = streamed === 0 ? createHash('sha256').digest('hex') : await sha256Of(path, streamed);
      if (streamed > expected.bytes || start !== this.digest()) {
        throw new DebugTaskError(
          'UPLOAD_FAILED',
          `The followed stream does not match the verified artifact: its ${streamed} bytes are not the artifact's first ${streamed} (of ${expected.bytes}, sha256 ${expected.sha256}).`,
          {
            hint: 'The artifact itself is intact in S3: `debug-task fetch SESSION -o FILE` downloads it, checked.',
            details: { streamedBytes: streamed, artifactBytes: expected.bytes },
          },
        );
      }
      for await (const bytes of createReadStream(path, { start: streamed }))
        await this.append(bytes as Buffer);
      return outcome(expected.bytes - streamed);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  private async append(bytes: Buffer): Promise<void> {
    this.hash.update(bytes);
    this.written += bytes.length;
    await this.write(bytes);
  }

  /**
   * A pcap cut at --max-size is rewritten on the host to whole packets: the artifact is then the
   * stream without the cut packet's bytes at its end. True when the artifact is exactly a prefix
   * of the stream ending in its last chunk (whose bytes are kept for this).
   */
  private endsWithCutPacket(expected: ExpectedArtifact): boolean {
    const last = this.last;
    if (!last || this.gap !== undefined || expected.bytes >= this.written || expected.bytes < last.offset)
      return false;
    const prefix = last.hashBefore.copy().update(last.bytes.subarray(0, expected.bytes - last.offset));
    return prefix.digest('hex') === expected.sha256;
  }

  private digest(): string {
    return this.hash.copy().digest('hex');
  }

  private markGap(seq: number): void {
    this.gap = seq;
    this.onGap(seq);
  }
}

/** sha256 of the first `bytes` bytes of a file. */
async function sha256Of(path: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { end: bytes - 1 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** One chunk by its presigned GET, tried a few times. */
export async function fetchChunk(chunk: ChunkRef): Promise<Buffer> {
  let last: unknown;
  for (let attempt = 1; attempt <= CHUNK_FETCH_TRIES; attempt++) {
    try {
      const response = await httpRequest(new URL(chunk.url));
      const bytes = await readBody(response);
      if (!isOk(response)) throw new Error(`HTTP ${response.status}`);
      if (bytes.length !== chunk.bytes) throw new Error(`${bytes.length} bytes, listed ${chunk.bytes}`);
      return bytes;
    } catch (error) {
      last = error;
      if (attempt < CHUNK_FETCH_TRIES) await sleep(200 * attempt);
    }
  }
  throw last;
}

/**
 * Lists the session's chunks until the session has ended and every chunk is listed, appending them
 * to the assembler. An API error while it runs is not the session's end: it is tried again at the
 * next poll (and what is never fetched is completed from the artifact).
 */
export async function followChunks(
  client: DebugTaskClient,
  sessionId: string,
  assembler: ChunkAssembler,
  options: { progress: Progress; signal: AbortSignal; pollMs?: number },
): Promise<void> {
  let failures = 0;
  while (!options.signal.aborted) {
    let list;
    try {
      list = await client.listChunks(sessionId, assembler.lastSeq);
      failures = 0;
    } catch (error) {
      if (++failures === 3) {
        options.progress.note(
          `listing the chunks failed 3 times (${(error as Error).message}); still trying`,
        );
      }
      await sleep(options.pollMs ?? CHUNK_POLL_MS, undefined, { signal: options.signal }).catch(
        () => undefined,
      );
      continue;
    }
    await assembler.add(list.chunks, fetchChunk);
    if (list.more) continue;
    // The status was read before the list: a session that had ended then had every chunk in it.
    if (list.status !== 'RUNNING') return;
    await sleep(options.pollMs ?? CHUNK_POLL_MS, undefined, { signal: options.signal }).catch(
      () => undefined,
    );
  }
}

/** Where a followed stream goes: its writer, what the summary calls it, and its end. */
export interface FollowSink {
  /** `-` (stdout), the file, or `wireshark`. */
  path: string;
  write(bytes: Buffer): Promise<void>;
  /** The stream ended well (the file keeps its name) or not (the file becomes <file>.partial). */
  close(ok: boolean): Promise<void>;
}

/** Writes to a stream with its backpressure; a reader that went away (`| head`) ends the writing, not the session. */
function streamWriter(stream: NodeJS.WritableStream): (bytes: Buffer) => Promise<void> {
  let gone = false;
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') gone = true;
  });
  return async (bytes) => {
    if (gone) return;
    if (!stream.write(bytes)) await Promise.race([once(stream, 'drain'), once(stream, 'close')]);
  };
}

/** stdout: the stream, nothing else (the summary goes to stderr). */
export function stdoutSink(out: NodeJS.WritableStream): FollowSink {
  const write = streamWriter(out);
  return { path: '-', write, close: async () => undefined };
}

/** `-o FILE`: the file grows while the session runs; a stream that failed its checks is renamed <file>.partial. */
export function fileSink(path: string): FollowSink {
  const stream = createWriteStream(path);
  const write = streamWriter(stream);
  return {
    path,
    write,
    async close(ok) {
      stream.end();
      await once(stream, 'close');
      if (!ok) await rename(path, `${path}.partial`).catch(() => undefined);
    },
  };
}

/** `--wireshark`: `wireshark -k -i -` reading the stream; it stays open after the session. */
export function wiresharkSink(command: string): FollowSink {
  const child: ChildProcess = spawn(command, ['-k', '-i', '-'], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  // Found on PATH before the session started (findWireshark); should it fail to start all the same,
  // its stdin's EPIPE ends the writing and the session still ends with its verified artifact.
  child.on('error', () => undefined);
  const stdin = child.stdin as NodeJS.WritableStream;
  const write = streamWriter(stdin);
  return {
    path: 'wireshark',
    write,
    async close() {
      stdin.end();
      child.unref();
    },
  };
}

/** Wireshark on PATH, or INVALID_ARGUMENT (exit 2, nothing started). */
export async function findWireshark(path = process.env.PATH ?? ''): Promise<string> {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'wireshark');
    if (
      await access(candidate, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  throw new DebugTaskError(
    'INVALID_ARGUMENT',
    '--wireshark needs Wireshark, and there is no wireshark on PATH.',
    {
      hint: 'Install Wireshark, or pipe the stream to another reader: --follow -o - | tcpdump -r -',
    },
  );
}
