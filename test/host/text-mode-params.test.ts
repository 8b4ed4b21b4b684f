import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { HOST_PARAMS, isValidHostParam, type HostParamName } from '../../lib/domain/params';
import { buildCommandDocument } from '../../lib/host/runner-script';
import { prepareRunShellScript } from '../../lib/sandbox/ssm-document';
import { INJECTIONS, pwnedFiles } from '../support/hostile';

/**
 * The document's text mode (SSM agents before 3.3.2746.0, Flatcar's 3.2.0.0 among them): the agent
 * writes each value into the bootstrap's text in place of `{{ name }}`, after SSM checked it against
 * its allowedPattern. Whatever a pattern admits, the bootstrap must take it as one literal word:
 * SSM_<name> equals the value exactly, under POSIX sh (dash, as /bin/sh on Debian) and bash (as
 * /bin/sh on Amazon Linux and Flatcar), and nothing in it runs.
 *
 * The values are drawn from each parameter's own pattern, weighted towards the characters a shell
 * reads specially (held out from the hand-written corpus: what the patterns admit, not what we
 * thought of), and from the hostile corpus wherever a payload happens to pass a pattern.
 */

jest.setTimeout(120_000);

/** Parameters the document substitutes as text (executionTimeout goes to the step, not to a variable). */
const NAMES = (Object.keys(HOST_PARAMS) as HostParamName[]).filter((name) => name !== 'executionTimeout');
const DOCUMENT = buildCommandDocument();
const SHELLS = ['/bin/dash', '/bin/bash'];
/** Characters a shell treats specially, and those that matter in SSM's own `{{ }}` syntax. */
const SPECIAL = [...' ()!<>=&|*+-[].:/#@,_?%~;$`"\'\\{}\t'];

let scratch: string;
let pwnedBefore: string[];

beforeAll(() => {
  pwnedBefore = pwnedFiles();
  scratch = mkdtempSync(join(tmpdir(), 'debug-task-text-mode-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A value of parameter `name`'s pattern: its own characters, the special ones first in line. */
function valueOf(name: HostParamName): fc.Arbitrary<string> {
  const param = HOST_PARAMS[name];
  const pattern = new RegExp(param.pattern);
  const admitted = SPECIAL.filter((c) => pattern.test(c) || pattern.test(`a${c}a`));
  const plain = fc.stringMatching(pattern, { size: 'small' });
  const special =
    admitted.length === 0
      ? plain
      : fc
          .array(
            fc.oneof(
              fc.constantFrom(...admitted),
              fc.constantFrom('a', '0', 'x'),
              fc.constantFrom(...admitted),
            ),
            {
              maxLength: Math.min(param.maxChars, 40),
            },
          )
          .map((chars) => chars.join(''));
  const corpus = INJECTIONS.filter((payload) => isValidHostParam(name, payload));
  return fc
    .oneof(plain, special, ...(corpus.length ? [fc.constantFrom(...corpus)] : []))
    .filter((value) => value.length <= param.maxChars && isValidHostParam(name, value));
}

/** The bootstrap's parameter part as the agent hands it over in text mode, then each SSM_<name>, NUL-ended. */
function parameterScript(values: Record<string, string>): string {
  const { script } = prepareRunShellScript(DOCUMENT, values, 'text');
  const end = script.indexOf('\nexport DEBUG_TASK_PARAM_MODE\n');
  expect(end).toBeGreaterThan(0);
  const dump = NAMES.map((name) => `"$SSM_${name}"`).join(' ');
  return `${script.slice(0, end)}\nprintf '%s\\0' "$DEBUG_TASK_PARAM_MODE" ${dump}\n`;
}

/** Runs the script with `shell` in the scratch directory, with no SSM_* variable set (text mode). */
function run(shell: string, script: string): string[] {
  const file = join(scratch, 'bootstrap.sh');
  writeFileSync(file, script);
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('SSM_')));
  const out = execFileSync(shell, [file], { cwd: scratch, env, encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

describe('the bootstrap in text mode (an agent without ENV_VAR interpolation)', () => {
  it.each(SHELLS)(
    'takes every value a pattern admits as one literal word under %s, and runs none',
    (shell) => {
      fc.assert(
        fc.property(fc.record(Object.fromEntries(NAMES.map((name) => [name, valueOf(name)]))), (values) => {
          const got = run(shell, parameterScript(values as Record<string, string>));

          expect(got[0]).toBe('text');
          expect(Object.fromEntries(NAMES.map((name, i) => [name, got[i + 1]]))).toEqual(values);
        }),
        { numRuns: 150 },
      );
      expect(pwnedFiles()).toEqual(pwnedBefore);
    },
  );

  it('sees through a value shaped like a shell or SSM reference: it arrives as written', () => {
    const values = {
      action: 'run',
      filter: '(tcp port 80) && !(port 22) || (tcp[13] & 2 != 0) > 1 < 2 | 3 * 4',
      reason: 'incident #42 (rm -rf /) a=b+c, @oncall: see /runbook',
      caller: 'arn:aws:sts::123456789012:assumed-role/on-call+ops/alice@example.com',
      iface: 'eth0',
    };
    for (const [name, value] of Object.entries(values)) {
      expect(isValidHostParam(name as HostParamName, value)).toBe(true);
    }
    for (const shell of SHELLS) {
      const got = run(shell, parameterScript(values));
      const byName = Object.fromEntries(NAMES.map((name, i) => [name, got[i + 1]]));
      expect(byName).toMatchObject(values);
    }
    expect(pwnedFiles()).toEqual(pwnedBefore);
  });
});
