import { pollDelayMs } from '../../../lib/cli/session-runner';
import { formatDuration, formatSize, parseDuration, parseSize } from '../../../lib/domain/units';

describe('parseDuration: one reading of durations for every flag', () => {
  it.each([
    ['90', 90],
    ['90s', 90],
    ['1m30s', 90],
    ['1.5m', 90],
    ['5m', 300],
    ['2h', 7200],
    ['1h30m', 5400],
    ['1h0m5s', 3605],
    [' 30s ', 30],
    ['0s', 0],
    ['0', 0],
  ])('reads %p as %i seconds', (text, seconds) => expect(parseDuration(text)).toBe(seconds));

  it.each(['', '-5s', '5 minutes', '1d', '30s1m', '1m1m', 'forever', '5M', '1H'])(
    'refuses %p with DURATION_OUT_OF_RANGE, naming the flag and the units',
    (text) => {
      expect(() => parseDuration(text)).toThrow(
        expect.objectContaining({
          code: 'DURATION_OUT_OF_RANGE',
          message: expect.stringContaining('--duration'),
          hint: expect.stringContaining('1m30s'),
        }),
      );
    },
  );

  it('suggests the lowercase unit for 5M, which some read as months', () => {
    expect(() => parseDuration('5M')).toThrow(/did you mean 5m\?/);
  });

  it('refuses a fraction of a second, saying the seconds it came to', () => {
    expect(() => parseDuration('1.5s')).toThrow(/is 1.5 seconds: a duration is a whole number of seconds/);
  });

  it('names the flag it reads', () => {
    expect(() => parseDuration('x', '--ring')).toThrow(/^--ring "x"/);
  });
});

describe('parseSize: one reading of sizes for every flag', () => {
  it.each([
    ['100MB', 100_000_000],
    ['10M', 10_000_000],
    ['10mb', 10_000_000],
    ['10MiB', 10_485_760],
    ['512k', 512_000],
    ['512K', 512_000],
    ['512KiB', 524_288],
    ['1G', 1_000_000_000],
    ['1GB', 1_000_000_000],
    ['2000', 2000],
    ['2000B', 2000],
    ['1.5mb', 1_500_000],
    ['0', 0],
  ])('reads %p as %i bytes', (text, bytes) => expect(parseSize(text)).toBe(bytes));

  it.each(['', 'ten MB', '5TB', '-1MB', '10 megs', 'M'])('refuses %p with SIZE_OUT_OF_RANGE', (text) => {
    expect(() => parseSize(text)).toThrow(
      expect.objectContaining({ code: 'SIZE_OUT_OF_RANGE', hint: expect.stringContaining('10MiB') }),
    );
  });
});

describe('formatDuration and formatSize: ranges as a human writes them', () => {
  it.each([
    [0, '0s'],
    [1, '1s'],
    [90, '1m30s'],
    [900, '15m'],
    [3600, '1h'],
    [3605, '1h5s'],
  ])('shows %i seconds as %p, which parseDuration reads back', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each([
    [1000, '1 kB'],
    [100_000_000, '100 MB'],
    [1_000_000_000, '1 GB'],
    [1, '1 byte'],
    [1500, '1500 bytes'],
  ])('shows %i bytes as %p', (bytes, text) => expect(formatSize(bytes)).toBe(text));
});

describe('pollDelayMs', () => {
  it('polls fast while the session starts', () => expect(pollDelayMs(1000, 60)).toBe(250));
  it('polls once a second during a capture', () => expect(pollDelayMs(10_000, 30)).toBe(1000));
  it('polls fast again past the first seconds while no capture runs yet', () => {
    expect(pollDelayMs(10_000, undefined)).toBe(300);
  });
  it('polls fastest from the capture’s last 2 seconds on, whatever the caller says of the phase', () => {
    expect(pollDelayMs(10_000, 2)).toBe(150);
    expect(pollDelayMs(10_000, 1, false)).toBe(150);
    expect(pollDelayMs(10_000, -3)).toBe(150);
    expect(pollDelayMs(1000, 1)).toBe(150);
    expect(pollDelayMs(10_000, 2.5)).toBe(1000);
  });
  it('polls fastest once the caller says the session is ending (collect, cleanup, a stop)', () => {
    expect(pollDelayMs(10_000, 30, true)).toBe(150);
    expect(pollDelayMs(1000, undefined, true)).toBe(150);
    expect(pollDelayMs(10_000, 30, false)).toBe(1000);
  });
});
