import { isPlainObject } from '../../../lib/domain/plain-object';

describe('isPlainObject', () => {
  it('accepts a parsed JSON object, empty or not', () => {
    expect(isPlainObject(JSON.parse('{}'))).toBe(true);
    expect(isPlainObject(JSON.parse('{"States": {"A": {}}}'))).toBe(true);
  });

  it('refuses null, arrays and every scalar JSON can hold', () => {
    for (const value of [null, undefined, [], [{}], 'x', 0, true]) expect(isPlainObject(value)).toBe(false);
  });
});
