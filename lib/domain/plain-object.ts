/** A JSON object as parsed: not null, not an array. Narrowed so its fields can be read as `unknown`. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
