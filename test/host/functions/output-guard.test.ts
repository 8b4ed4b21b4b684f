import { requireBash, RunnerShell } from './runner-shell';

/** check_toolbox_output: nothing under /out but regular files with one link is ever read. */

const SESSION_ID = 'dt-20261125120000-abc123';
let shell: RunnerShell;

beforeAll(() => {
  requireBash();
  shell = new RunnerShell();
});
afterAll(() => shell?.remove());

/** An out dir prepared by `setup` (bash, in $OUT), then the check, then a read of the artifact. */
function guard(setup: string) {
  return shell.run(
    `load_params
rm -rf "$WORK"; mkdir -p "$OUT"; printf 'secret of the host\\n' >"$WORK/host-file"
(cd "$OUT" && ${setup})
check_toolbox_output toolbox
echo "read: $(cat "$OUT/artifact")"`,
    { env: { SSM_sessionId: SESSION_ID } },
  );
}

describe('check_toolbox_output', () => {
  it('lets regular files through', () => {
    const run = guard('printf pcap >artifact && echo 0 >tool.status && : >tool.err');

    expect(run.error.code).toBe('');
    expect(run.stdout).toBe('read: pcap\n');
  });

  it.each([
    ['a symbolic link to a host file', 'ln -s "$WORK/host-file" artifact', 'artifact (type l, 1 links)'],
    [
      'a symbolic link beside the artifact',
      'printf x >artifact && ln -s "$WORK/host-file" tool.err',
      'tool.err (type l, 1 links)',
    ],
    ['a FIFO', 'mkfifo artifact', 'artifact (type p, 1 links)'],
    ['a directory', 'mkdir artifact', 'artifact (type d, 2 links)'],
    ['a hard link', 'printf x >artifact && ln artifact other', 'links)'],
  ])('refuses %s with CAPTURE_FAILED, reading nothing', (_what, setup, named) => {
    const run = guard(setup);

    expect(run.error.code).toBe('CAPTURE_FAILED');
    expect(run.error.message).toContain(named);
    expect(run.error.message).toContain('is never followed or read');
    expect(run.stdout).toBe('');
    expect(run.error.message + run.stderr).not.toContain('secret of the host');
  });

  it("lists each regular file's size for the reads that follow, whatever bytes its name holds", () => {
    // A name that, split on spaces or newlines, would read as another artifact's record.
    const run = shell.run(
      `load_params; rm -rf "$WORK"; mkdir -p "$OUT"
printf pcap >"$OUT/artifact"; printf 123456789 >"$OUT/"$'x 9 1 1.0 artifact\\nf 1 9 1.0 artifact'
check_toolbox_output toolbox
artifact_size
echo "bytes: $ARTIFACT_BYTES, files: \${#OUT_FILES[@]}"`,
      { env: { SSM_sessionId: SESSION_ID } },
    );

    expect(run.error.code).toBe('');
    expect(run.stdout).toBe('bytes: 4, files: 2\n');
  });

  it('refuses an out dir that is itself a link', () => {
    const run = shell.run(
      `load_params; rm -rf "$WORK"; mkdir -p "$WORK/elsewhere"; ln -s "$WORK/elsewhere" "$OUT"
check_toolbox_output toolbox`,
      { env: { SSM_sessionId: SESSION_ID } },
    );

    expect(run.error).toMatchObject({
      code: 'CAPTURE_FAILED',
      message: expect.stringContaining('is not a directory'),
    });
  });
});
