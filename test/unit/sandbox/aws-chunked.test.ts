import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { AwsChunkedDecoder, isAwsChunked } from '../../../lib/sandbox/aws-chunked';

function encode(data: Buffer, chunkSize: number, signed: boolean): Buffer {
  const parts: Buffer[] = [];
  const ext = signed ? ';chunk-signature=' + 'a'.repeat(64) : '';
  for (let i = 0; i < data.length; i += chunkSize) {
    const chunk = data.subarray(i, i + chunkSize);
    parts.push(Buffer.from(`${chunk.length.toString(16)}${ext}\r\n`), chunk, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`0${ext}\r\n`));
  parts.push(Buffer.from(signed ? '\r\n' : 'x-amz-checksum-crc32:AAAAAA==\r\n\r\n'));
  return Buffer.concat(parts);
}

/** Feeds `body` to the decoder in pieces of `piece` bytes, so boundaries fall anywhere. */
function decode(body: Buffer, piece: number): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < body.length; i += piece) pieces.push(body.subarray(i, i + piece));
  return buffer(Readable.from(pieces).pipe(new AwsChunkedDecoder()));
}

describe('AwsChunkedDecoder', () => {
  const data = randomBytes(70_000);

  it.each([
    ['unsigned with a checksum trailer', false, 1],
    ['unsigned with a checksum trailer', false, 8193],
    ['signed chunks', true, 3],
    ['signed chunks', true, 65_536],
  ])('returns the exact object bytes of %s, fed %p bytes at a time', async (_what, signed, piece) => {
    const body = encode(data, 16_384, signed as boolean);
    expect((await decode(body, piece as number)).equals(data)).toBe(true);
  });

  it('decodes an empty object', async () => {
    expect((await decode(encode(Buffer.alloc(0), 10, false), 5)).length).toBe(0);
  });

  it('fails on a body cut before its final chunk', async () => {
    const body = encode(data, 16_384, false);
    await expect(decode(body.subarray(0, 20_000), 4096)).rejects.toThrow(/ended before/);
  });

  it('fails on a chunk size that is not hexadecimal', async () => {
    await expect(decode(Buffer.from('zz\r\nabc\r\n0\r\n\r\n'), 100)).rejects.toThrow(/bad chunk size/);
  });
});

describe('isAwsChunked', () => {
  it('recognises the content encoding and the streaming payload hashes', () => {
    expect(isAwsChunked({ 'content-encoding': 'aws-chunked' })).toBe(true);
    expect(isAwsChunked({ 'content-encoding': 'gzip, aws-chunked' })).toBe(true);
    expect(isAwsChunked({ 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' })).toBe(true);
    expect(isAwsChunked({ 'content-encoding': 'gzip', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' })).toBe(
      false,
    );
  });
});
