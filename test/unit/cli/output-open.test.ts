import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { printOutcome, shellWord, type Output } from '../../../lib/cli/output';
import type { SessionOutcome } from '../../../lib/cli/session-runner';

/** After a capture the summary says how to open it where people look at packets. */

function summary(artifact: Partial<SessionOutcome['artifact']>): string {
  const out = new PassThrough();
  const output: Output = { json: false, debug: false, out, err: new PassThrough() };
  printOutcome(output, {
    sessionId: 'dt-20261125120000-abc123',
    status: 'SUCCEEDED',
    target: { taskArn: 'arn', clusterArn: 'c', container: 'web', instanceId: 'i-0' },
    tool: { name: 'tcpdump', exitCode: 0 },
    artifact: {
      path: '/tmp/x.pcap',
      s3Uri: 's3://b/k',
      bytes: 10,
      sha256: 'ab',
      format: 'pcap',
      truncated: false,
      ...artifact,
    },
    timings: { totalSeconds: 1, captureSeconds: 1, overheadSeconds: 0, downloadSeconds: 0 },
  });
  return out.read().toString();
}

describe('the summary of a capture', () => {
  it('says how to open a pcap: wireshark, or tshark and tcpdump without a GUI', () => {
    expect(summary({ path: '/tmp/x.pcap' })).toContain(
      'open      wireshark /tmp/x.pcap   (no GUI: tshark -r /tmp/x.pcap, or tcpdump -nn -r /tmp/x.pcap)\n',
    );
  });

  it('shows a file under the current directory by its relative path', () => {
    expect(summary({ path: join(process.cwd(), 'captures', 'x.pcap') })).toContain(
      'open      wireshark captures/x.pcap   (no GUI: tshark -r captures/x.pcap,',
    );
  });

  it('quotes a path the shell would split or expand', () => {
    expect(summary({ path: "/tmp/my capture's.pcap" })).toContain(`wireshark '/tmp/my capture'\\''s.pcap'`);
  });

  it('says nothing of the kind for text, nor for an artifact written to stdout', () => {
    expect(summary({ path: '/tmp/x.txt', format: 'text' })).not.toContain('open ');
    expect(summary({ path: '-' })).not.toContain('open ');
  });

  it.each([
    ['/tmp/a.pcap', '/tmp/a.pcap'],
    ['a b', "'a b'"],
    ['$(id)', "'$(id)'"],
    ["it's", "'it'\\''s'"],
  ])('shellWord(%j) is %s', (text, word) => {
    expect(shellWord(text)).toBe(word);
  });
});
