import type { Command } from 'commander';
import { buildProgram } from '../../../lib/cli/main';
import { buildSessionRequest } from '../../../lib/cli/request';
import { parseSessionRequest } from '../../../lib/domain/session-spec';

const TASK = 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef';

/** The options commander gives the command `name` (the main command when undefined); runs nothing. */
function optionsOf(argv: string[], name?: string): Record<string, unknown> {
  const program = buildProgram(() => undefined);
  program.parse(argv, { from: 'user' });
  const command: Command = name ? program.commands.find((c) => c.name() === name)! : program;
  return command.opts();
}

describe('--allow-host-pid', () => {
  it.each([
    ['the main command', [TASK, '--tool', 'strace'], undefined],
    ['local', ['local', 'web', '--tool', 'strace'], 'local'],
    ['demo', ['demo'], 'demo'],
  ])('is a flag of %s, off unless given', (_label, argv, name) => {
    expect(optionsOf(argv, name).allowHostPid).toBeUndefined();
    expect(optionsOf([...argv, '--allow-host-pid'], name).allowHostPid).toBe(true);
  });

  it('goes into the request as allowHostPid: true only when given; the spec defaults to false', () => {
    const asked = buildSessionRequest({ task: TASK }, { tool: 'strace', allowHostPid: true });
    const plain = buildSessionRequest({ task: TASK }, { tool: 'strace' });

    expect(parseSessionRequest(asked).allowHostPid).toBe(true);
    expect('allowHostPid' in plain).toBe(false);
    expect(parseSessionRequest(plain).allowHostPid).toBe(false);
  });
});

describe('--allow-host-network', () => {
  it.each([
    ['the main command', [TASK, '--tool', 'tcpdump'], undefined],
    ['local', ['local', 'web', '--tool', 'tcpdump'], 'local'],
    ['demo', ['demo'], 'demo'],
  ])('is a flag of %s, off unless given', (_label, argv, name) => {
    expect(optionsOf(argv, name).allowHostNetwork).toBeUndefined();
    expect(optionsOf([...argv, '--allow-host-network'], name).allowHostNetwork).toBe(true);
  });

  it('goes into the request as allowHostNetwork: true, and the spec then allows the host network', () => {
    const request = buildSessionRequest({ task: TASK }, { tool: 'tcpdump', allowHostNetwork: true });

    expect(request.allowHostNetwork).toBe(true);
    expect(parseSessionRequest(request).allowHostNetwork).toBe(true);
  });

  it('stays out of the request without the flag: the spec (and the host) refuse the host network', () => {
    const request = buildSessionRequest({ task: TASK }, { tool: 'tcpdump' });

    expect('allowHostNetwork' in request).toBe(false);
    expect(parseSessionRequest(request).allowHostNetwork).toBe(false);
  });
});
