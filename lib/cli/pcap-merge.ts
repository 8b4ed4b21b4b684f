import { execFile } from 'node:child_process';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { DebugTaskError } from '../domain/errors';

/**
 * Merges classic pcap files into one, time-ordered (what `debug-task --service ... --merge` does
 * with a fleet's captures).
 *
 * `mergecap` (Wireshark's) is used when it is on PATH; otherwise the small streaming merger below.
 * Why our own and not a package: npm's pcap readers are `pcap` (native libpcap bindings: a
 * compiler and libpcap-dev on every laptop, for reading files) and `pcap-parser` (0.2.1: an
 * event-emitting reader with no backpressure, no nanosecond magic and no writer, so it cannot
 * drive a k-way merge). Classic pcap is a 24-byte header and 16-byte record headers: a reader
 * and writer of it are ~150 lines, tested against tcpdump, capinfos and mergecap themselves
 * (test/unit/cli/pcap-merge.test.ts).
 *
 * What it takes: classic pcap, microsecond (a1b2c3d4) or nanosecond (a1b23c4d) magic, either
 * byte order; every input must have the same link type (else INVALID_ARGUMENT naming the files).
 * pcapng is refused with a hint to install mergecap. What it writes: little-endian classic pcap,
 * nanosecond when any input is, else microsecond; snaplen = the largest input's; records in
 * timestamp order (on a tie the later input goes first: mergecap's
 * `is_earlier` is `<=`, and the two must agree). Memory: one read buffer per input.
 * A record cut short at the end of an input (a capture cut at its size cap) is left out and counted.
 */

export interface MergeResult {
  path: string;
  via: 'mergecap' | 'debug-task';
  packets?: number;
  /** Inputs whose last record was cut short (left out of the merge). */
  truncatedInputs?: string[];
}

export interface MergeOptions {
  /** The mergecap to try; `false`: never (the built-in merger). Default: `mergecap` from PATH. */
  mergecap?: string | false;
}

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
const PCAPNG_MAGIC = 0x0a0d0d0a;
const HEADER_BYTES = 24;
const RECORD_HEADER_BYTES = 16;
/** Larger than any snaplen a capture tool writes (Wireshark's own ceiling is 256 MiB for some links). */
const MAX_RECORD_BYTES = 256 * 1024 * 1024;
const READ_CHUNK = 64 * 1024;
const WRITE_CHUNK = 1024 * 1024;

export interface PcapHeader {
  littleEndian: boolean;
  nanoseconds: boolean;
  snaplen: number;
  linkType: number;
}

/** Reads and checks the file header of a classic pcap. */
export function parsePcapHeader(bytes: Buffer, file: string): PcapHeader {
  if (bytes.length < HEADER_BYTES) {
    throw new DebugTaskError('INVALID_ARGUMENT', `${file} is not a pcap file: shorter than its header.`);
  }
  const le = bytes.readUInt32LE(0);
  const be = bytes.readUInt32BE(0);
  if (le === PCAPNG_MAGIC) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `${file} is pcapng, which the built-in merger does not read.`,
      {
        hint: 'Install Wireshark’s mergecap (apt-get install wireshark-common): debug-task uses it when it is on PATH.',
      },
    );
  }
  let littleEndian: boolean;
  let nanoseconds: boolean;
  if (le === MAGIC_US || le === MAGIC_NS) [littleEndian, nanoseconds] = [true, le === MAGIC_NS];
  else if (be === MAGIC_US || be === MAGIC_NS) [littleEndian, nanoseconds] = [false, be === MAGIC_NS];
  else {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `${file} is not a pcap file (magic 0x${be.toString(16).padStart(8, '0')}).`,
    );
  }
  const u32 = (offset: number) => (littleEndian ? bytes.readUInt32LE(offset) : bytes.readUInt32BE(offset));
  // The link type's upper bits carry FCS flags (pcap-linktype(7)); the type is the low 16 bits.
  return { littleEndian, nanoseconds, snaplen: u32(16), linkType: u32(20) & 0xffff };
}

interface PacketRecord {
  sec: number;
  /** Fraction of a second in nanoseconds (microsecond inputs scaled up). */
  nsec: number;
  origLen: number;
  data: Buffer;
}

/** Reads one pcap's records in file order, a chunk at a time. */
class PcapReader {
  private buffer = Buffer.alloc(0);
  private offset = 0;
  private position = HEADER_BYTES;
  private ended = false;
  truncated = false;

  constructor(
    private readonly handle: FileHandle,
    readonly file: string,
    readonly header: PcapHeader,
  ) {}

  static async open(file: string): Promise<PcapReader> {
    const handle = await open(file, 'r');
    try {
      const head = Buffer.alloc(HEADER_BYTES);
      const { bytesRead } = await handle.read(head, 0, HEADER_BYTES, 0);
      return new PcapReader(handle, file, parsePcapHeader(head.subarray(0, bytesRead), basename(file)));
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Makes at least `n` unread bytes available; false at the end of the file. */
  private async fill(n: number): Promise<boolean> {
    while (this.buffer.length - this.offset < n) {
      if (this.ended) return false;
      const want = Math.max(READ_CHUNK, n - (this.buffer.length - this.offset));
      const chunk = Buffer.alloc(want);
      const { bytesRead } = await this.handle.read(chunk, 0, want, this.position);
      if (bytesRead === 0) this.ended = true;
      this.position += bytesRead;
      this.buffer = Buffer.concat([this.buffer.subarray(this.offset), chunk.subarray(0, bytesRead)]);
      this.offset = 0;
    }
    return true;
  }

  async next(): Promise<PacketRecord | undefined> {
    if (!(await this.fill(RECORD_HEADER_BYTES))) {
      this.truncated ||= this.buffer.length > this.offset;
      return undefined;
    }
    const le = this.header.littleEndian;
    const u32 = (at: number) =>
      le ? this.buffer.readUInt32LE(this.offset + at) : this.buffer.readUInt32BE(this.offset + at);
    const sec = u32(0);
    const frac = u32(4);
    const inclLen = u32(8);
    const origLen = u32(12);
    if (inclLen > MAX_RECORD_BYTES) {
      throw new DebugTaskError(
        'INVALID_ARGUMENT',
        `${basename(this.file)} is damaged: a record claims ${inclLen} bytes at offset ${this.position - (this.buffer.length - this.offset)}.`,
      );
    }
    if (!(await this.fill(RECORD_HEADER_BYTES + inclLen))) {
      this.truncated = true;
      return undefined;
    }
    const start = this.offset + RECORD_HEADER_BYTES;
    const data = this.buffer.subarray(start, start + inclLen);
    this.offset = start + inclLen;
    return { sec, nsec: this.header.nanoseconds ? frac : frac * 1000, origLen, data };
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** A min-heap of readers by their current record's time; ties go to the later input, as in mergecap. */
interface Head {
  index: number;
  record: PacketRecord;
}
const before = (a: Head, b: Head) =>
  a.record.sec !== b.record.sec
    ? a.record.sec < b.record.sec
    : a.record.nsec !== b.record.nsec
      ? a.record.nsec < b.record.nsec
      : a.index > b.index;

class MinHeap {
  private readonly items: Head[] = [];
  get size(): number {
    return this.items.length;
  }
  push(item: Head): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(a[i], a[parent])) break;
      [a[i], a[parent]] = [a[parent], a[i]];
      i = parent;
    }
  }
  pop(): Head | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l], a[m])) m = l;
        if (r < a.length && before(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

/** The built-in merger: k-way merge by timestamp into `output` (written whole or not at all). */
export async function mergePcapFiles(inputs: readonly string[], output: string): Promise<MergeResult> {
  if (inputs.length === 0) throw new DebugTaskError('INVALID_ARGUMENT', 'There is no pcap to merge.');
  const readers: PcapReader[] = [];
  const partial = `${output}.partial`;
  let out: FileHandle | undefined;
  try {
    for (const file of inputs) readers.push(await PcapReader.open(file));
    assertOneLinkType(readers.map((r) => ({ file: r.file, linkType: r.header.linkType })));
    const nanoseconds = readers.some((r) => r.header.nanoseconds);
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32LE(nanoseconds ? MAGIC_NS : MAGIC_US, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(Math.max(...readers.map((r) => r.header.snaplen)), 16);
    header.writeUInt32LE(readers[0].header.linkType, 20);

    out = await open(partial, 'w');
    const pending: Buffer[] = [header];
    let pendingBytes = header.length;
    const flush = async () => {
      if (pendingBytes === 0) return;
      await out!.write(Buffer.concat(pending, pendingBytes));
      pending.length = 0;
      pendingBytes = 0;
    };

    const heap = new MinHeap();
    for (const [index, reader] of readers.entries()) {
      const record = await reader.next();
      if (record) heap.push({ index, record });
    }
    let packets = 0;
    for (let head = heap.pop(); head; head = heap.pop()) {
      const { record } = head;
      const recordHeader = Buffer.alloc(RECORD_HEADER_BYTES);
      recordHeader.writeUInt32LE(record.sec, 0);
      recordHeader.writeUInt32LE(nanoseconds ? record.nsec : Math.floor(record.nsec / 1000), 4);
      recordHeader.writeUInt32LE(record.data.length, 8);
      recordHeader.writeUInt32LE(record.origLen, 12);
      // The record's bytes are a view of the reader's buffer, which the next read replaces: copy.
      pending.push(recordHeader, Buffer.from(record.data));
      pendingBytes += RECORD_HEADER_BYTES + record.data.length;
      packets++;
      if (pendingBytes >= WRITE_CHUNK) await flush();
      const next = await readers[head.index].next();
      if (next) heap.push({ index: head.index, record: next });
    }
    await flush();
    await out.close();
    out = undefined;
    await rename(partial, output);
    const truncatedInputs = readers.filter((r) => r.truncated).map((r) => r.file);
    return {
      path: output,
      via: 'debug-task',
      packets,
      ...(truncatedInputs.length > 0 && { truncatedInputs }),
    };
  } catch (error) {
    await out?.close().catch(() => undefined);
    await rm(partial, { force: true });
    throw error;
  } finally {
    await Promise.all(readers.map((r) => r.close().catch(() => undefined)));
  }
}

function assertOneLinkType(inputs: { file: string; linkType: number }[]): void {
  const types = new Map<number, string[]>();
  for (const { file, linkType } of inputs) types.set(linkType, [...(types.get(linkType) ?? []), file]);
  if (types.size <= 1) return;
  const groups = [...types].map(
    ([type, files]) => `link type ${type}: ${files.map((f) => basename(f)).join(', ')}`,
  );
  throw new DebugTaskError(
    'INVALID_ARGUMENT',
    `These captures have different link types and cannot go in one pcap: ${groups.join('; ')}.`,
    {
      hint: 'Open them side by side in Wireshark, or merge to pcapng with `mergecap -w merged.pcapng FILES`.',
      details: {
        linkTypes: Object.fromEntries([...types].map(([t, f]) => [String(t), f.map((x) => basename(x))])),
      },
    },
  );
}

/**
 * Merges `inputs` into `output`: with mergecap when it is on PATH (classic pcap out, nanosecond
 * when an input is), else with the built-in merger. Headers are checked first either way, so a
 * link-type mismatch is the same error whichever merges.
 */
export async function mergePcaps(
  inputs: readonly string[],
  output: string,
  options: MergeOptions = {},
): Promise<MergeResult> {
  if (inputs.length === 0) throw new DebugTaskError('INVALID_ARGUMENT', 'There is no pcap to merge.');
  const headers: { file: string; header: PcapHeader }[] = [];
  for (const file of inputs) {
    const handle = await open(file, 'r');
    try {
      const head = Buffer.alloc(HEADER_BYTES);
      const { bytesRead } = await handle.read(head, 0, HEADER_BYTES, 0);
      headers.push({ file, header: parsePcapHeader(head.subarray(0, bytesRead), basename(file)) });
    } finally {
      await handle.close();
    }
  }
  assertOneLinkType(headers.map(({ file, header }) => ({ file, linkType: header.linkType })));
  const mergecap = options.mergecap ?? 'mergecap';
  if (mergecap !== false) {
    const format = headers.some((h) => h.header.nanoseconds) ? 'nsecpcap' : 'pcap';
    const partial = `${output}.partial`;
    const ran = await run(mergecap, ['-F', format, '-w', partial, ...inputs]);
    if (ran === 'missing') {
      // Not installed: the built-in merger below.
    } else if (ran.code === 0) {
      await rename(partial, output);
      return { path: output, via: 'mergecap' };
    } else {
      await rm(partial, { force: true });
      throw new DebugTaskError('INVALID_ARGUMENT', `mergecap failed: ${ran.stderr.trim().slice(0, 500)}`, {
        hint: 'The per-task captures are in the folder; merge them by hand, or open them side by side.',
      });
    }
  }
  return mergePcapFiles(inputs, output);
}

function run(file: string, args: string[]): Promise<{ code: number; stderr: string } | 'missing'> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 300_000 }, (error, _stdout, stderr) => {
      if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') return resolve('missing');
      resolve({
        code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
        stderr: String(stderr),
      });
    });
  });
}
