import type { Command } from 'commander';
import { buildProgram } from '../../../lib/cli/main';
import { buildSessionRequest, parseSnaplen } from '../../../lib/cli/request';
import { parseRingFlag } from '../../../lib/domain/units';
import { SNAPLEN } from '../../../lib/domain/params';
import { parseSessionRequest } from '../../../lib/domain/session-spec';

const TASK = 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef';

/** The options commander gives the command `name` (the main command when undefined); runs nothing. */
function optionsOf(argv: string[], name?: string): Record<string, unknown> {
  const program = buildProgram(() => undefined);
  program.parse(argv, { from: 'user' });
  const command: Command = name ? program.commands.find((c) => c.name() === name)! : program;
  return command.opts();
}

describe('--allow-host-pid', () => {
  it.each([
    ['the main command', [TASK, '--tool', 'strace'], undefined],
    ['local', ['local', 'web', '--tool', 'strace'], 'local'],
    ['demo', ['demo'], 'demo'],
  ])('is a flag of %s, off unless given', (_label, argv, name) => {
    expect(optionsOf(argv, name).allowHostPid).toBeUndefined();
    expect(optionsOf([...argv, '--allow-host-pid'], name).allowHostPid).toBe(true);
  });

  it('goes into the request as allowHostPid: true only when given; the spec defaults to false', () => {
    const asked = buildSessionRequest({ task: TASK }, { tool: 'strace', allowHostPid: true });
    const plain = buildSessionRequest({ task: TASK }, { tool: 'strace' });

    expect(parseSessionRequest(asked).allowHostPid).toBe(true);
    expect('allowHostPid' in plain).toBe(false);
    expect(parseSessionRequest(plain).allowHostPid).toBe(false);
  });
});

describe('--allow-host-network', () => {
  it.each([
    ['the main command', [TASK, '--tool', 'tcpdump'], undefined],
    ['local', ['local', 'web', '--tool', 'tcpdump'], 'local'],
    ['demo', ['demo'], 'demo'],
  ])('is a flag of %s, off unless given', (_label, argv, name) => {
    expect(optionsOf(argv, name).allowHostNetwork).toBeUndefined();
    expect(optionsOf([...argv, '--allow-host-network'], name).allowHostNetwork).toBe(true);
  });

  it('goes into the request as allowHostNetwork: true, and the spec then allows the host network', () => {
    const request = buildSessionRequest({ task: TASK }, { tool: 'tcpdump', allowHostNetwork: true });

    expect(request.allowHostNetwork).toBe(true);
    expect(parseSessionRequest(request).allowHostNetwork).toBe(true);
  });

  it('stays out of the request without the flag: the spec (and the host) refuse the host network', () => {
    const request = buildSessionRequest({ task: TASK }, { tool: 'tcpdump' });

    expect('allowHostNetwork' in request).toBe(false);
    expect(parseSessionRequest(request).allowHostNetwork).toBe(false);
  });
});

describe('--snaplen', () => {
  it.each([
    ['the main command', [TASK, '--tool', 'tcpdump'], undefined],
    ['local', ['local', 'web'], 'local'],
    ['demo', ['demo'], 'demo'],
  ])('is a flag of %s, absent unless given', (_label, argv, name) => {
    expect(optionsOf(argv, name).snaplen).toBeUndefined();
    expect(optionsOf([...argv, '--snaplen', '96'], name).snaplen).toBe('96');
  });

  it('goes into the request as a number, and the spec keeps it; without it the spec has tcpdump’s maximum', () => {
    const asked = buildSessionRequest({ task: TASK }, { tool: 'tcpdump', snaplen: '96' });
    const plain = buildSessionRequest({ task: TASK }, { tool: 'tcpdump' });

    expect(asked.snaplen).toBe(96);
    expect(parseSessionRequest(asked).snaplen).toBe(96);
    expect('snaplen' in plain).toBe(false);
    expect(parseSessionRequest(plain).snaplen).toBe(SNAPLEN.max);
  });

  it.each(['0', '96', String(SNAPLEN.max)])('takes %s', (text) => {
    expect(parseSnaplen(text)).toBe(Number(text));
  });

  it.each(['-1', '96.5', '1k', 'ninety', '', String(SNAPLEN.max + 1), '99999999'])(
    'refuses %j with INVALID_ARGUMENT naming the range, before anything starts',
    (text) => {
      expect(() => buildSessionRequest({ task: TASK }, { tool: 'tcpdump', snaplen: text })).toThrow(
        expect.objectContaining({
          code: 'INVALID_ARGUMENT',
          message: expect.stringContaining(`${SNAPLEN.min} to ${SNAPLEN.max}`),
        }),
      );
    },
  );
});

describe('debug-task stop', () => {
  it('takes a session id, --cluster, --no-wait and --json, like cancel', () => {
    expect(optionsOf(['stop', 'dt-x-y'], 'stop')).toMatchObject({ wait: true });
    expect(optionsOf(['stop', 'dt-x-y', '-c', 'prod', '--no-wait', '--json'], 'stop')).toMatchObject({
      cluster: 'prod',
      wait: false,
      json: true,
    });
  });
});

describe('--ring', () => {
  it.each([
    ['the main command', [TASK, '--tool', 'tcpdump'], undefined],
    ['local', ['local', 'web'], 'local'],
    ['demo', ['demo'], 'demo'],
  ])('is a flag of %s, absent unless given', (_label, argv, name) => {
    expect(optionsOf(argv, name).ring).toBeUndefined();
    expect(optionsOf([...argv, '--ring', '10m'], name).ring).toBe('10m');
  });

  it.each([
    ['10m', { seconds: 600 }],
    ['90', { seconds: 90 }],
    ['1h30m', { seconds: 5400 }],
    ['200MB', { bytes: 200_000_000 }],
    ['1GiB', { bytes: 1024 ** 3 }],
    ['5mb', { bytes: 5_000_000 }],
  ])('reads %s as a time or, with its B, a size', (text, window) => {
    expect(parseRingFlag(text)).toEqual(window);
  });

  it.each([
    ['10M', 'INVALID_ARGUMENT', /neither a time nor a size/],
    ['2k', 'INVALID_ARGUMENT', /neither a time nor a size/],
    ['500kB', 'SIZE_OUT_OF_RANGE', /smaller than a ring can be \(1 MB/],
    ['ten minutes', 'DURATION_OUT_OF_RANGE', /--ring "ten minutes" is not a duration/],
    ['0', 'DURATION_OUT_OF_RANGE', /at least one second/],
  ])('refuses %j (%s), before anything starts', (text, code, message) => {
    expect(() => buildSessionRequest({ task: TASK }, { tool: 'tcpdump', ring: text })).toThrow(
      expect.objectContaining({ code, message: expect.stringMatching(message) }),
    );
  });

  it('sends no duration of its own for a time ring: the deployment decides how long a ring may run', () => {
    const ring = buildSessionRequest({ task: TASK }, { tool: 'tcpdump', ring: '5m' });
    const timed = buildSessionRequest({ task: TASK }, { tool: 'tcpdump', ring: '5m', duration: '20m' });

    expect(ring).toMatchObject({ ring: { seconds: 300 } });
    expect('durationSeconds' in ring).toBe(false);
    expect(timed).toMatchObject({ ring: { seconds: 300 }, durationSeconds: 1200 });
  });

  it('makes a size ring its own size cap, and refuses one larger than --max-size', () => {
    expect(buildSessionRequest({ task: TASK }, { tool: 'tcpdump', ring: '200MB' }).maxBytes).toBe(
      200_000_000,
    );
    expect(() =>
      buildSessionRequest({ task: TASK }, { tool: 'tcpdump', ring: '200MB', maxSize: '50MB' }),
    ).toThrow(
      expect.objectContaining({ code: 'SIZE_OUT_OF_RANGE', message: expect.stringMatching(/--max-size 50/) }),
    );
  });

  it.each(['ngrep', 'strace', 'snapshot'])('is refused for %s: a ring keeps packets', (tool) => {
    expect(() => buildSessionRequest({ task: TASK }, { tool, ring: '5m' })).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: `${tool} takes no --ring: a ring buffer keeps packets (tcpdump).`,
      }),
    );
  });
});
