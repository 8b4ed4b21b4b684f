import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import type { ChunkRef } from '../../../lib/domain/follow';
import { ChunkAssembler, fetchChunk, findWireshark } from '../../../lib/cli/follow';
import { checkFollow } from '../../../lib/cli/output-path';

/**
 * The CLI's side of --follow: chunks written in order whatever order they are listed in, a gap
 * (a chunk the host failed to upload, or one this machine failed to download) held at, and the
 * stream completed from the verified artifact at the end, or refused when it is not its beginning.
 */

const artifact = randomBytes(10_000);
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const expected = { bytes: artifact.length, sha256: sha(artifact), objectBytes: 1, objectSha256: 'x' };

/** The artifact cut in chunks of `size` (the last shorter), as the host uploads them. */
function chunksOf(bytes: Buffer, size: number): { refs: ChunkRef[]; data: Map<number, Buffer> } {
  const data = new Map<number, Buffer>();
  for (let seq = 0; seq * size < bytes.length; seq++)
    data.set(seq, bytes.subarray(seq * size, (seq + 1) * size));
  const refs = [...data].map(([seq, part]) => ({ seq, bytes: part.length, url: `https://s3/chunk/${seq}` }));
  return { refs, data };
}

function assemble(onGap?: (seq: number) => void) {
  const written: Buffer[] = [];
  const assembler = new ChunkAssembler(async (bytes) => {
    written.push(Buffer.from(bytes));
  }, onGap);
  return { assembler, stream: () => Buffer.concat(written) };
}

/** What `download` does in the CLI: writes the verified artifact at the path it is given. */
const downloads = { count: 0 };
const downloadArtifactTo = (bytes: Buffer) => async (path: string) => {
  downloads.count++;
  await writeFile(path, bytes);
};

beforeEach(() => {
  downloads.count = 0;
});

it('writes chunks in sequence order whatever order they are listed in, skipping repeats, and needs no download', async () => {
  const { refs, data } = chunksOf(artifact, 3000);
  const { assembler, stream } = assemble();
  const fetch = async (ref: ChunkRef) => data.get(ref.seq)!;

  await assembler.add([refs[1], refs[0]], fetch);
  expect(assembler.lastSeq).toBe(1);
  await assembler.add([refs[3], refs[1], refs[2]], fetch);
  const outcome = await assembler.complete(expected, downloadArtifactTo(artifact));

  expect(stream().equals(artifact)).toBe(true);
  expect(downloads.count).toBe(0);
  expect(outcome).toEqual({ chunks: 4, streamedBytes: artifact.length, completedFromArtifactBytes: 0 });
});

it('holds at a missing chunk (a later one is listed) and completes the stream from the artifact at the end', async () => {
  const { refs, data } = chunksOf(artifact, 3000);
  const gaps: number[] = [];
  const { assembler, stream } = assemble((seq) => gaps.push(seq));
  const fetch = async (ref: ChunkRef) => data.get(ref.seq)!;

  // Chunk 1 failed on the host: 0, 2, 3 are listed.
  await assembler.add([refs[0], refs[2], refs[3]], fetch);
  expect(stream().equals(artifact.subarray(0, 3000))).toBe(true);
  await assembler.add([refs[3]], fetch);
  expect(stream().length).toBe(3000);
  const outcome = await assembler.complete(expected, downloadArtifactTo(artifact));

  expect(gaps).toEqual([1]);
  expect(stream().equals(artifact)).toBe(true);
  expect(downloads.count).toBe(1);
  expect(outcome).toEqual({
    chunks: 1,
    streamedBytes: 3000,
    completedFromArtifactBytes: artifact.length - 3000,
    gapAtChunk: 1,
  });
});

it('takes a chunk it could not download for a gap, and completes the stream from the artifact', async () => {
  const { refs, data } = chunksOf(artifact, 4000);
  const gaps: number[] = [];
  const { assembler, stream } = assemble((seq) => gaps.push(seq));
  const fetch = async (ref: ChunkRef) => {
    if (ref.seq === 1) throw new Error('HTTP 500');
    return data.get(ref.seq)!;
  };

  await assembler.add(refs, fetch);
  const outcome = await assembler.complete(expected, downloadArtifactTo(artifact));

  expect(gaps).toEqual([1]);
  expect(stream().equals(artifact)).toBe(true);
  expect(outcome.completedFromArtifactBytes).toBe(artifact.length - 4000);
});

it('completes a stream that got no chunk at all (every upload failed) from the artifact', async () => {
  const { assembler, stream } = assemble();
  const outcome = await assembler.complete(expected, downloadArtifactTo(artifact));
  expect(stream().equals(artifact)).toBe(true);
  expect(outcome).toEqual({ chunks: 0, streamedBytes: 0, completedFromArtifactBytes: artifact.length });
});

it('refuses a stream that is not the beginning of the artifact: UPLOAD_FAILED, nothing appended', async () => {
  const { refs, data } = chunksOf(artifact, 3000);
  const { assembler, stream } = assemble();
  const altered = Buffer.from(data.get(0)!);
  altered[10] ^= 0xff;

  await assembler.add([refs[0]], async () => altered);
  const error = await assembler.complete(expected, downloadArtifactTo(artifact)).catch((e: unknown) => e);

  expect(error).toMatchObject({ code: 'UPLOAD_FAILED', message: expect.stringMatching(/does not match/) });
  expect(stream().length).toBe(3000);
});

it('refuses a stream longer than the artifact (the host wrote more than it kept)', async () => {
  const { assembler } = assemble();
  await assembler.add([{ seq: 0, bytes: artifact.length + 1, url: 'x' }], async () =>
    Buffer.concat([artifact, Buffer.from('!')]),
  );
  await expect(assembler.complete(expected, downloadArtifactTo(artifact))).rejects.toMatchObject({
    code: 'UPLOAD_FAILED',
  });
});

it('fails when the artifact itself fails its check (the download throws): never a silent stream', async () => {
  const { assembler } = assemble();
  await expect(
    assembler.complete(expected, async () => {
      throw Object.assign(new Error('sha256 mismatch'), { code: 'UPLOAD_FAILED' });
    }),
  ).rejects.toMatchObject({ code: 'UPLOAD_FAILED' });
});

it('takes a pcap cut at --max-size: the artifact (whole packets) is the stream but for the cut packet at its end', async () => {
  const cutPacket = randomBytes(37);
  const { refs, data } = chunksOf(Buffer.concat([artifact, cutPacket]), 4000);
  const { assembler } = assemble();
  await assembler.add(refs, async (ref) => data.get(ref.seq)!);

  const outcome = await assembler.complete({ ...expected, truncated: true }, downloadArtifactTo(artifact));
  expect(outcome).toMatchObject({
    streamedBytes: artifact.length,
    completedFromArtifactBytes: 0,
    cutPacketBytes: 37,
  });
  expect(downloads.count).toBe(0);

  // Not cut at --max-size: the same stream is not the artifact.
  const again = assemble();
  await again.assembler.add(refs, async (ref) => data.get(ref.seq)!);
  await expect(again.assembler.complete(expected, downloadArtifactTo(artifact))).rejects.toMatchObject({
    code: 'UPLOAD_FAILED',
  });
});

describe('checkFollow (before anything starts)', () => {
  it('streams to stdout with -o - and to the file with -o FILE', async () => {
    await expect(checkFollow({ kind: 'stdout' }, {}, 'pcap')).resolves.toEqual({ kind: 'stdout' });
    await expect(
      checkFollow({ kind: 'file', path: '/tmp/x.pcap' }, { output: '/tmp/x.pcap' }, 'text'),
    ).resolves.toEqual({
      kind: 'file',
      path: '/tmp/x.pcap',
    });
  });

  it('refuses --follow without -o (the default name needs the session id), with the fix', async () => {
    await expect(checkFollow({ kind: 'file' }, {}, 'pcap')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      hint: expect.stringMatching(/-o -/),
    });
  });

  it('refuses --wireshark with -o, with a text tool, and without Wireshark on PATH', async () => {
    await expect(
      checkFollow({ kind: 'stdout' }, { wireshark: true, output: '-' }, 'pcap'),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(checkFollow({ kind: 'file' }, { wireshark: true }, 'text')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(findWireshark('/nonexistent-dir')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/no wireshark on PATH/),
    });
  });
});

describe('fetchChunk: one chunk by its presigned GET', () => {
  const body = randomBytes(3000);
  const requests: string[] = [];
  let server: Server;
  let base: string;

  beforeAll(async () => {
    // /ok answers the chunk; /denied a 403 (an expired URL); /flaky a 500 once, then the chunk.
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      if (
        req.url === '/denied' ||
        (req.url === '/flaky' && requests.filter((u) => u === '/flaky').length === 1)
      ) {
        res.writeHead(req.url === '/denied' ? 403 : 500).end('<Error/>');
        return;
      }
      res.writeHead(200, { 'content-length': String(body.length) }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('returns its bytes when they are the size listed', async () => {
    await expect(fetchChunk({ seq: 1, bytes: body.length, url: `${base}/ok` })).resolves.toEqual(body);
  });

  it('tries again after a failed answer', async () => {
    await expect(fetchChunk({ seq: 2, bytes: body.length, url: `${base}/flaky` })).resolves.toEqual(body);
    expect(requests.filter((u) => u === '/flaky')).toHaveLength(2);
  });

  it('gives up after its tries with the HTTP status, and on bytes that are not the size listed', async () => {
    await expect(fetchChunk({ seq: 3, bytes: body.length, url: `${base}/denied` })).rejects.toThrow(
      'HTTP 403',
    );
    expect(requests.filter((u) => u === '/denied')).toHaveLength(3);
    await expect(fetchChunk({ seq: 4, bytes: body.length + 1, url: `${base}/ok` })).rejects.toThrow(
      `${body.length} bytes, listed ${body.length + 1}`,
    );
  });
});
