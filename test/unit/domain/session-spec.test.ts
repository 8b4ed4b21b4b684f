import { DebugTaskError } from '../../../lib/domain/errors';
import { isValidHostParam } from '../../../lib/domain/params';
import { DEFAULT_LIMITS, parseSessionRequest, type SessionLimits } from '../../../lib/domain/session-spec';

const TASK = 'arn:aws:ecs:eu-west-1:123456789012:task/prod/0123456789abcdef0123456789abcdef';

function errorOf(body: unknown, limits?: SessionLimits): DebugTaskError {
  try {
    parseSessionRequest(body, limits);
  } catch (error) {
    return error as DebugTaskError;
  }
  throw new Error('expected parseSessionRequest to throw');
}

describe('parseSessionRequest', () => {
  it('applies the tool’s defaults: 60 s, 100 MB, no filter, the task’s own interface', () => {
    expect(parseSessionRequest({ target: { task: TASK }, tool: 'tcpdump' })).toEqual({
      target: { task: TASK },
      tool: 'tcpdump',
      durationSeconds: 60,
      maxBytes: 100_000_000,
      filter: '',
      iface: '',
      snaplen: 262144,
      allowHostNetwork: false,
      allowHostPid: false,
    });
  });

  it('keeps what was asked for when it is within limits', () => {
    const spec = parseSessionRequest({
      target: { task: TASK, container: 'web' },
      tool: 'tcpdump',
      durationSeconds: 5,
      maxBytes: 2_000_000,
      filter: 'tcp port 443 and (host 10.0.0.5 or net 192.168.0.0/16)',
      reason: 'INC-42',
    });
    expect(spec).toMatchObject({ durationSeconds: 5, maxBytes: 2_000_000, reason: 'INC-42' });
    expect(spec.filter).toBe('tcp port 443 and (host 10.0.0.5 or net 192.168.0.0/16)');
  });

  it('throws UNKNOWN_TOOL naming the tools of the catalog', () => {
    const error = errorOf({ target: { task: TASK }, tool: 'wireshark' });
    expect(error.code).toBe('UNKNOWN_TOOL');
    expect(error.hint).toMatch(/tcpdump, ngrep, strace, snapshot/);
  });

  it.each([
    ['command substitution', 'tcp port 80 $(id)'],
    ['a backtick', 'tcp port `id`'],
    ['a semicolon', 'tcp; reboot'],
    ['a quote', "tcp port 80' or '1"],
    ['a newline', 'tcp\nport 80'],
    ['a backslash', 'tcp port 80 \\'],
    ['too long an expression', 'tcp '.repeat(300)],
  ])('throws INVALID_FILTER for %s', (_label, filter) => {
    const error = errorOf({ target: { task: TASK }, tool: 'tcpdump', filter });
    expect(error.code).toBe('INVALID_FILTER');
    expect(error.message).toMatch(/filter is invalid/);
  });

  it('throws DURATION_OUT_OF_RANGE above the deploy-time maximum, naming it', () => {
    const error = errorOf(
      { target: { task: TASK }, tool: 'tcpdump', durationSeconds: 601 },
      { ...DEFAULT_LIMITS, maxDurationSeconds: 600 },
    );
    expect(error.code).toBe('DURATION_OUT_OF_RANGE');
    expect(error.message).toMatch(/1s to 10m; 10m1s was asked for/);
  });

  it('throws DURATION_OUT_OF_RANGE for zero or a fraction', () => {
    expect(errorOf({ target: { task: TASK }, tool: 'tcpdump', durationSeconds: 0 }).code).toBe(
      'DURATION_OUT_OF_RANGE',
    );
    expect(errorOf({ target: { task: TASK }, tool: 'tcpdump', durationSeconds: 1.5 }).code).toBe(
      'DURATION_OUT_OF_RANGE',
    );
  });

  it('throws SIZE_OUT_OF_RANGE above the tool’s maximum', () => {
    expect(errorOf({ target: { task: TASK }, tool: 'tcpdump', maxBytes: 5e9 }).code).toBe(
      'SIZE_OUT_OF_RANGE',
    );
  });

  it('refuses a filter for a tool that takes none', () => {
    expect(errorOf({ target: { task: TASK }, tool: 'strace', filter: 'tcp' }).code).toBe('INVALID_ARGUMENT');
  });

  it("takes each tool's own arguments: ngrep's match, strace's syscalls and pid", () => {
    expect(
      parseSessionRequest({ target: { task: TASK }, tool: 'ngrep', match: 'GET /api|POST' }),
    ).toMatchObject({
      tool: 'ngrep',
      match: 'GET /api|POST',
    });
    expect(
      parseSessionRequest({
        target: { task: TASK },
        tool: 'strace',
        syscalls: 'connect,sendto,%file',
        pid: 7,
      }),
    ).toMatchObject({ tool: 'strace', syscalls: 'connect,sendto,%file', pid: 7 });
    const plain = parseSessionRequest({ target: { task: TASK }, tool: 'strace' });
    expect(plain).not.toHaveProperty('syscalls');
    expect(plain).not.toHaveProperty('pid');
  });

  it.each([
    ['tcpdump', { match: 'GET' }, 'tcpdump takes no --match.', 'Drop --match, or use ngrep.'],
    ['strace', { match: 'GET' }, 'strace takes no --match.', 'Drop --match, or use ngrep.'],
    ['ngrep', { syscalls: 'open' }, 'ngrep takes no --syscalls.', 'Drop --syscalls, or use strace.'],
    ['snapshot', { pid: 3 }, 'snapshot takes no --pid.', 'Drop --pid, or use strace.'],
    ['snapshot', { filter: 'tcp' }, 'snapshot takes no --filter.', 'Drop --filter, or use tcpdump or ngrep.'],
  ])('refuses %s with %j, saying which tools take it', (tool, extra, message, hint) => {
    const error = errorOf({ target: { task: TASK }, tool, ...extra });

    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', message, hint });
  });

  it.each([
    ['match', '-i'],
    ['match', ' x'],
    ['match', 'x$'],
    ['match', 'a\\d'],
    ['match', "it's"],
    ['match', 'a{2}'],
    ['syscalls', '-e'],
    ['syscalls', 'open;id'],
    ['syscalls', '!write'],
  ])('refuses %s %j, which a shell or the tool could misread', (field, value) => {
    const tool = field === 'match' ? 'ngrep' : 'strace';
    const error = errorOf({ target: { task: TASK }, tool, [field]: value });

    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field } });
    expect(isValidHostParam(field as 'match' | 'syscalls', value)).toBe(false);
  });

  it.each([0, -1, 1.5, 10_000_000])('refuses pid %j', (pid) => {
    expect(errorOf({ target: { task: TASK }, tool: 'strace', pid })).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { field: 'pid' },
    });
  });

  it('throws INVALID_ARGUMENT for a container name with shell characters', () => {
    expect(errorOf({ target: { task: TASK, container: 'web;id' }, tool: 'tcpdump' }).code).toBe(
      'INVALID_ARGUMENT',
    );
  });

  it('throws INVALID_ARGUMENT when the body is not an object', () => {
    expect(errorOf('tcpdump please').code).toBe('INVALID_ARGUMENT');
  });

  it('still requires a tool: the host parameter admits an empty one, the API does not', () => {
    expect(errorOf({ target: { task: TASK } }).code).toBe('INVALID_ARGUMENT');
    expect(errorOf({ target: { task: TASK }, tool: '' }).code).toBe('UNKNOWN_TOOL');
  });

  it('accepts a reason that fits the host parameter, which labels the toolbox container', () => {
    const reason = 'INC-42: TLS resets (canary #3) seen by @alice, see https://wiki/x+y=z, a_b-c';
    const spec = parseSessionRequest({ target: { task: TASK }, tool: 'tcpdump', reason });

    expect(spec.reason).toBe(reason);
    expect(isValidHostParam('reason', reason)).toBe(true);
  });

  it.each([
    ['a quote', "it's broken"],
    ['a dollar', 'costs $5'],
    ['a semicolon', 'a; b'],
    ['a newline', 'a\nb'],
    ['a non-ASCII letter', 'café'],
    ['more than 200 characters', 'x'.repeat(201)],
  ])('refuses a reason with %s (the host parameter would)', (_label, reason) => {
    const error = errorOf({ target: { task: TASK }, tool: 'tcpdump', reason });

    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/^reason is invalid/);
    expect(isValidHostParam('reason', reason)).toBe(false);
  });

  it('lets a host-network target be debugged only when allowHostNetwork is true (default false)', () => {
    const base = { target: { task: TASK }, tool: 'tcpdump' };

    expect(parseSessionRequest(base).allowHostNetwork).toBe(false);
    expect(parseSessionRequest({ ...base, allowHostNetwork: false }).allowHostNetwork).toBe(false);
    expect(parseSessionRequest({ ...base, allowHostNetwork: true }).allowHostNetwork).toBe(true);
  });

  it.each([
    ['the string "true"', 'true'],
    ['1', 1],
    ['null', null],
    ['an object', {}],
  ])('refuses allowHostNetwork given as %s: only a boolean asks for the host network', (_label, value) => {
    const error = errorOf({ target: { task: TASK }, tool: 'tcpdump', allowHostNetwork: value });

    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/^allowHostNetwork is invalid/);
  });
});

describe('a ring buffer (ring)', () => {
  const base = { target: { task: TASK }, tool: 'tcpdump' };

  it('runs as long as the deployment lets a ring run, unless a duration is given', () => {
    const limits = { ...DEFAULT_LIMITS, maxRingSeconds: 1800 };

    expect(parseSessionRequest({ ...base, ring: { seconds: 300 } }, limits)).toMatchObject({
      ring: { seconds: 300 },
      durationSeconds: 1800,
    });
    expect(
      parseSessionRequest({ ...base, ring: { seconds: 300 }, durationSeconds: 1200 }, limits).durationSeconds,
    ).toBe(1200);
  });

  it('may run past a capture’s limit, up to maxRingSeconds, and no further', () => {
    const limits = { ...DEFAULT_LIMITS, maxDurationSeconds: 900, maxRingSeconds: 1800 };
    const error = errorOf({ ...base, ring: { seconds: 60 }, durationSeconds: 1801 }, limits);

    expect(
      parseSessionRequest({ ...base, ring: { seconds: 60 }, durationSeconds: 1800 }, limits).durationSeconds,
    ).toBe(1800);
    expect(error.code).toBe('DURATION_OUT_OF_RANGE');
    expect(error.message).toBe('A ring buffer lasts 1s to 30m; 30m1s was asked for.');
    expect(error.hint).toMatch(/maxRingSeconds/);
  });

  it.each([
    ['both a time and a size', { seconds: 60, bytes: 2_000_000 }, /either a time or a size/],
    ['neither', {}, /either a time or a size/],
    ['a size under 1 MB', { bytes: 999_999 }, /^ring\.bytes is invalid/],
    ['no seconds', { seconds: 0 }, /^ring\.seconds is invalid/],
  ])('refuses %s with INVALID_ARGUMENT', (_label, ring, message) => {
    const error = errorOf({ ...base, ring });

    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(message);
  });

  it('gives a size ring as its own cap, within the tool’s and the deployment’s', () => {
    expect(parseSessionRequest({ ...base, ring: { bytes: 5_000_000 } }).maxBytes).toBe(5_000_000);
    expect(errorOf({ ...base, ring: { bytes: 5_000_000 }, maxBytes: 1_000_000 }).code).toBe(
      'SIZE_OUT_OF_RANGE',
    );
  });
});
