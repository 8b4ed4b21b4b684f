import { Transform, type TransformCallback } from 'node:stream';

/**
 * Decodes an `aws-chunked` request body into the object's bytes.
 *
 * SDK v3 (>= 3.729, `requestChecksumCalculation: 'WHEN_SUPPORTED'`) uploads stream bodies this
 * way: `<hex size>[;chunk-signature=...]\r\n<bytes>\r\n` repeated, a zero-size chunk, then
 * trailers such as `x-amz-checksum-crc32:...` and an empty line. S3 decodes it; s3rver does not
 * and would store the framing as if it were the object, so the sandbox decodes it in front.
 */
export function isAwsChunked(headers: Record<string, string | string[] | undefined>): boolean {
  const encoding = headers['content-encoding'];
  const sha = headers['x-amz-content-sha256'];
  return (
    (typeof encoding === 'string' && encoding.split(',').some((e) => e.trim() === 'aws-chunked')) ||
    (typeof sha === 'string' && sha.startsWith('STREAMING-'))
  );
}

/** Most bytes a chunk header line may take before the body is declared malformed. */
const MAX_HEADER_LINE = 4096;

export class AwsChunkedDecoder extends Transform {
  private pending: Buffer = Buffer.alloc(0);
  /** Bytes of the current chunk's data still to pass through; -1 while reading a header line. */
  private remaining = -1;
  /** After a chunk's data, its terminating CRLF is still to be skipped. */
  private expectCrlf = false;
  private finished = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.finished) return callback(); // trailers: checksums of what was already passed on
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    try {
      this.drain();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    callback(this.finished ? null : new Error('aws-chunked body ended before its final zero-size chunk'));
  }

  private drain(): void {
    while (!this.finished) {
      if (this.expectCrlf) {
        if (this.pending.length < 2) return;
        if (this.pending[0] !== 0x0d || this.pending[1] !== 0x0a)
          throw new Error('aws-chunked: CRLF expected');
        this.pending = this.pending.subarray(2);
        this.expectCrlf = false;
      }
      if (this.remaining > 0) {
        if (this.pending.length === 0) return;
        const take = Math.min(this.remaining, this.pending.length);
        this.push(this.pending.subarray(0, take));
        this.pending = this.pending.subarray(take);
        this.remaining -= take;
        if (this.remaining === 0) {
          this.remaining = -1;
          this.expectCrlf = true;
        }
        continue;
      }
      const eol = this.pending.indexOf('\r\n');
      if (eol < 0) {
        if (this.pending.length > MAX_HEADER_LINE) throw new Error('aws-chunked: chunk header too long');
        return;
      }
      const line = this.pending.subarray(0, eol).toString('latin1');
      this.pending = this.pending.subarray(eol + 2);
      const sizeText = line.split(';')[0].trim();
      if (!/^[0-9a-fA-F]{1,16}$/.test(sizeText)) throw new Error(`aws-chunked: bad chunk size "${sizeText}"`);
      const size = parseInt(sizeText, 16);
      if (size === 0) {
        // What follows are trailers (checksums) and the final empty line: not object data.
        this.finished = true;
        return;
      }
      this.remaining = size;
    }
  }
}
