import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DebugTaskError } from '../domain/errors';

/**
 * A pcap file header and nothing else (Ethernet link type): enough for `tcpdump -d -r` to compile
 * a filter as it would for a task's eth0, without a capture device or any privilege.
 */
// magic (little-endian), version 2.4, thiszone 0, sigfigs 0, snaplen 262144, linktype 1 (EN10MB)
const EMPTY_ETHERNET_PCAP = Buffer.from(
  'd4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + '00000400' + '01000000',
  'hex',
);

export type FilterCheck = 'compiled' | 'no-tcpdump';

/**
 * Compiles a BPF filter with this machine's tcpdump, when it has one, so a typo is INVALID_FILTER
 * (exit 2) before a session starts rather than a failed session a minute later. The host runner
 * compiles it again, with the toolbox's tcpdump, before it captures: that check is the one that
 * always happens.
 */
export async function precompileFilter(filter: string, tcpdump = 'tcpdump'): Promise<FilterCheck> {
  const dir = await mkdtemp(join(tmpdir(), 'debug-task-filter-'));
  try {
    const header = join(dir, 'empty.pcap');
    await writeFile(header, EMPTY_ETHERNET_PCAP);
    const result = await run(tcpdump, ['-d', '-r', header, filter]);
    if (result === 'missing') return 'no-tcpdump';
    if (result.code !== 0) {
      const reason = result.stderr
        .split('\n')
        .filter((line) => line.startsWith('tcpdump: '))
        .join(' ')
        .replace(/^tcpdump: /, '');
      throw new DebugTaskError(
        'INVALID_FILTER',
        `The filter ${JSON.stringify(filter)} does not compile: ${reason || 'tcpdump refused it'}.`,
        {
          details: { received: filter },
        },
      );
    }
    return 'compiled';
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function run(file: string, args: string[]): Promise<{ code: number; stderr: string } | 'missing'> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 10_000 }, (error, _stdout, stderr) => {
      if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') return resolve('missing');
      resolve({
        code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
        stderr: String(stderr),
      });
    });
  });
}
