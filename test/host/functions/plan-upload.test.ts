import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NO_CONTAINER, PLAN_HEADER } from '../../../lib/domain/host-plan';
import { HostSummarySchema } from '../../../lib/domain/host-summary';
import { requireBash, RunnerShell } from './runner-shell';

/** read_share (a host's lines of a plan), plan_summary_json, and upload (retries, against a stub curl). */

const FLEET_ID = 'dt-20261125120000-abc123';
const INSTANCE = 'i-0123456789abcdef0';
const OTHER = 'i-0fedcba9876543210';
const URL = 'http://127.0.0.1:9/bucket/key?X-Amz-Signature=abc';
const MANIFEST_URL = 'http://127.0.0.1:9/bucket/manifest.json?X-Amz-Signature=def';
let shell: RunnerShell;

beforeAll(() => {
  requireBash();
  shell = new RunnerShell();
});
afterAll(() => shell?.remove());

describe('read_share', () => {
  const line = (...fields: string[]) => fields.join('\t');
  const child = (n: number) => `${FLEET_ID}-${String(n).padStart(4, '0')}`;

  /** read_share for `action` (plan: run children; reupload) on a plan of these lines. */
  function share(lines: string[], header = PLAN_HEADER, action = 'plan') {
    const plan = join(shell.dir, 'plan');
    writeFileSync(plan, [header, ...lines].join('\n') + '\n');
    return shell.run(
      `load_params
INSTANCE_ID=${INSTANCE} SHARE_ACTION=${action === 'plan' ? 'run' : action}
mkdir -p "$WORK" && cp "$PLAN" "$WORK/plan.tsv"
read_share
for i in "\${!SHARE_IDS[@]}"; do
  printf '%s [%s] %s %s\\n' "\${SHARE_IDS[i]}" "\${SHARE_CONTAINERS[i]}" "\${SHARE_ARTIFACT_URLS[i]}" "\${SHARE_MANIFEST_URLS[i]}"
done
[[ ! -e $WORK/plan.tsv ]] && echo 'plan removed'`,
      { env: { SSM_action: action, SSM_sessionId: FLEET_ID, PLAN: plan } },
    );
  }

  it('keeps this instance’s lines in plan order, ignores the others’, and removes the plan', () => {
    const run = share([
      line(INSTANCE, child(0), 'aaaaaaaaaaaa', URL, MANIFEST_URL),
      line(OTHER, child(1), 'bbbbbbbbbbbb', URL, MANIFEST_URL),
      line(INSTANCE, child(2), 'cccccccccccc', '', ''),
    ]);

    expect(run.error.code).toBe('');
    expect(run.stdout.trim().split('\n')).toEqual([
      `${child(0)} [aaaaaaaaaaaa] ${URL} ${MANIFEST_URL}`,
      `${child(2)} [cccccccccccc]  `,
      'plan removed',
    ]);
  });

  it('takes a plan of one: a single task’s session', () => {
    const run = share([line(INSTANCE, child(0), 'aaaaaaaaaaaa', URL, MANIFEST_URL)]);

    expect(run.stdout.trim().split('\n')).toEqual([
      `${child(0)} [aaaaaaaaaaaa] ${URL} ${MANIFEST_URL}`,
      'plan removed',
    ]);
  });

  it('does not look at another instance’s line beyond its first field', () => {
    const run = share([
      line(OTHER, 'anything; at all'),
      line(INSTANCE, child(0), 'aaaaaaaaaaaa', URL, MANIFEST_URL),
    ]);

    expect(run.error.code).toBe('');
    expect(run.stdout).toContain(child(0));
  });

  it('takes a followed child’s chunk form (a sixth field), and none for a line of five', () => {
    const form = 'http://127.0.0.1:9/bucket/?key=sessions%2Fx%2Fchunks%2F&Policy=e30%3D';
    const plan = join(shell.dir, 'plan');
    writeFileSync(
      plan,
      [
        PLAN_HEADER,
        line(INSTANCE, child(0), 'aaaaaaaaaaaa', URL, MANIFEST_URL, form),
        line(INSTANCE, child(1), 'bbbbbbbbbbbb', URL, MANIFEST_URL),
      ].join('\n') + '\n',
    );
    const run = shell.run(
      `load_params
INSTANCE_ID=${INSTANCE} SHARE_ACTION=run
mkdir -p "$WORK" && cp "$PLAN" "$WORK/plan.tsv"
read_share
for i in "\${!SHARE_IDS[@]}"; do printf '%s [%s]\\n' "\${SHARE_IDS[i]}" "\${SHARE_CHUNK_URLS[i]}"; done`,
      { env: { SSM_action: 'plan', SSM_sessionId: FLEET_ID, PLAN: plan } },
    );

    expect(run.error.code).toBe('');
    expect(run.stdout.trim().split('\n')).toEqual([`${child(0)} [${form}]`, `${child(1)} []`]);
  });

  it('refuses a chunk form that is not a URL of the chunkUrl pattern', () => {
    const run = share([line(INSTANCE, child(0), 'aaaaaaaaaaaa', URL, MANIFEST_URL, "http://x/?key='a b'")]);
    expect(run.error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/chunk form is invalid/),
    });
  });

  it('takes a re-upload plan’s lines, which name no container', () => {
    const run = share([line(INSTANCE, child(3), NO_CONTAINER, URL, MANIFEST_URL)], PLAN_HEADER, 'reupload');

    expect(run.error.code).toBe('');
    expect(run.stdout.trim().split('\n')).toEqual([`${child(3)} [] ${URL} ${MANIFEST_URL}`, 'plan removed']);
  });

  it.each([
    [
      'a v1 plan',
      [line(INSTANCE, child(0), 'aaaaaaaaaaaa', URL)],
      '# debug-task plan v1',
      /does not start with "# debug-task plan v2"/,
    ],
    [
      'a missing field',
      [line(INSTANCE, child(0), 'aaaaaaaaaaaa', URL)],
      undefined,
      /does not hold 5 \(or 6\) fields/,
    ],
    [
      'another session’s child',
      [line(INSTANCE, 'dt-20261125120000-zzz999-0000', 'aaaaaaaaaaaa', URL, '')],
      undefined,
      /is not a child of/,
    ],
    [
      'a repeated child',
      [line(INSTANCE, child(0), 'aaaaaaaaaaaa', URL, ''), line(INSTANCE, child(0), 'bbbbbbbbbbbb', URL, '')],
      undefined,
      /repeats/,
    ],
    [
      'a container id that is not hex',
      [line(INSTANCE, child(0), 'xyz; reboot', URL, '')],
      undefined,
      /is not a container id/,
    ],
    [
      'no container in a capture’s line',
      [line(INSTANCE, child(0), NO_CONTAINER, URL, '')],
      undefined,
      /is not a container id/,
    ],
    [
      'an artifact URL outside its pattern',
      [line(INSTANCE, child(0), 'aaaaaaaaaaaa', 'ftp://x/"y', '')],
      undefined,
      /its artifact URL is invalid/,
    ],
    [
      'a manifest URL outside its pattern',
      [line(INSTANCE, child(0), 'aaaaaaaaaaaa', URL, 'http://h/k?a=$(id)')],
      undefined,
      /its manifest URL is invalid/,
    ],
  ])('refuses the whole share for %s (INVALID_ARGUMENT, nothing kept)', (_what, lines, header, message) => {
    const run = share(lines, header);

    expect(run.error.code).toBe('INVALID_ARGUMENT');
    expect(run.error.message).toMatch(message);
    expect(run.error.message).not.toContain('X-Amz-Signature');
    expect(run.stdout).toBe('');
  });

  it('refuses a container in a re-upload plan’s line', () => {
    const run = share([line(INSTANCE, child(0), 'aaaaaaaaaaaa', URL, MANIFEST_URL)], PLAN_HEADER, 'reupload');

    expect(run.error.message).toMatch(/a re-upload's line names no container/);
  });

  it('takes a share of any size: 300 lines for one host', () => {
    const lines = Array.from({ length: 300 }, (_, n) =>
      line(INSTANCE, child(n), 'aaaaaaaaaaaa', URL, MANIFEST_URL),
    );

    const run = share(lines);

    expect(run.error.code).toBe('');
    expect(run.stdout.trim().split('\n')).toHaveLength(301);
  });
});

describe('plan_summary_json', () => {
  /**
   * The summary of children that printed these last lines (undefined: printed nothing); ids
   * FLEET_ID-0000.. in order.
   */
  function summary(printed: (string | undefined)[], opts: { error?: string } = {}) {
    const ids = printed.map((_, n) => `${FLEET_ID}-${String(n).padStart(4, '0')}`);
    const writes = printed
      .map((text, i) =>
        text === undefined
          ? `: >"$WORK/children/${i}"`
          : `printf '%s\\n' 'progress' ${JSON.stringify(text)} >"$WORK/children/${i}"`,
      )
      .join('\n');
    const run = shell.run(
      `load_params
INSTANCE_ID=${INSTANCE}
stamp_ms STARTED_AT
mkdir -p "$WORK/children"
SHARE_IDS=(${ids.join(' ')})
CHILD_PIDS=(${ids.map((_, i) => 1000 + i).join(' ')})
${writes}
STATUS=${opts.error ? 'FAILED' : 'OK'} ${opts.error ? `ERROR_CODE=${opts.error} ERROR_MESSAGE='it went wrong'` : ''}
plan_summary_json`,
      { env: { SSM_action: 'plan', SSM_sessionId: FLEET_ID } },
    );
    return { run, json: JSON.parse(run.stdout) as unknown, ids };
  }
  const manifest = (id: string, status: string, extra = '') =>
    `{"v":1,"sessionId":"${id}","status":"${status}"${extra},"tool":{"name":"tcpdump","exitCode":0},"timings":{"startedAt":1,"endedAt":2}}`;

  it('counts the children by status and lists only those whose manifest did not reach S3', () => {
    const id = (n: number) => `${FLEET_ID}-${String(n).padStart(4, '0')}`;
    const { json } = summary(
      [
        manifest(id(0), 'OK', ''),
        undefined,
        manifest(id(2), 'UPLOAD_FAILED', ',"error":{"code":"UPLOAD_FAILED","message":"m"}'),
        manifest(id(3), 'OK', ''),
      ].map((line, n) => (line && n !== 2 ? line.replace(/}$/, ',"manifestUploaded":true}') : line)),
    );

    const parsed = HostSummarySchema.parse(json);
    expect(parsed).toMatchObject({
      v: 2,
      action: 'plan',
      sessionId: FLEET_ID,
      instanceId: INSTANCE,
      status: 'OK',
      children: 4,
      counts: { OK: 2, FAILED: 1, UPLOAD_FAILED: 1 },
      unreported: [
        { sessionId: id(1), status: 'FAILED', code: 'CAPTURE_FAILED' },
        { sessionId: id(2), status: 'UPLOAD_FAILED', code: 'UPLOAD_FAILED' },
      ],
    });
    expect(parsed.unreportedMore).toBeUndefined();
  });

  it('lists a child whose manifest upload failed with its status, and code null when it had no error', () => {
    const { json, ids } = summary([
      manifest(`${FLEET_ID}-0000`, 'OK', '').replace(/}$/, ',"manifestUploaded":false}'),
    ]);

    expect(HostSummarySchema.parse(json).unreported).toEqual([
      { sessionId: ids[0], status: 'OK', code: null, message: null },
    ]);
  });

  it('takes no other child’s line for its own', () => {
    const { json, ids } = summary([manifest(`${FLEET_ID}-0001`, 'OK', ',"manifestUploaded":true')]);

    expect(HostSummarySchema.parse(json).unreported).toEqual([
      {
        sessionId: ids[0],
        status: 'FAILED',
        code: 'CAPTURE_FAILED',
        message: 'The child printed no manifest (killed?).',
      },
    ]);
  });

  it('stays short: at most 200 listed, the rest counted', () => {
    const { run, json } = summary(Array.from({ length: 230 }, () => undefined));

    const parsed = HostSummarySchema.parse(json);
    expect(parsed.unreported).toHaveLength(200);
    expect(parsed.unreportedMore).toBe(30);
    expect(parsed.counts).toEqual({ FAILED: 230 });
    expect(run.stdout.length).toBeLessThan(24_000);
  });

  it('carries the share’s own error', () => {
    const { json } = summary([], { error: 'INVALID_ARGUMENT' });

    expect(HostSummarySchema.parse(json)).toMatchObject({
      status: 'FAILED',
      error: { code: 'INVALID_ARGUMENT', message: 'it went wrong' },
      children: 0,
      counts: {},
      unreported: [],
    });
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
if upload "$WORK/object.gz" "$SSM_uploadUrl"; then echo uploaded; else echo 'gave up'; fi`,
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
