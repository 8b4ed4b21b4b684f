import { parseDuration, parseSize } from '../../../lib/cli/units';
import { pollDelayMs } from '../../../lib/cli/session-runner';

describe('parseDuration', () => {
  it.each([
    ['90', 90],
    ['30s', 30],
    ['5m', 300],
    ['1h', 3600],
    [' 2M ', 120],
  ])('reads %s as %i seconds', (text, seconds) => expect(parseDuration(text)).toBe(seconds));

  it.each(['', '0', '-5s', '1.5s', '5 minutes', '1d'])('rejects %p with DURATION_OUT_OF_RANGE', (text) => {
    expect(() => parseDuration(text)).toThrow(expect.objectContaining({ code: 'DURATION_OUT_OF_RANGE' }));
  });
});

describe('parseSize', () => {
  it.each([
    ['100MB', 100_000_000],
    ['1GB', 1_000_000_000],
    ['512KiB', 524_288],
    ['2000', 2000],
    ['1.5mb', 1_500_000],
  ])('reads %s as %i bytes', (text, bytes) => expect(parseSize(text)).toBe(bytes));

  it.each(['', '0', 'ten MB', '5TB', '-1MB'])('rejects %p with SIZE_OUT_OF_RANGE', (text) => {
    expect(() => parseSize(text)).toThrow(expect.objectContaining({ code: 'SIZE_OUT_OF_RANGE' }));
  });
});

describe('pollDelayMs', () => {
  it('polls fast while the session starts', () => expect(pollDelayMs(1000, 60)).toBe(250));
  it('polls once a second during a capture', () => expect(pollDelayMs(10_000, 30)).toBe(1000));
  it('polls fast again as the capture ends, to see the end within a third of a second', () => {
    expect(pollDelayMs(10_000, 1)).toBe(300);
    expect(pollDelayMs(10_000, undefined)).toBe(300);
  });
});
