import { countPcapRecords, sessionLabel } from '../../integ/probe/probe';

/** A classic little-endian pcap with records of the given lengths. */
function pcap(...lengths: number[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(1, 20);
  const records = lengths.map((length) => {
    const record = Buffer.alloc(16 + length);
    record.writeUInt32LE(length, 8);
    record.writeUInt32LE(length, 12);
    return record;
  });
  return Buffer.concat([header, ...records]);
}

describe('the integration probe', () => {
  it('counts the records of a pcap', () => {
    expect(countPcapRecords(pcap(), 'empty.pcap')).toBe(0);
    expect(countPcapRecords(pcap(60, 1514, 42), 'three.pcap')).toBe(3);
  });

  it('refuses a pcap whose last record is cut short', () => {
    expect(() => countPcapRecords(pcap(60).subarray(0, 24 + 16 + 10), 'cut.pcap')).toThrow(
      'cut.pcap: record 1 is cut short (truncated capture).',
    );
  });

  it("reads the session of a toolbox container from docker ps's JSON labels", () => {
    expect(sessionLabel({ Labels: 'debug-task.tool=tcpdump,debug-task.session=dt-1-0001,x=y' })).toBe(
      'dt-1-0001',
    );
    expect(sessionLabel({ Labels: 'com.amazonaws.ecs.cluster=c' })).toBeUndefined();
    expect(sessionLabel({})).toBeUndefined();
  });
});
