import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PLAN_HEADER } from '../../../lib/domain/fleet';
import { requireBash, RunnerShell } from './runner-shell';

/** read_share (a host's lines of a plan) and upload (retries, against a stub curl). */

const FLEET_ID = 'dt-20261125120000-abc123';
const INSTANCE = 'i-0123456789abcdef0';
const OTHER = 'i-0fedcba9876543210';
const URL = 'http://127.0.0.1:9/bucket/key?X-Amz-Signature=abc';
let shell: RunnerShell;

beforeAll(() => {
  requireBash();
  shell = new RunnerShell();
});
afterAll(() => shell?.remove());

describe('read_share', () => {
  const line = (...fields: string[]) => fields.join('\t');
  const child = (n: number) => `${FLEET_ID}-${String(n).padStart(4, '0')}`;

  /** read_share on a plan of these lines (after the header, unless `header` says otherwise). */
  function share(lines: string[], header = PLAN_HEADER) {
    const plan = join(shell.dir, 'plan');
    writeFileSync(plan, [header, ...lines].join('\n') + '\n');
    return shell.run(
      `load_params
INSTANCE_ID=${INSTANCE}
mkdir -p "$WORK" && cp "$PLAN" "$WORK/plan"
read_share
for i in "\${!SHARE_IDS[@]}"; do printf '%s %s %s\\n' "\${SHARE_IDS[i]}" "\${SHARE_CONTAINERS[i]}" "\${SHARE_URLS[i]}"; done
[[ ! -e $WORK/plan ]] && echo 'plan removed'`,
      { env: { SSM_action: 'fleet', SSM_sessionId: FLEET_ID, PLAN: plan } },
    );
  }

  it('keeps this instance’s lines in plan order, ignores the others’, and removes the plan', () => {
    const run = share([
      line(INSTANCE, child(0), 'aaaaaaaaaaaa', URL),
      line(OTHER, child(1), 'bbbbbbbbbbbb', URL),
      line(INSTANCE, child(2), 'cccccccccccc', ''),
    ]);

    expect(run.error.code).toBe('');
    expect(run.stdout.trim().split('\n')).toEqual([
      `${child(0)} aaaaaaaaaaaa ${URL}`,
      `${child(2)} cccccccccccc `,
      'plan removed',
    ]);
  });

  it('does not look at another instance’s line beyond its first field', () => {
    const run = share([line(OTHER, 'anything; at all'), line(INSTANCE, child(0), 'aaaaaaaaaaaa', URL)]);

    expect(run.error.code).toBe('');
    expect(run.stdout).toContain(child(0));
  });

  it.each([
    ['a foreign header', [], '# debug-task plan v0', /does not start with/],
    [
      'a missing field',
      [line(INSTANCE, child(0), 'aaaaaaaaaaaa')],
      undefined,
      /does not hold 4 TAB-separated fields/,
    ],
    [
      'another fleet’s child',
      [line(INSTANCE, 'dt-20261125120000-zzz999-0000', 'aaaaaaaaaaaa', URL)],
      undefined,
      /is not a new child id/,
    ],
    [
      'a repeated child',
      [line(INSTANCE, child(0), 'aaaaaaaaaaaa', URL), line(INSTANCE, child(0), 'bbbbbbbbbbbb', URL)],
      undefined,
      /is not a new child id/,
    ],
    [
      'a container id that is not hex',
      [line(INSTANCE, child(0), 'xyz; reboot', URL)],
      undefined,
      /is not a container id/,
    ],
    [
      'an upload URL outside its pattern',
      [line(INSTANCE, child(0), 'aaaaaaaaaaaa', 'ftp://x/"y')],
      undefined,
      /upload URL \(not shown\) is invalid/,
    ],
  ])('refuses the whole share for %s (INVALID_ARGUMENT, nothing kept)', (_what, lines, header, message) => {
    const run = share(lines, header);

    expect(run.error.code).toBe('INVALID_ARGUMENT');
    expect(run.error.message).toMatch(message);
    expect(run.stdout).toBe('');
  });

  it('refuses more lines than a host runs', () => {
    const lines = Array.from({ length: 65 }, (_, n) => line(INSTANCE, child(n), 'aaaaaaaaaaaa', URL));

    expect(share(lines).error.message).toBe(
      'The fleet plan gives this host 65 targets; a host runs at most 64.',
    );
  });
});

describe('upload (stub curl)', () => {
  /**
   * A curl that fails (exit 22, as --fail does on an HTTP error) until its `succeedOn`th call, and
   * a sleep that only records how long it was asked to wait.
   */
  function upload(succeedOn: number, tries: number) {
    shell.stub(
      'curl',
      `n=$(cat "$STUB_DIR/curl-count" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" >"$STUB_DIR/curl-count"
[ "$n" -ge ${succeedOn} ] && exit 0
echo "curl: (22) The requested URL returned error: 503" >&2; exit 22`,
    );
    shell.stub('sleep');
    writeFileSync(join(shell.dir, 'curl-count'), '0');
    return shell.run(
      `load_params; mkdir -p "$WORK"; printf 'x' >"$WORK/object.gz"
if upload "$WORK/object.gz"; then echo uploaded; else echo 'gave up'; fi`,
      { env: { SSM_sessionId: FLEET_ID, SSM_uploadUrl: URL, DEBUG_TASK_UPLOAD_TRIES: String(tries) } },
    );
  }
  const curlCalls = (run: ReturnType<typeof upload>) => run.calls.filter((call) => call[0] === 'curl');
  const sleeps = (run: ReturnType<typeof upload>) =>
    run.calls.filter((call) => call[0] === 'sleep').map((call) => call[1]);

  it('PUTs the file to the upload URL from the host, failing on HTTP errors, with a stall limit', () => {
    const run = upload(1, 5);

    expect(run.stdout.trim()).toBe('uploaded');
    expect(curlCalls(run)).toHaveLength(1);
    const argv = curlCalls(run)[0];
    expect(argv).toEqual(
      expect.arrayContaining([
        '--fail',
        '-X',
        'PUT',
        '-T',
        `${shell.home}/${FLEET_ID}/object.gz`,
        '--speed-limit',
        '1024',
      ]),
    );
    expect(argv.at(-1)).toBe(URL);
  });

  it('retries with a doubling pause until it succeeds', () => {
    const run = upload(3, 5);

    expect(run.stdout.trim()).toBe('uploaded');
    expect(curlCalls(run)).toHaveLength(3);
    expect(sleeps(run)).toEqual(['1', '2']);
    expect(run.stderr).toContain(
      'upload attempt 2 of 5 failed: curl: (22) The requested URL returned error: 503',
    );
  });

  it('gives up after DEBUG_TASK_UPLOAD_TRIES attempts, without a pause after the last', () => {
    const run = upload(99, 4);

    expect(run.stdout.trim()).toBe('gave up');
    expect(curlCalls(run)).toHaveLength(4);
    expect(sleeps(run)).toEqual(['1', '2', '4']);
  });
});
