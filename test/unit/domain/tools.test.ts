import { TOOLS, TOOL_ARGUMENT_NAMES, TOOL_NAMES, toolsTaking } from '../../../lib/domain/tools';
import { HOST_PARAMS } from '../../../lib/domain/params';
import { buildRunnerScript } from '../../../lib/host/runner-script';

const RUNNER = buildRunnerScript();

describe('the tool catalog', () => {
  it('names exactly the tools the host parameter admits', () => {
    for (const name of TOOL_NAMES) expect(new RegExp(HOST_PARAMS.tool.pattern).test(name)).toBe(true);
    // Empty is admitted too: only action=run needs a tool, and the runner requires it there.
    expect(HOST_PARAMS.tool.pattern).toBe(`^(${TOOL_NAMES.join('|')})?$`);
  });

  it.each(TOOL_NAMES)('hands %s’s capabilities to the runner through its generated block', (name) => {
    expect(RUNNER).toContain(`  [${name}]='${TOOLS[name].capabilities.join(' ')}'\n`);
  });

  it('says what each tool takes: --filter exactly where takesFilter, each argument by some tool', () => {
    for (const name of TOOL_NAMES) expect(TOOLS[name].takes.includes('filter')).toBe(TOOLS[name].takesFilter);
    for (const argument of TOOL_ARGUMENT_NAMES) expect(toolsTaking(argument).length).toBeGreaterThan(0);
    expect(toolsTaking('match')).toEqual(['ngrep']);
    expect(toolsTaking('syscalls')).toEqual(['strace']);
    expect(toolsTaking('pid')).toEqual(['strace']);
  });

  it('makes every tool argument a host parameter of the same name, so its pattern is checked everywhere', () => {
    for (const argument of TOOL_ARGUMENT_NAMES) expect(HOST_PARAMS).toHaveProperty(argument);
  });

  it.each(TOOL_NAMES)('hands what %s takes to the runner through its generated block', (name) => {
    expect(RUNNER).toContain(`declare -rA TOOL_TAKES=(`);
    expect(RUNNER).toContain(`  [${name}]='${TOOLS[name].takes.join(' ')}'\n`);
  });

  it('never grants NET_ADMIN to a capture tool: they capture without promiscuous mode', () => {
    for (const name of TOOL_NAMES) expect(TOOLS[name].capabilities).not.toContain('NET_ADMIN');
  });

  it('never grants SYS_ADMIN or privileged mode to any tool', () => {
    for (const name of TOOL_NAMES) expect(TOOLS[name].capabilities).not.toContain('SYS_ADMIN');
    expect(RUNNER).not.toMatch(/--privileged/);
  });

  it('keeps every default within its maximum', () => {
    for (const t of Object.values(TOOLS)) {
      expect(t.defaultDurationSeconds).toBeLessThanOrEqual(t.maxDurationSeconds);
      expect(t.defaultMaxBytes).toBeLessThanOrEqual(t.maxMaxBytes);
    }
  });
});
