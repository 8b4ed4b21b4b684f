import { checkTaskWord, SUBCOMMANDS } from '../../../lib/cli/subcommands';
import { buildProgram } from '../../../lib/cli/main';
import { closest } from '../../../lib/domain/suggest';
import { parseSessionRequest, toolNamed } from '../../../lib/domain/session-spec';

describe('closest (did-you-mean)', () => {
  it.each([
    ['stauts', 'status'],
    ['lsit', 'list'],
    ['fecth', 'fetch'],
    ['docter', 'doctor'],
    ['STATUS', 'status'],
  ])('reads %p as %p', (typed, meant) => expect(closest(typed, SUBCOMMANDS)).toBe(meant));

  it.each(['x', 'foo', 'prod-web'])('suggests nothing for %p, which is no typo of a command', (typed) => {
    expect(closest(typed, SUBCOMMANDS)).toBeUndefined();
  });
});

describe('checkTaskWord', () => {
  it('tells a mistyped subcommand from a task, with the command to run', () => {
    expect(() => checkTaskWord('stauts', ['dt-x'])).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: 'There is no command "stauts": did you mean status?',
        hint: expect.stringContaining('`debug-task status dt-x`'),
      }),
    );
  });

  it('refuses a second task after the first, saying one at a time', () => {
    const arn = 'arn:aws:ecs:xx-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef';
    expect(() => checkTaskWord(arn, ['other'])).toThrow(/One task at a time/);
  });

  it('lets a task through', () => {
    expect(() => checkTaskWord('0123456789abcdef0123456789abcdef', [])).not.toThrow();
  });

  it('knows every subcommand the program declares, and only those', () => {
    const declared = buildProgram(() => undefined).commands.map((c) => c.name());
    expect([...SUBCOMMANDS].sort()).toEqual(declared.sort());
  });
});

describe('tool names', () => {
  it('takes a tool name in any case', () => {
    expect(toolNamed('TCPDUMP')).toBe('tcpdump');
    expect(
      parseSessionRequest({
        target: { task: 'arn:aws:ecs:xx-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef' },
        tool: 'Ngrep',
      }).tool,
    ).toBe('ngrep');
  });

  it('quotes an unknown tool once and suggests the closest', () => {
    expect(() => toolNamed('tcpdmp')).toThrow(
      expect.objectContaining({
        code: 'UNKNOWN_TOOL',
        message: 'There is no tool "tcpdmp" in the catalog: did you mean tcpdump?',
      }),
    );
    expect(() => toolNamed('wireshark')).toThrow('There is no tool "wireshark" in the catalog.');
  });
});
