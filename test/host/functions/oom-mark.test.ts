import { requireBash, RunnerShell } from './runner-shell';

/**
 * wait_for_toolbox's OOM check against a stub docker: the `docker inspect` of the toolbox's OOM
 * flag is skipped only when the toolbox's own memory mark (/out/oom) proves a clean end; every
 * doubt keeps it. The toolbox's removal runs in the background and is awaited before the report.
 */

const SESSION_ID = 'dt-20261125120000-abc123';
const LIMIT = String(256 * 1024 * 1024); // memoryMb's default, in bytes
let shell: RunnerShell;

beforeAll(() => {
  requireBash();
  shell = new RunnerShell();
});
afterAll(() => shell?.remove());

const ENV = {
  SSM_sessionId: SESSION_ID,
  SSM_containerId: 'feedface0123456789ab',
  SSM_tool: 'tcpdump',
  SSM_durationSeconds: '3',
  SSM_maxBytes: '1000000',
  SSM_image: 'registry.example.com/toolbox@sha256:' + 'a'.repeat(64),
  SSM_expiresAt: String(Math.floor(Date.now() / 1000) + 120),
};

/**
 * /out as `setup` (bash, in $OUT) left it, a docker whose wait prints `code` and whose inspect
 * says OOMKilled `oom`; then the toolbox's end as run_session takes it.
 */
function end(setup: string, opts: { code?: string; oom?: boolean; forced?: boolean } = {}) {
  shell.stub(
    'docker',
    `case "$1" in
  wait) echo ${opts.code ?? '0'} ;;
  inspect) echo ${opts.oom ? 'true' : 'false'} ;;
  rm) exit 0 ;;
  *) exit 1 ;;
esac`,
  );
  return shell.run(
    `load_params; set_container_args
rm -rf "$WORK"; mkdir -p "$OUT"
(cd "$OUT" && : >listening && : >ended && ${setup})
${opts.forced ? 'FORCED_KILL=1' : ''}
wait_for_toolbox
await_toolbox_removal
echo done`,
    { env: ENV },
  );
}

const inspected = (run: ReturnType<typeof end>) =>
  run.calls.some((c) => c[0] === 'docker' && c[1] === 'inspect');
const removed = (run: ReturnType<typeof end>) =>
  run.calls.some((c) => c[0] === 'docker' && c[1] === 'rm' && c.at(-1) === `debug-task-${SESSION_ID}`);

describe('the toolbox memory mark', () => {
  it('skips the OOM inspect when the mark says 0 OOM kills under the limit this runner set', () => {
    const run = end(`printf '0 ${LIMIT}\\n' >oom`);

    expect(run.error.code).toBe('');
    expect(run.stdout).toBe('done\n');
    expect(inspected(run)).toBe(false);
    expect(removed(run)).toBe(true);
  });

  it.each([
    ['no mark', ':'],
    ['an OOM kill counted', `printf '1 ${LIMIT}\\n' >oom`],
    ['another cgroup (another limit)', `printf '0 1048576\\n' >oom`],
    ['an unlimited cgroup', `printf '0 max\\n' >oom`],
    ['trailing words', `printf '0 ${LIMIT} x\\n' >oom`],
    ['a leading sign', `printf -- '-0 ${LIMIT}\\n' >oom`],
    ['a mark too large to be one', `printf '0 ${LIMIT}\\n%040d\\n' 0 >oom`],
    ['an empty mark', ': >oom'],
  ])('inspects with %s', (_what, setup) => {
    const run = end(setup);

    expect(run.error.code).toBe('');
    expect(inspected(run)).toBe(true);
    expect(removed(run)).toBe(true);
  });

  it('inspects when the toolbox did not end by its script (status 137), whatever its mark says', () => {
    expect(inspected(end(`printf '0 ${LIMIT}\\n' >oom`, { code: '137' }))).toBe(true);
  });

  it('inspects when the runner killed the toolbox, whatever its mark says', () => {
    expect(inspected(end(`printf '0 ${LIMIT}\\n' >oom`, { forced: true }))).toBe(true);
  });

  it('never reads a mark that is a link (the output guard refuses it first)', () => {
    const run = end(`printf '0 ${LIMIT}\\n' >real && ln -s real oom`);

    expect(run.error.code).toBe('CAPTURE_FAILED');
    expect(run.error.message).toContain('oom (type l, 1 links)');
  });

  it('reports CAPTURE_FAILED (memory limit) when the inspect says OOMKilled', () => {
    const run = end(`printf '2 ${LIMIT}\\n' >oom`, { oom: true });

    expect(run.error.code).toBe('CAPTURE_FAILED');
    expect(run.error.message).toContain('killed at its memory limit (256 MiB)');
  });

  it('fails CAPTURE_FAILED when the background removal fails', () => {
    shell.stub(
      'docker',
      `case "$1" in wait) echo 0 ;; rm) echo 'engine gone' >&2; exit 1 ;; *) exit 0 ;; esac`,
    );
    const run = shell.run(
      `load_params; set_container_args
rm -rf "$WORK"; mkdir -p "$OUT"; printf '0 ${LIMIT}\\n' >"$OUT/oom"
wait_for_toolbox
await_toolbox_removal
echo done`,
      { env: ENV },
    );

    expect(run.error.code).toBe('CAPTURE_FAILED');
    expect(run.error.message).toContain('could not be removed: engine gone');
  });
});
