import { runCli } from '../../support/cli';

// Each test starts the real CLI (node + tsx): seconds on a loaded machine, with other test files
// running in the other workers.
jest.setTimeout(30_000);

const TASK = 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef';
// An API that cannot answer: bad input must be refused before any request is attempted.
const NO_API = ['--api-url', 'http://127.0.0.1:9/'];

describe('the debug-task CLI', () => {
  it('prints usage with --help and exits 0', async () => {
    const run = await runCli(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Usage: debug-task \[options\] \[command\] \[task\]/);
    expect(run.stdout).toMatch(/demo/);
  });

  it('lists the catalog as JSON with each tool’s capabilities, format and limits', async () => {
    const run = await runCli(['tools', '--json']);
    expect(run.code).toBe(0);
    const { tools } = run.json();
    expect(tools.map((t: { name: string }) => t.name)).toEqual(['tcpdump', 'ngrep', 'strace', 'snapshot']);
    expect(tools[0]).toMatchObject({
      capabilities: ['NET_RAW', 'SETGID'],
      format: 'pcap',
      maxDurationSeconds: 900,
    });
    expect(tools[2].capabilities).toEqual(['SYS_PTRACE']);
  });

  it('lists what each tool takes, in text and JSON', async () => {
    const text = await runCli(['tools']);
    const json = await runCli(['tools', '--json']);

    expect(text.stdout).toMatch(/ngrep[^]*takes --filter <expr>, --match <expr>\n/);
    expect(text.stdout).toMatch(/strace[^]*takes --syscalls <list>, --pid <n>\n/);
    expect(json.json().tools.map((t: { takes: string[] }) => t.takes)).toEqual([
      ['filter'],
      ['filter', 'match'],
      ['syscalls', 'pid'],
      [],
    ]);
  });

  it.each([
    [['--tool', 'tcpdump', '--match', 'GET'], /tcpdump takes no --match/],
    [['--tool', 'ngrep', '--pid', '12'], /ngrep takes no --pid/],
    [['--tool', 'snapshot', '--syscalls', 'open'], /snapshot takes no --syscalls/],
    [['--tool', 'strace', '--pid', 'init'], /--pid takes a process id/],
    [['--tool', 'ngrep', '--match', '-i'], /match is invalid/],
  ])('exits 2 with INVALID_ARGUMENT for %j before calling the API', async (flags, message) => {
    const run = await runCli([TASK, ...flags, '--json', ...NO_API]);

    expect(run.code).toBe(2);
    expect(run.json().error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(message),
    });
    expect(run.json()).not.toHaveProperty('sessionId');
  });

  it('exits 2 with INVALID_ARGUMENT when no task is given', async () => {
    const run = await runCli(['--tool', 'tcpdump', '--json', ...NO_API]);
    expect(run.code).toBe(2);
    expect(run.json().error.code).toBe('INVALID_ARGUMENT');
  });

  it('exits 2 with UNKNOWN_TOOL before calling the API', async () => {
    const run = await runCli([TASK, '--tool', 'wireshark', '--json', ...NO_API]);
    expect(run.code).toBe(2);
    expect(run.json().error).toMatchObject({ code: 'UNKNOWN_TOOL', hint: expect.stringMatching(/tcpdump/) });
  });

  it('exits 2 with DURATION_OUT_OF_RANGE for a duration it cannot read', async () => {
    const run = await runCli([TASK, '--tool', 'tcpdump', '--duration', 'forever', ...NO_API]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/error DURATION_OUT_OF_RANGE: --duration "forever"/);
    expect(run.stderr).toMatch(/hint: Write it as 90 \(seconds\), 90s, 1m30s, 1.5m or 2h/);
  });

  it('exits 2 with INVALID_TASK_ARN for a target that is not a task', async () => {
    const run = await runCli(['i-0123456789abcdef0', '--tool', 'tcpdump', '--json', ...NO_API]);
    expect(run.code).toBe(2);
    expect(run.json().error.code).toBe('INVALID_TASK_ARN');
  });

  it('exits 5 naming the API it could not reach', async () => {
    const run = await runCli([TASK, '--tool', 'tcpdump', '--json', ...NO_API]);
    expect(run.code).toBe(5);
    expect(run.json().error).toMatchObject({
      code: 'AWS_ERROR',
      message: expect.stringMatching(/127\.0\.0\.1:9/),
    });
  });

  it('exits 2 on an unknown option', async () => {
    const run = await runCli([TASK, '--tool', 'tcpdump', '--bogus']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/unknown option '--bogus'/);
  });
});
