import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../../../lib/cli/main';
import { DEMO_DEFAULTS } from '../../../lib/cli/options';

/**
 * The README and every --help come from, or are checked against, the program's own definitions
 * (lib/cli/main.ts, lib/cli/options.ts), so they cannot drift apart again.
 */
const README = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
const program = buildProgram(() => undefined);
const commands: Command[] = [program, ...program.commands];

describe('the README and --help', () => {
  it.each(commands.map((c) => [c.name(), c] as const))(
    'the README names every flag of %s',
    (_name, command) => {
      const missing = command.options
        .map((o) => o.long!)
        .filter((flag) => !['--help'].includes(flag))
        .filter((flag) => !README.includes(flag));
      expect(missing).toEqual([]);
    },
  );

  it('names every subcommand in the README’s usage', () => {
    for (const c of program.commands) expect(README).toContain(`debug-task ${c.name()}`);
  });

  it('gives the demo’s real defaults in the README and in demo --help', () => {
    const demo = program.commands.find((c) => c.name() === 'demo')!;
    const help = demo.helpInformation();
    expect(README).toContain(
      `demo [--duration ${DEMO_DEFAULTS.duration}] [--filter '${DEMO_DEFAULTS.filter}']`,
    );
    expect(help).toContain(`default: ${DEMO_DEFAULTS.duration}`);
    expect(help).toContain(`'${DEMO_DEFAULTS.filter}'`);
  });

  it('mentions --service only where it exists', () => {
    for (const name of ['local', 'demo']) {
      const command = program.commands.find((c) => c.name() === name)!;
      expect(command.helpInformation()).not.toContain('--service');
    }
  });

  it('describes --json on every command that has it', () => {
    for (const command of commands) {
      const json = command.options.find((o) => o.long === '--json');
      if (json) expect(json.description).toMatch(/as the last line on stdout/);
    }
  });
});
