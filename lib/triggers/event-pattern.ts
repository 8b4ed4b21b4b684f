/**
 * EventBridge's event pattern matching, for the sandbox (which has no EventBridge: it delivers an
 * event to the rules of the synthesized template whose pattern matches it, as EventBridge would) and
 * for `cdk synth` (a trigger's raw `pattern` is checked here, so a pattern EventBridge would refuse
 * fails the synth with its path rather than the deployment).
 *
 * Written here because no npm package does it (the registry has none that matches EventBridge
 * patterns outside a Serverless Framework plugin). It follows the EventBridge user guide's "Event
 * patterns" and "Content filtering" pages: a pattern's leaves are arrays of matchers, an event field
 * matches when any of its values matches any matcher, arrays in the event are flattened (a pattern
 * field under an array of objects matches if any element's field does), every field of the pattern
 * must match (AND), `$or` takes a list of patterns. Matchers: a literal (string, number, boolean,
 * null), prefix, suffix, equals-ignore-case, wildcard, anything-but (a literal, a list, or a
 * prefix/suffix/equals-ignore-case/wildcard), numeric, exists, cidr (IPv4).
 */
import { isPlainObject } from '../domain/plain-object';

export type EventPattern = { [field: string]: EventPattern | Matcher[] | EventPattern[] };
type Literal = string | number | boolean | null;
type Matcher = Literal | Record<string, unknown>;

/** A pattern EventBridge would refuse: `path` names the field, `problem` what is wrong. */
export class EventPatternError extends Error {
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(`${path || 'pattern'}: ${problem}`);
    this.name = 'EventPatternError';
  }
}

/** Whether `event` matches `pattern` (a pattern that is not valid throws EventPatternError). */
export function matchesEventPattern(pattern: unknown, event: unknown): boolean {
  checkEventPattern(pattern);
  return matchesObject(pattern as EventPattern, [event]);
}

/** Throws EventPatternError, naming the field, when `pattern` is not an event pattern. */
export function checkEventPattern(pattern: unknown, path = ''): void {
  if (!isPlainObject(pattern) || Object.keys(pattern).length === 0) {
    throw new EventPatternError(path, 'a pattern is a JSON object with at least one field');
  }
  for (const [field, value] of Object.entries(pattern)) {
    const at = path ? `${path}.${field}` : field;
    if (field === '$or') {
      if (!Array.isArray(value) || value.length < 2) {
        throw new EventPatternError(at, '$or takes a list of at least two patterns');
      }
      value.forEach((sub, i) => checkEventPattern(sub, `${at}[${i}]`));
    } else if (Array.isArray(value)) {
      if (value.length === 0) throw new EventPatternError(at, 'a list of matchers may not be empty');
      value.forEach((matcher) => checkMatcher(matcher, at));
    } else if (isPlainObject(value)) {
      checkEventPattern(value, at);
    } else {
      throw new EventPatternError(
        at,
        `a field's value is a list of matchers (e.g. ["ALARM"]) or a nested pattern, not ${JSON.stringify(value)}`,
      );
    }
  }
}

const NUMERIC_OPS = ['<', '<=', '=', '>', '>='] as const;

function checkMatcher(matcher: unknown, at: string): void {
  if (matcher === null || ['string', 'number', 'boolean'].includes(typeof matcher)) return;
  if (!isPlainObject(matcher) || Object.keys(matcher).length !== 1) {
    throw new EventPatternError(at, `${JSON.stringify(matcher)} is not a matcher`);
  }
  const [[kind, arg]] = Object.entries(matcher);
  switch (kind) {
    case 'prefix':
    case 'suffix':
      if (typeof arg === 'string' || (isPlainObject(arg) && typeof arg['equals-ignore-case'] === 'string'))
        return;
      break;
    case 'equals-ignore-case':
    case 'wildcard':
    case 'cidr':
      if (typeof arg === 'string') return;
      break;
    case 'exists':
      if (typeof arg === 'boolean') return;
      break;
    case 'numeric':
      if (Array.isArray(arg) && numericPairs(arg) !== undefined) return;
      break;
    case 'anything-but':
      if (
        typeof arg === 'string' ||
        typeof arg === 'number' ||
        (Array.isArray(arg) && arg.length > 0 && arg.every((v) => ['string', 'number'].includes(typeof v))) ||
        (isPlainObject(arg) &&
          Object.keys(arg).length === 1 &&
          ['prefix', 'suffix', 'equals-ignore-case', 'wildcard'].some((k) => typeof arg[k] === 'string'))
      )
        return;
      break;
    default:
      throw new EventPatternError(at, `unknown matcher "${kind}"`);
  }
  throw new EventPatternError(at, `${JSON.stringify(matcher)} is not a valid "${kind}" matcher`);
}

/** `[">", 0, "<=", 5]` -> its (operator, number) pairs; undefined when it is not one. */
function numericPairs(arg: unknown[]): [string, number][] | undefined {
  if (arg.length !== 2 && arg.length !== 4) return undefined;
  const pairs: [string, number][] = [];
  for (let i = 0; i < arg.length; i += 2) {
    const [op, value] = [arg[i], arg[i + 1]];
    if (!NUMERIC_OPS.includes(op as (typeof NUMERIC_OPS)[number]) || typeof value !== 'number')
      return undefined;
    pairs.push([op as string, value]);
  }
  return pairs;
}

/** `scopes`: the event values the pattern applies to (more than one under an array of objects). */
function matchesObject(pattern: EventPattern, scopes: unknown[]): boolean {
  return Object.entries(pattern).every(([field, value]) => {
    if (field === '$or') return (value as EventPattern[]).some((sub) => matchesObject(sub, scopes));
    const values = scopes.flatMap((scope) =>
      isPlainObject(scope) && field in scope ? flatten(scope[field]) : [],
    );
    if (Array.isArray(value)) return (value as Matcher[]).some((matcher) => matchesLeaf(matcher, values));
    const objects = values.filter(isPlainObject);
    return objects.length > 0 && matchesObject(value, objects);
  });
}

/** Arrays in an event are flattened: a field holding [a, [b]] has the values a and b. */
function flatten(value: unknown): unknown[] {
  return Array.isArray(value) ? value.flatMap(flatten) : [value];
}

/** A matcher against every value the event has at that field (none: the field is absent). */
function matchesLeaf(matcher: Matcher, values: unknown[]): boolean {
  if (isPlainObject(matcher) && 'exists' in matcher) {
    const present = values.some((v) => !isPlainObject(v));
    return matcher.exists === true ? present : values.length === 0;
  }
  return values.some((value) => matchesValue(matcher, value));
}

function matchesValue(matcher: Matcher, value: unknown): boolean {
  if (!isPlainObject(matcher)) return value === matcher;
  const [[kind, arg]] = Object.entries(matcher);
  switch (kind) {
    case 'prefix':
      return typeof value === 'string' && affix(arg, value, (v, a) => v.startsWith(a));
    case 'suffix':
      return typeof value === 'string' && affix(arg, value, (v, a) => v.endsWith(a));
    case 'equals-ignore-case':
      return typeof value === 'string' && value.toLowerCase() === String(arg).toLowerCase();
    case 'wildcard':
      return typeof value === 'string' && wildcard(String(arg)).test(value);
    case 'cidr':
      return typeof value === 'string' && inCidr(value, String(arg));
    case 'numeric':
      return (
        typeof value === 'number' &&
        (numericPairs(arg as unknown[]) ?? []).every(([op, bound]) => compare(value, op, bound))
      );
    case 'anything-but':
      return anythingBut(arg, value);
    default:
      return false;
  }
}

function affix(arg: unknown, value: string, test: (value: string, affix: string) => boolean): boolean {
  if (typeof arg === 'string') return test(value, arg);
  const ignoring = String((arg as Record<string, unknown>)['equals-ignore-case']);
  return test(value.toLowerCase(), ignoring.toLowerCase());
}

function anythingBut(arg: unknown, value: unknown): boolean {
  if (value === null || isPlainObject(value)) return false;
  if (Array.isArray(arg)) return !arg.includes(value);
  if (!isPlainObject(arg)) return value !== arg;
  if (typeof value !== 'string') return false;
  const [[kind, inner]] = Object.entries(arg);
  return !matchesValue({ [kind]: inner }, value);
}

function compare(value: number, op: string, bound: number): boolean {
  switch (op) {
    case '<':
      return value < bound;
    case '<=':
      return value <= bound;
    case '=':
      return value === bound;
    case '>':
      return value > bound;
    default:
      return value >= bound;
  }
}

/** `*` matches any run of characters; everything else literally. */
function wildcard(pattern: string): RegExp {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`, 's');
}

function inCidr(address: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const [a, b] = [ipv4(address), ipv4(base)];
  const prefix = Number(bits ?? 32);
  if (a === undefined || b === undefined || !(prefix >= 0 && prefix <= 32)) return false;
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  return (a & mask) >>> 0 === (b & mask) >>> 0;
}

function ipv4(text: string): number | undefined {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return parts.reduce((sum, part) => sum * 256 + part, 0);
}
