import { execFileSync } from 'node:child_process';

/** The packets of a pcap as the host's tcpdump prints them (`-nn -r`), one line each. */
export function tcpdumpLines(path: string): string[] {
  return execFileSync('tcpdump', ['-nn', '-r', path], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  })
    .trim()
    .split('\n');
}
