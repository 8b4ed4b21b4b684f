import fc from 'fast-check';
import type { RunFlags } from '../../../lib/cli/options';
import { printable } from '../../../lib/cli/output';
import { buildSessionRequest } from '../../../lib/cli/request';
import { DebugTaskError, EXIT } from '../../../lib/domain/errors';
import { parseSessionRequest } from '../../../lib/domain/session-spec';
import { expectHostSafe, hasControlCharacters, hostileString } from '../../support/hostile';

/**
 * No injection through the CLI's request building: a hostile flag value is refused with a typed
 * error (exit 2) whose message is safe to print on a terminal, or it leaves in a request whose
 * host-bound values all fit their HOST_PARAMS patterns.
 */

const TASK = 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef';
type Target = { task: string; cluster?: string; container?: string };
type Flags = Pick<
  RunFlags,
  'tool' | 'duration' | 'maxSize' | 'filter' | 'iface' | 'reason' | 'match' | 'syscalls' | 'pid'
>;

const VALID_TARGET: Target = { task: TASK, container: 'web' };
const VALID_FLAGS: Flags = {
  tool: 'tcpdump',
  duration: '30s',
  maxSize: '10MB',
  filter: 'tcp port 443',
  iface: 'eth0',
  reason: 'INC-42',
};
const TARGET_FIELDS = ['task', 'cluster', 'container'] as const;
const FLAG_FIELDS = [
  'tool',
  'duration',
  'maxSize',
  'filter',
  'iface',
  'reason',
  'match',
  'syscalls',
  'pid',
] as const;
const FIELDS = [...TARGET_FIELDS, ...FLAG_FIELDS];

/** The valid flags of a tool that takes `field`, so its value meets the pattern, not the tool's refusal. */
function validFlagsFor(field: string): Flags {
  if (field === 'syscalls' || field === 'pid') return { ...VALID_FLAGS, tool: 'strace', filter: undefined };
  if (field === 'match') return { ...VALID_FLAGS, tool: 'ngrep' };
  return { ...VALID_FLAGS };
}

function build(field: (typeof FIELDS)[number], value: string) {
  const target = { ...VALID_TARGET };
  const flags = validFlagsFor(field);
  if ((TARGET_FIELDS as readonly string[]).includes(field)) target[field as keyof Target] = value;
  else flags[field as keyof Flags] = value;
  return () => buildSessionRequest(target, flags);
}

function expectSafeRefusal(error: unknown): void {
  expect(error).toBeInstanceOf(DebugTaskError);
  const typed = error as DebugTaskError;
  expect(typed.exitCode).toBe(EXIT.BAD_INPUT);
  // Printed as is on stderr: no terminal escapes, no forged extra lines, and cut short.
  expect(hasControlCharacters(typed.message)).toBe(false);
  expect(hasControlCharacters(typed.hint)).toBe(false);
  expect(typed.message.length).toBeLessThan(1_000);
}

describe('no injection through the CLI request', () => {
  it('builds the valid request the properties start from', () => {
    expect(() => buildSessionRequest(VALID_TARGET, VALID_FLAGS)).not.toThrow();
  });

  it('refuses a hostile flag typed and printable, or sends it only where its pattern accepts it', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.constantFrom(...FIELDS), hostileString(), (field, value) => {
        let request;
        try {
          request = build(field, value)();
        } catch (error) {
          expectSafeRefusal(error);
          return;
        }
        accepted++;
        // What the API will do with it: the same schema, so the same verdict.
        expectHostSafe(parseSessionRequest(request));
      }),
      { numRuns: 500 },
    );
    expect(accepted).toBeGreaterThan(0);
  });

  it('refuses a request with several hostile flags just as safely', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom(...FIELDS), hostileString(), { minKeys: 2, maxKeys: FIELDS.length }),
        (values) => {
          const target = { ...VALID_TARGET };
          const flags = { ...VALID_FLAGS };
          for (const [field, value] of Object.entries(values)) {
            if ((TARGET_FIELDS as readonly string[]).includes(field)) target[field as keyof Target] = value;
            else flags[field as keyof Flags] = value;
          }
          try {
            expectHostSafe(parseSessionRequest(buildSessionRequest(target, flags)));
          } catch (error) {
            if (!(error instanceof DebugTaskError)) throw error;
            expectSafeRefusal(error);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('prints text from elsewhere (API answers, ECS reasons) with every control character escaped', () => {
    fc.assert(
      fc.property(fc.oneof(hostileString(), fc.string({ unit: 'binary' })), (text) => {
        const shown = printable(text);

        expect(hasControlCharacters(shown)).toBe(false);
        if (!hasControlCharacters(text)) expect(shown).toBe(text);
      }),
      { numRuns: 500 },
    );
    expect(printable('a\u001b]0;x\u0007\nb')).toBe('a\\u001b]0;x\\u0007\\u000ab');
  });
});
