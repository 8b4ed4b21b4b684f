import { TOOLS, TOOL_NAMES, type ToolName } from '../../../lib/domain/tools';
import { requireBash, RunnerShell } from './runner-shell';

/** check_target against a stub docker; each tool's argv and capability profile (toolbox_argv). */

const SESSION_ID = 'dt-20261125120000-abc123';
const CONTAINER_ID = 'feedface0123456789ab';
let shell: RunnerShell;

beforeAll(() => {
  requireBash();
  shell = new RunnerShell();
});
afterAll(() => shell?.remove());

function runEnv(over: Record<string, string> = {}): Record<string, string> {
  const values: Record<string, string> = {
    sessionId: SESSION_ID,
    containerId: CONTAINER_ID,
    tool: 'tcpdump',
    durationSeconds: '30',
    maxBytes: '1000000',
    image: 'registry.example.com/toolbox@sha256:' + 'a'.repeat(64),
    expiresAt: String(Math.floor(Date.now() / 1000) + 120),
    ...over,
  };
  return Object.fromEntries(Object.entries(values).map(([name, value]) => [`SSM_${name}`, value]));
}

describe('check_target (stub docker)', () => {
  /** A docker whose inspect prints `inspect` (exit 0), or fails with `inspectStatus`; info exits `info`. */
  function stubDocker(answer: { inspect?: string; inspectStatus?: number; info?: number }) {
    shell.stub(
      'docker',
      `case "$1" in
  inspect) ${answer.inspect === undefined ? `exit ${answer.inspectStatus ?? 1}` : `printf '%s\\n' '${answer.inspect}'`} ;;
  info) exit ${answer.info ?? 0} ;;
esac`,
    );
  }
  const check = (over: Record<string, string> = {}) =>
    shell.run('load_params; check_target', { env: runEnv(over) });

  it('accepts a running target in bridge or awsvpc mode with one inspect of its state, pid, name, modes', () => {
    for (const mode of ['bridge', `container:${'ab'.repeat(32)}`]) {
      stubDocker({ inspect: `running|4242|/app|${mode}|` });

      const run = check();

      expect(run.error.code).toBe('');
      expect(run.status).toBe(0);
      expect(run.calls).toHaveLength(1);
      expect(run.calls[0].slice(0, 4)).toEqual(['docker', 'inspect', '--type', 'container']);
      expect(run.calls[0].at(-1)).toBe(CONTAINER_ID);
    }
  });

  it('refuses a target that is not running with CONTAINER_NOT_FOUND', () => {
    stubDocker({ inspect: 'exited|0|/app|bridge|' });

    expect(check().error).toEqual({
      code: 'CONTAINER_NOT_FOUND',
      message: `Container ${CONTAINER_ID} is exited, not running.`,
    });
  });

  it('says the container is missing when the engine answers, and asks the engine only then', () => {
    stubDocker({ inspectStatus: 1, info: 0 });

    const run = check();

    expect(run.error).toEqual({
      code: 'CONTAINER_NOT_FOUND',
      message: `There is no container ${CONTAINER_ID} on this host.`,
    });
    expect(run.calls.map((call) => call[1])).toEqual(['inspect', 'info']);
  });

  it('says the engine does not answer when docker info fails too', () => {
    stubDocker({ inspectStatus: 1, info: 1 });

    expect(check().error).toMatchObject({
      code: 'CAPTURE_FAILED',
      message: expect.stringContaining('The Docker engine does not answer'),
    });
  });

  it('refuses a target in the host network mode unless allowHostNetwork is true', () => {
    stubDocker({ inspect: 'running|4242|/agent|host|' });

    expect(check().error.code).toBe('HOST_NETWORK_NOT_ALLOWED');
    expect(check({ allowHostNetwork: 'true' }).error.code).toBe('');
  });

  it('refuses a target in the host pid namespace unless allowHostPid is true, naming it', () => {
    stubDocker({ inspect: 'running|4242|/agent|bridge|host' });

    expect(check().error).toEqual({
      code: 'HOST_PID_NOT_ALLOWED',
      message: expect.stringMatching(
        /^Container agent \(feedface0123456789ab\) shares the host's pid namespace \(PidMode host\)/,
      ),
    });
    expect(check({ allowHostPid: 'true' }).error.code).toBe('');
  });

  it('accepts a target sharing another container’s pid namespace (an ECS task with pidMode task)', () => {
    stubDocker({ inspect: `running|4242|/app|bridge|container:${'cd'.repeat(32)}` });

    expect(check().error.code).toBe('');
  });
});

describe('the toolbox’s docker run (toolbox_argv)', () => {
  /** The toolbox's `docker run` words for a tool, as the runner would start it. */
  function toolboxRun(over: Record<string, string>): string[] {
    const run = shell.run(
      'load_params; check_run_params; set_container_args; tool_command; toolbox_argv; printf "%s\\n" "${TOOLBOX_RUN[@]}"',
      { env: runEnv(over) },
    );
    expect(run.error.code).toBe('');
    return run.stdout.split('\n').slice(0, -1);
  }
  /** The words after `--cap-drop ALL`: each `--cap-add X`, in order. */
  const capsOf = (argv: string[]) => argv.flatMap((word, i) => (argv[i - 1] === '--cap-add' ? [word] : []));
  // After the script: duration, the longest wait to listen, the size cap, the ready file and text,
  // a time ring's window and bound.
  const toolArgv = (argv: string[]) => argv.slice(argv.indexOf('/debug-task/toolbox.sh') + 8);
  const ringArgs = (argv: string[]) => {
    const script = argv.indexOf('/debug-task/toolbox.sh');
    return argv.slice(script + 6, script + 8);
  };

  it.each(TOOL_NAMES)(
    'starts %s with --cap-drop ALL and exactly the catalog’s capabilities, never privileged',
    (tool) => {
      const argv = toolboxRun({ tool });

      expect(argv.slice(0, 4)).toEqual(['run', '-d', '--pull', 'never']);
      expect(argv[argv.indexOf('--cap-drop') + 1]).toBe('ALL');
      expect(capsOf(argv)).toEqual([...TOOLS[tool as ToolName].capabilities]);
      expect(argv).toEqual(expect.arrayContaining(['--security-opt', 'no-new-privileges', '--read-only']));
      expect(argv).not.toContain('--privileged');
      // The target's namespaces, the limits, the output mount.
      expect(argv).toEqual(
        expect.arrayContaining([`container:${CONTAINER_ID}`, '--pids-limit', '64', '--memory', '256m']),
      );
      expect(argv[argv.indexOf('--network') + 1]).toBe(`container:${CONTAINER_ID}`);
      expect(argv[argv.indexOf('--pid') + 1]).toBe(`container:${CONTAINER_ID}`);
    },
  );

  it('runs tcpdump block-buffered to stdout, snaplen and interface as given, the filter from its file', () => {
    const argv = toolArgv(
      toolboxRun({ tool: 'tcpdump', snaplen: '96', iface: 'eth1', filter: 'tcp port 80' }),
    );

    expect(argv).toEqual([
      'tcpdump',
      '-p',
      '-Z',
      'root',
      '-n',
      '-s',
      '96',
      '-w',
      '-',
      '-i',
      'eth1',
      '-F',
      '/out/filter.bpf',
    ]);
  });

  it('runs tcpdump on the task’s own interface (no -i) and without a filter by default', () => {
    expect(toolArgv(toolboxRun({ tool: 'tcpdump' }))).toEqual([
      'tcpdump',
      '-p',
      '-Z',
      'root',
      '-n',
      '-s',
      '262144',
      '-w',
      '-',
    ]);
  });

  it('runs a followed tcpdump packet-buffered (-U): the follower reads the file as it grows', () => {
    const followed = toolboxRun({
      tool: 'tcpdump',
      chunkUrl: 'https://bucket.s3.xx-test-1.amazonaws.com/?key=x',
    });

    expect(toolArgv(followed)).toEqual([
      'tcpdump',
      '-p',
      '-Z',
      'root',
      '-U',
      '-n',
      '-s',
      '262144',
      '-w',
      '-',
    ]);
  });

  it('gives tcpdump no ring by default: no pruner (window 0), the capture on its stdout', () => {
    expect(ringArgs(toolboxRun({ tool: 'tcpdump' }))).toEqual(['0', '0']);
  });

  it.each([
    // A time ring: files of a tenth of the window (1 to 60 s), of an eighth of maxBytes, and the pruner.
    [{ ringSeconds: '5' }, ['5', '1000000'], ['-w', '/out/ring-%s.', '-G', '1', '-C', '1']],
    [
      { ringSeconds: '3600', maxBytes: '400000000' },
      ['3600', '400000000'],
      ['-w', '/out/ring-%s.', '-G', '60', '-C', '50'],
    ],
    // A size ring: tcpdump's own, -C files of an eighth of it and -W one more than fill it; no pruner.
    [{ ringBytes: '2000000' }, ['0', '2000000'], ['-w', '/out/ring-', '-C', '1', '-W', '3']],
    [{ ringBytes: '200000000' }, ['0', '200000000'], ['-w', '/out/ring-', '-C', '25', '-W', '9']],
  ])('runs a ring buffer %j as tcpdump files in /out', (over, ring, files) => {
    const argv = toolboxRun({ tool: 'tcpdump', ...over });

    expect(ringArgs(argv)).toEqual(ring);
    expect(toolArgv(argv)).toEqual(['tcpdump', '-p', '-Z', 'root', '-n', '-s', '262144', ...files]);
  });

  it('runs ngrep without privilege revocation, line by line, its snaplen only when not 0', () => {
    expect(toolArgv(toolboxRun({ tool: 'ngrep', snaplen: '0', iface: 'eth0' }))).toEqual([
      'ngrep',
      '-p',
      '-R',
      '-q',
      '-t',
      '-W',
      'byline',
      '-l',
      '-d',
      'eth0',
    ]);
    expect(toolArgv(toolboxRun({ tool: 'ngrep', snaplen: '128' }))).toEqual([
      'ngrep',
      '-p',
      '-R',
      '-q',
      '-t',
      '-W',
      'byline',
      '-l',
      '-s',
      '128',
    ]);
  });

  it('traces pid 1 of the target’s pid namespace with strace, and runs the snapshot script', () => {
    expect(toolArgv(toolboxRun({ tool: 'strace' }))).toEqual([
      'strace',
      '-f',
      '-tt',
      '-p',
      '1',
      '-o',
      '/dev/stdout',
    ]);
    expect(toolArgv(toolboxRun({ tool: 'snapshot' }))).toEqual(['sh', '/debug-task/snapshot.sh']);
  });

  it('gives ngrep its match expression as one word after --, never as an option', () => {
    const argv = toolArgv(toolboxRun({ tool: 'ngrep', match: 'GET /api|POST (x)', filter: 'tcp port 80' }));

    expect(argv.slice(-4)).toEqual(['-F', '/out/filter.bpf', '--', 'GET /api|POST (x)']);
  });

  it('gives strace the pid it names and its syscall list as -e trace=LIST', () => {
    expect(toolArgv(toolboxRun({ tool: 'strace', pid: '42', syscalls: 'connect,%file' }))).toEqual([
      'strace',
      '-f',
      '-tt',
      '-p',
      '42',
      '-o',
      '/dev/stdout',
      '-e',
      'trace=connect,%file',
    ]);
  });

  it.each([
    ['tcpdump', 'match', 'GET'],
    ['ngrep', 'pid', '7'],
    ['snapshot', 'syscalls', 'open'],
    ['tcpdump', 'syscalls', 'open'],
  ])('refuses %s with a %s (INVALID_ARGUMENT), starting nothing', (tool, name, value) => {
    const run = shell.run('load_params; check_run_params', { env: runEnv({ tool, [name]: value }) });

    expect(run.error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(run.error.message).toContain(`${tool} takes no ${name}`);
    expect(run.calls).toEqual([]);
  });

  it.each([
    ['tcpdump', 'tool.err', 'listening on '],
    ['ngrep', 'artifact', 'interface: '],
    ['strace', 'tool.err', ' attached'],
    ['snapshot', 'tool.err', ''],
  ])('starts %s’s clock when %s says "%s" (at most 10 s after its start)', (tool, file, text) => {
    const argv = toolboxRun({ tool, durationSeconds: '45' });
    const script = argv.indexOf('/debug-task/toolbox.sh');

    expect(argv.slice(script + 1, script + 6)).toEqual(['45', '10', '1000000', file, text]);
  });

  it('passes the duration and the size cap to the toolbox script, a hostile-looking filter only through its file', () => {
    const argv = toolboxRun({
      tool: 'tcpdump',
      durationSeconds: '45',
      maxBytes: '777',
      filter: 'host 10.0.0.1 and (port 1 or port 2)',
    });
    const script = argv.indexOf('/debug-task/toolbox.sh');

    expect(argv.slice(script - 1, script + 4)).toEqual(['sh', '/debug-task/toolbox.sh', '45', '10', '777']);
    expect(argv.join(' ')).not.toContain('host 10.0.0.1');
  });
});
