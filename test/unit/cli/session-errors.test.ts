import { PassThrough } from 'node:stream';
import { emptyCaptureWarning, printError, type Output } from '../../../lib/cli/output';
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
