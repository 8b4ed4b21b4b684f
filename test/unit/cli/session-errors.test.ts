import { PassThrough } from 'node:stream';
import { emptyCaptureWarning, printError, printOutcome, type Output } from '../../../lib/cli/output';
import type { SessionOutcome } from '../../../lib/cli/session-runner';
import { DebugTaskError, inSession } from '../../../lib/domain/errors';

function capture(json: boolean): { output: Output; text: () => { out: string; err: string } } {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d: Buffer) => (o += d.toString()));
  err.on('data', (d: Buffer) => (e += d.toString()));
  return { output: { json, debug: false, out, err }, text: () => ({ out: o, err: e }) };
}

describe('errors of a session that exists', () => {
  const failed = new DebugTaskError('UPLOAD_FAILED', 'The host could not upload.');

  it('carry the session id and a hint with the real id instead of SESSION', () => {
    const error = inSession(failed, 'dt-20261206000000-abcdef');
    expect(error.code).toBe('UPLOAD_FAILED');
    expect(error.hint).toBe(
      'The artifact is kept on the host: `debug-task fetch dt-20261206000000-abcdef` uploads it again.',
    );
    expect(error.details).toEqual({ sessionId: 'dt-20261206000000-abcdef' });
  });

  it('print the session under the error, and beside it with --json', async () => {
    const error = inSession(failed, 'dt-20261206000000-abcdef');
    const text = capture(false);
    const json = capture(true);

    expect(printError(text.output, error)).toBe(4);
    expect(printError(json.output, error)).toBe(4);
    await new Promise((r) => setImmediate(r));

    expect(text.text().err).toContain('\n  session: dt-20261206000000-abcdef\n');
    expect(JSON.parse(json.text().out)).toMatchObject({
      sessionId: 'dt-20261206000000-abcdef',
      error: { code: 'UPLOAD_FAILED', hint: expect.stringContaining('fetch dt-20261206000000-abcdef') },
    });
  });

  it('make anything else an AWS_ERROR of that session', () => {
    expect(inSession(new Error('socket hang up'), 'dt-x-y')).toMatchObject({
      code: 'AWS_ERROR',
      message: 'socket hang up',
      details: { sessionId: 'dt-x-y' },
    });
  });

  it('print no session before one exists (exit 2 errors)', async () => {
    const json = capture(true);
    printError(json.output, new DebugTaskError('INVALID_ARGUMENT', 'bad'));
    await new Promise((r) => setImmediate(r));
    expect(JSON.parse(json.text().out)).not.toHaveProperty('sessionId');
  });
});

describe('an empty capture', () => {
  it('is told, with the filter, the interface and lo as likely reasons', () => {
    const lines = emptyCaptureWarning({
      tool: { name: 'tcpdump', exitCode: 0, packets: 0 },
      artifact: { format: 'pcap' } as never,
    }).join(' ');
    expect(lines).toMatch(/0 packets captured/);
    expect(lines).toMatch(/--filter/);
    expect(lines).toMatch(/--iface lo/);
  });

  /** A finished capture of `packets` packets, as the main command, local and demo print it. */
  const outcome = (packets: number): SessionOutcome => ({
    sessionId: 'dt-20261206000000-abcdef',
    status: 'SUCCEEDED',
    target: { taskArn: 'web', clusterArn: 'local', container: 'web', instanceId: 'this machine' },
    tool: { name: 'tcpdump', exitCode: 0, packets },
    artifact: {
      path: '/tmp/x.pcap',
      s3Uri: '',
      bytes: 24,
      sha256: 'ab'.repeat(32),
      format: 'pcap',
      truncated: false,
    },
    timings: { totalSeconds: 4, captureSeconds: 3, overheadSeconds: 1, downloadSeconds: 0 },
  });

  it('is a warning under the summary and "warnings" in --json, the same sentence', async () => {
    const text = capture(false);
    const json = capture(true);

    printOutcome(text.output, outcome(0));
    printOutcome(json.output, outcome(0));
    await new Promise((resolve) => setImmediate(resolve));

    const { warnings } = JSON.parse(json.text().out) as { warnings: string[] };
    expect(warnings).toEqual([expect.stringMatching(/^0 packets captured\. Likely: the --filter/)]);
    expect(text.text().out.replace(/\n {10}/g, ' ')).toContain(`warning   ${warnings[0]}`);
  });

  it('adds no "warnings" to --json when there were packets', async () => {
    const json = capture(true);

    printOutcome(json.output, outcome(5));
    await new Promise((resolve) => setImmediate(resolve));

    expect(JSON.parse(json.text().out)).not.toHaveProperty('warnings');
  });

  it('is not told when there were packets, or for text', () => {
    expect(
      emptyCaptureWarning({
        tool: { name: 'tcpdump', exitCode: 0, packets: 3 },
        artifact: { format: 'pcap' } as never,
      }),
    ).toEqual([]);
    expect(
      emptyCaptureWarning({ tool: { name: 'ngrep', exitCode: 0 }, artifact: { format: 'text' } as never }),
    ).toEqual([]);
  });
});
