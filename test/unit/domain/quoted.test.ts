import { quoted } from '../../../lib/domain/errors';

describe('quoted (how an error message echoes a value it received)', () => {
  it('escapes C0 controls, DEL and the C1 range that terminals act on', () => {
    expect(quoted('a\nb\u001b[31m\u007f\u0085\u009b')).toBe('"a\\nb\\u001b[31m\\u007f\\u0085\\u009b"');
  });

  it('cuts long values and marks the cut', () => {
    expect(quoted('x'.repeat(100), 10)).toBe(`"${'x'.repeat(10)}…"`);
  });
});
