import { readdirSync } from 'node:fs';
import fc from 'fast-check';
import { parseTaskRef } from '../../lib/domain/arn';
import { HOST_PARAMS, isValidHostParam, type HostParamName } from '../../lib/domain/params';
import { taskTargetOf, type SessionSpec } from '../../lib/domain/session-spec';

/**
 * The one hostile corpus of the "no injection" tests (API, CLI request building, the state
 * machine's Launch, the host runner): values that would do something if any layer ever handed them
 * to a shell, a regex, an SSM parameter reference, a docker flag, a path or a terminal.
 *
 * Every payload that could run a command tries to `touch /tmp/pwned-<how>`: `pwnedFiles()` tells
 * whether one ever did.
 */

export const PWNED_DIR = '/tmp';
export const PWNED_PREFIX = 'pwned-';

/** Payloads that act when interpreted: shell, SSM, docker, paths. */
export const INJECTIONS: readonly string[] = [
  "'; touch /tmp/pwned-quote; '",
  '"; touch /tmp/pwned-dquote; "',
  '$(touch /tmp/pwned-subst)',
  '`touch /tmp/pwned-backtick`',
  '; touch /tmp/pwned-semicolon',
  '| touch /tmp/pwned-pipe',
  '& touch /tmp/pwned-amp',
  '&& touch /tmp/pwned-and',
  '|| touch /tmp/pwned-or',
  '\ntouch /tmp/pwned-newline',
  '\r\ntouch /tmp/pwned-crlf',
  '\u0000; touch /tmp/pwned-nul',
  '${IFS}touch${IFS}/tmp/pwned-ifs',
  '$((1+1))',
  '$HOME',
  '> /tmp/pwned-redirect',
  '< /etc/passwd',
  '{{ filter }}',
  '{{ssm:/debug-task/secret}}',
  '--privileged',
  '-v /:/host',
  '--net=host',
  '../../../../etc/passwd',
  '\u2028touch /tmp/pwned-lineseparator',
  '\u001b]0;pwned\u0007',
  '\u001b[2J',
];

/** Values that are hostile on their own: lone metacharacters, unicode look-alikes, sizes, names. */
export const HOSTILE_STRINGS: readonly string[] = [
  ...INJECTIONS,
  "'",
  '"',
  '`',
  '$',
  '\\',
  ';',
  '|',
  '&',
  '\n',
  '\r',
  '\t',
  '\u0000',
  '*',
  '~root',
  '',
  ' ',
  '\u202etcp port 80', // right-to-left override
  'ｔｃｐ　ｐｏｒｔ　８０', // fullwidth letters and space
  'tcpdump\u200b', // zero-width space
  '\ufefftcpdump', // byte order mark
  'İ',
  '🙂',
  '\ud800', // lone surrogate
  'x'.repeat(5_000),
  `tcp port 80 and ${'x'.repeat(100_000)}`,
  '-1',
  '0',
  '1e9',
  'NaN',
  'Infinity',
  '0x10',
  '1.5',
  ' 1',
  '__proto__',
  'constructor',
  'toString',
];

/** Legitimate-looking values a payload hides in. */
const CARRIERS: readonly string[] = [
  'tcp port 443',
  'eth0',
  'tcpdump',
  'web',
  'prod',
  'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef',
  '0123456789abcdef0123456789abcdef',
  'dt-20261125123456-a1b2c3',
  '60',
  '100MB',
  'INC-42',
];

const SHELL_CHARACTERS = [...'\'"`$\\;|&<>(){}[]*?~!#=%\n\r\t\u0000 '];

/** A hostile string: from the corpus, a payload inside a legitimate value, or random characters. */
export function hostileString(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.constantFrom(...CARRIERS), fc.constantFrom(...INJECTIONS), fc.boolean())
        .map(([carrier, payload, before]) => (before ? `${payload}${carrier}` : `${carrier}${payload}`)),
    },
    {
      weight: 2,
      arbitrary: fc.string({
        unit: fc.constantFrom(...SHELL_CHARACTERS, 'a', 'Z', '0', '.', '-', '/'),
        maxLength: 40,
      }),
    },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  );
}

/** A hostile JSON value for a request field: hostile strings, and every wrong type. */
export function hostileJson(): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: hostileString() },
    {
      weight: 1,
      arbitrary: fc.constantFrom<unknown>(
        -1,
        0,
        1.5,
        1e300,
        2 ** 53 + 2,
        null,
        true,
        [],
        {},
        ['tcpdump'],
        { $gt: '' },
        { toString: 'x' },
      ),
    },
  );
}

/** The /tmp/pwned-* files that exist now. */
export function pwnedFiles(): string[] {
  return readdirSync(PWNED_DIR).filter((name) => name.startsWith(PWNED_PREFIX));
}

/** C0 and C1 control characters (and DEL): none may reach a terminal or a log line from an error. */
export function hasControlCharacters(text: string): boolean {
  return [...text].some((ch) => {
    const code = ch.codePointAt(0)!;
    return code < 0x20 || (code >= 0x7f && code <= 0x9f);
  });
}

/**
 * What an accepted request may carry on: every spec value bound for the host fits its HOST_PARAMS
 * pattern, the target parses, the container is a plain name.
 */
export function expectHostSafe(spec: SessionSpec): void {
  const misfits = Object.entries(spec)
    .filter(([field]) => field in HOST_PARAMS)
    .filter(([field, value]) => !isValidHostParam(field as HostParamName, String(value)))
    .map(([field]) => field);
  expect(misfits).toEqual([]);
  const target = taskTargetOf(spec);
  expect(() => parseTaskRef(target.task, target.cluster)).not.toThrow();
  if (spec.target.container !== undefined) expect(spec.target.container).toMatch(/^[A-Za-z0-9_-]{1,255}$/);
}
