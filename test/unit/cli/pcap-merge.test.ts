import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertMergecap, mergePcaps } from '../../../lib/cli/pcap-merge';
import { DebugTaskError } from '../../../lib/domain/errors';

jest.setTimeout(60_000);

interface Packet {
  sec: number;
  /** micro- or nanoseconds, as the file's magic says */
  frac: number;
  data: Buffer;
}

/** A classic pcap from known packets, in the given byte order and precision. */
function pcap(
  options: { le?: boolean; ns?: boolean; linkType?: number; snaplen?: number },
  packets: Packet[],
) {
  const le = options.le ?? true;
  const u32 = (value: number) => {
    const b = Buffer.alloc(4);
    if (le) b.writeUInt32LE(value);
    else b.writeUInt32BE(value);
    return b;
  };
  const u16 = (value: number) => {
    const b = Buffer.alloc(2);
    if (le) b.writeUInt16LE(value);
    else b.writeUInt16BE(value);
    return b;
  };
  const parts: Buffer[] = [
    u32(options.ns ? 0xa1b23c4d : 0xa1b2c3d4),
    u16(2),
    u16(4),
    u32(0),
    u32(0),
    u32(options.snaplen ?? 262144),
    u32(options.linkType ?? 1),
  ];
  for (const p of packets)
    parts.push(u32(p.sec), u32(p.frac), u32(p.data.length), u32(p.data.length), p.data);
  return Buffer.concat(parts);
}

/** An Ethernet + IPv4 + UDP frame; its source port names it in tcpdump's output. */
function frame(sourcePort: number): Buffer {
  const payload = Buffer.from('debug-task');
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(sourcePort, 0);
  udp.writeUInt16BE(6000, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  const ip = Buffer.alloc(20);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(20 + 8 + payload.length, 2);
  ip.writeUInt8(64, 8);
  ip.writeUInt8(17, 9);
  Buffer.from([10, 0, 0, 1]).copy(ip, 12);
  Buffer.from([10, 0, 0, 2]).copy(ip, 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  ip.writeUInt16BE(~sum & 0xffff, 10);
  const eth = Buffer.from('020000000002020000000001' + '0800', 'hex');
  return Buffer.concat([eth, ip, udp, payload]);
}

/** tcpdump's reading of a file: one line per packet, epoch time in nanoseconds. */
function tcpdumpLines(file: string): string[] {
  return execFileSync('tcpdump', ['-nn', '-tt', '--time-stamp-precision=nano', '-r', file], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  })
    .trim()
    .split('\n')
    .filter(Boolean);
}

function capinfos(file: string): { packets: number; snaplen: number } {
  const text = execFileSync('capinfos', ['-c', '-l', '-M', file], { encoding: 'utf8' });
  return {
    packets: Number(/Number of packets:\s+(\d+)/.exec(text)?.[1]),
    snaplen: Number(/Packet size limit:\s+file hdr: (\d+)/.exec(text)?.[1]),
  };
}

const times = (lines: string[]) => lines.map((l) => Number(l.split(' ')[0]));

describe('merging with mergecap', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'debug-task-merge-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, bytes: Buffer) => {
    const file = join(dir, name);
    writeFileSync(file, bytes);
    return file;
  };

  it('merges µs and ns files of either byte order in time order, nanoseconds kept', async () => {
    const a = write(
      'a.pcap',
      pcap({ le: true }, [
        { sec: 5, frac: 3, data: frame(5001) },
        { sec: 7, frac: 0, data: frame(5002) },
      ]),
    );
    const b = write(
      'b.pcap',
      pcap({ le: false, ns: true }, [
        { sec: 5, frac: 2500, data: frame(5003) },
        { sec: 6, frac: 999_999_999, data: frame(5004) },
      ]),
    );
    const out = join(dir, 'merged.pcap');

    await expect(mergePcaps([a, b], out)).resolves.toEqual({ path: out, via: 'mergecap' });

    const lines = tcpdumpLines(out);
    expect(lines.map((l) => l.split(' ')[0])).toEqual([
      '5.000002500',
      '5.000003000',
      '6.999999999',
      '7.000000000',
    ]);
    expect(lines.map((l) => /\.(500[1-4]) >/.exec(l)?.[1])).toEqual(['5003', '5001', '5004', '5002']);
    expect(capinfos(out).packets).toBe(4);
    expect(readdirSync(dir).sort()).toEqual(['a.pcap', 'b.pcap', 'merged.pcap']);
  });

  it('fails with INVALID_ARGUMENT saying what mergecap said, and leaves no file, when the inputs cannot be merged', async () => {
    const a = write('a.pcap', pcap({ linkType: 1 }, [{ sec: 5, frac: 0, data: frame(5001) }]));
    const b = write('b.pcap', pcap({ linkType: 113 }, [{ sec: 4, frac: 0, data: frame(5002) }]));
    const out = join(dir, 'merged.pcap');

    const error = await mergePcaps([a, b], out).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DebugTaskError);
    expect(error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/^mergecap failed: .+/),
      hint: expect.stringContaining('per-task captures are in the folder'),
    });
    expect(readdirSync(dir).sort()).toEqual(['a.pcap', 'b.pcap']);
  });

  it('fails with INVALID_ARGUMENT and how to install it when mergecap is not there, merging nothing', async () => {
    const a = write('a.pcap', pcap({}, [{ sec: 1, frac: 0, data: frame(5011) }]));
    const out = join(dir, 'merged.pcap');

    const error = await mergePcaps([a], out, { mergecap: '/nonexistent/mergecap' }).catch((e: unknown) => e);

    expect(error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'mergecap is not installed here: nothing was merged.',
      hint: expect.stringContaining('wireshark-common'),
    });
    expect(readdirSync(dir)).toEqual(['a.pcap']);
  });

  it('refuses to merge nothing', async () => {
    await expect(mergePcaps([], join(dir, 'merged.pcap'))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('lets --merge through when mergecap runs, and refuses it (before anything starts) when it does not', async () => {
    await expect(assertMergecap()).resolves.toBeUndefined();
    await expect(assertMergecap({ mergecap: '/nonexistent/mergecap' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: '--merge needs mergecap, which is not installed here.',
      hint: expect.stringContaining('drop --merge'),
    });
  });

  describe('on real captures (tcpdump on loopback)', () => {
    let servers: Server[];
    beforeAll(async () => {
      servers = await Promise.all(
        [0, 1].map(
          () =>
            new Promise<Server>((resolve) => {
              const server = createServer((_req, res) => res.end('hello'));
              server.listen(0, '127.0.0.1', () => resolve(server));
            }),
        ),
      );
    });
    afterAll(() => servers.forEach((s) => s.close()));

    const port = (s: Server) => (s.address() as AddressInfo).port;
    const request = (p: number) =>
      new Promise<void>((resolve, reject) =>
        get({ host: '127.0.0.1', port: p, path: '/', agent: false }, (res) => {
          res.resume();
          res.on('end', resolve);
        }).on('error', reject),
      );
    const capture = (file: string, p: number): Promise<ChildProcess> =>
      new Promise((resolve, reject) => {
        const child = spawn(
          'tcpdump',
          ['-i', 'lo', '-nn', '--immediate-mode', '-U', '-w', file, `tcp port ${p}`],
          {
            stdio: ['ignore', 'ignore', 'pipe'],
          },
        );
        child.on('error', reject);
        child.stderr!.on('data', (d: Buffer) => {
          if (d.toString().includes('listening on')) resolve(child);
        });
      });

    it('merges two live captures into every packet of both, in time order', async () => {
      const [pa, pb] = servers.map(port);
      const a = join(dir, 'a.pcap');
      const b = join(dir, 'b.pcap');
      const dumps = await Promise.all([capture(a, pa), capture(b, pb)]);
      for (let i = 0; i < 10; i++) {
        await request(pa);
        await request(pb);
      }
      await new Promise((r) => setTimeout(r, 300));
      await Promise.all(
        dumps.map((d) => new Promise<void>((resolve) => (d.on('close', () => resolve()), d.kill('SIGINT')))),
      );
      const merged = join(dir, 'merged.pcap');
      await mergePcaps([a, b], merged);

      const inputs = capinfos(a).packets + capinfos(b).packets;
      expect(inputs).toBeGreaterThanOrEqual(2 * 10 * 7); // ~10 packets per HTTP/1.1 request
      expect(capinfos(merged).packets).toBe(inputs);
      const lines = tcpdumpLines(merged);
      expect([...lines].sort()).toEqual([...tcpdumpLines(a), ...tcpdumpLines(b)].sort());
      const t = times(lines);
      expect(t).toEqual([...t].sort((x, y) => x - y));
    });
  });
});
