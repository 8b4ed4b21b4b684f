import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergePcapFiles, mergePcaps, parsePcapHeader } from '../../../lib/cli/pcap-merge';
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

describe('the pcap merger', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'debug-task-merge-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('merges µs and ns files of either byte order in time order, exactly as mergecap does', async () => {
    const a = join(dir, 'a.pcap');
    const b = join(dir, 'b.pcap');
    const c = join(dir, 'c.pcap');
    writeFileSync(
      a,
      pcap({ le: true, snaplen: 1500 }, [
        { sec: 100, frac: 1, data: frame(5011) },
        { sec: 100, frac: 500_000, data: frame(5012) },
        { sec: 102, frac: 0, data: frame(5013) },
      ]),
    );
    writeFileSync(
      b,
      pcap({ le: false, ns: true, snaplen: 9000 }, [
        { sec: 100, frac: 400, data: frame(5021) },
        { sec: 100, frac: 500_000_001, data: frame(5022) },
        { sec: 101, frac: 999_999_999, data: frame(5023) },
      ]),
    );
    writeFileSync(
      c,
      pcap({ le: false, snaplen: 65535 }, [
        { sec: 99, frac: 999_999, data: frame(5031) },
        { sec: 102, frac: 0, data: frame(5032) }, // ties a3: the later input goes first, as in mergecap
      ]),
    );
    const ours = join(dir, 'ours.pcap');
    const theirs = join(dir, 'theirs.pcap');

    const merged = await mergePcaps([a, b, c], ours, { mergecap: false });
    execFileSync('mergecap', ['-F', 'nsecpcap', '-w', theirs, a, b, c]);

    expect(merged).toMatchObject({ via: 'debug-task', packets: 8 });
    const lines = tcpdumpLines(ours);
    expect(lines.map((l) => /10\.0\.0\.1\.(\d+)/.exec(l)?.[1])).toEqual(
      ['5031', '5021', '5011', '5012', '5022', '5023', '5032', '5013'], // c1 b1 a1 a2 b2 b3 c2 a3
    );
    expect(lines).toEqual(tcpdumpLines(theirs));
    expect(capinfos(ours)).toEqual({ packets: 8, snaplen: 65535 });
    expect(parsePcapHeader(readFileSync(ours), 'ours')).toEqual({
      littleEndian: true,
      nanoseconds: true,
      snaplen: 65535,
      linkType: 1,
    });
  });

  it('keeps microsecond precision when every input is microsecond', async () => {
    const a = join(dir, 'a.pcap');
    const b = join(dir, 'b.pcap');
    writeFileSync(a, pcap({}, [{ sec: 5, frac: 7, data: frame(5011) }]));
    writeFileSync(b, pcap({ le: false }, [{ sec: 5, frac: 3, data: frame(5021) }]));
    const out = join(dir, 'm.pcap');
    await mergePcapFiles([a, b], out);
    expect(parsePcapHeader(readFileSync(out), 'm').nanoseconds).toBe(false);
    expect(tcpdumpLines(out).map((l) => l.split(' ')[0])).toEqual(['5.000003000', '5.000007000']);
  });

  it('refuses inputs of different link types, naming the files, whoever merges', async () => {
    const eth = join(dir, 'task-a.pcap');
    const sll = join(dir, 'task-b.pcap');
    writeFileSync(eth, pcap({ linkType: 1 }, [{ sec: 1, frac: 0, data: frame(5041) }]));
    writeFileSync(sll, pcap({ linkType: 113 }, [{ sec: 1, frac: 0, data: frame(5042) }]));
    for (const mergecap of [false, undefined] as const) {
      const error = await mergePcaps([eth, sll], join(dir, 'm.pcap'), { mergecap }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DebugTaskError);
      expect(error).toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/link type 1: task-a\.pcap; link type 113: task-b\.pcap/),
      });
    }
  });

  it('leaves out a record cut short at the end of an input and says which input', async () => {
    const whole = pcap({}, [
      { sec: 1, frac: 0, data: frame(5051) },
      { sec: 3, frac: 0, data: frame(5052) },
    ]);
    const cut = join(dir, 'cut.pcap');
    writeFileSync(cut, whole.subarray(0, whole.length - 5));
    const other = join(dir, 'other.pcap');
    writeFileSync(other, pcap({}, [{ sec: 2, frac: 0, data: frame(5061) }]));
    const out = join(dir, 'm.pcap');
    const merged = await mergePcapFiles([cut, other], out);
    expect(merged).toMatchObject({ packets: 2, truncatedInputs: [cut] });
    expect(tcpdumpLines(out)).toHaveLength(2);
  });

  it('refuses pcapng with a hint to install mergecap, and writes nothing', async () => {
    const ng = join(dir, 'ng.pcapng');
    writeFileSync(ng, Buffer.from('0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000', 'hex'));
    const out = join(dir, 'm.pcap');
    await expect(mergePcapFiles([ng], out)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      hint: expect.stringMatching(/mergecap/),
    });
    expect(() => readFileSync(out)).toThrow();
  });

  it('says it merged with mergecap when mergecap is on PATH', async () => {
    const a = join(dir, 'a.pcap');
    writeFileSync(a, pcap({}, [{ sec: 1, frac: 0, data: frame(5011) }]));
    const out = join(dir, 'm.pcap');
    expect(await mergePcaps([a], out)).toMatchObject({ via: 'mergecap' });
    expect(await mergePcaps([a], out, { mergecap: '/nonexistent/mergecap' })).toMatchObject({
      via: 'debug-task',
    });
    expect(capinfos(out).packets).toBe(1);
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

    it('merges two live captures into the same packets, in the same order, as mergecap', async () => {
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
      const ours = join(dir, 'ours.pcap');
      const theirs = join(dir, 'theirs.pcap');
      await mergePcaps([a, b], ours, { mergecap: false });
      execFileSync('mergecap', ['-F', 'pcap', '-w', theirs, a, b]);

      const inputs = capinfos(a).packets + capinfos(b).packets;
      expect(inputs).toBeGreaterThanOrEqual(2 * 10 * 7); // ~10 packets per HTTP/1.1 request
      expect(capinfos(ours).packets).toBe(inputs);
      const lines = tcpdumpLines(ours);
      expect(lines).toEqual(tcpdumpLines(theirs));
      const t = times(lines);
      expect(t).toEqual([...t].sort((x, y) => x - y));
      expect(readFileSync(ours).equals(readFileSync(theirs))).toBe(true);
    });
  });
});
