import fc from 'fast-check';
import { ERROR_CODES, exitCodeFor } from '../../../lib/domain/errors';
import { HOST_PARAMS } from '../../../lib/domain/params';
import { requireBash, RunnerShell } from './runner-shell';

/** load_params and the checks of the parameters; json_escape/json_str; exit_status. */

const SESSION_ID = 'dt-20261125120000-abc123';
let shell: RunnerShell;

beforeAll(() => {
  requireBash();
  shell = new RunnerShell();
});
afterAll(() => shell?.remove());

/** load_params with these SSM_ values, then prints P as name=value lines. */
function load(values: Record<string, string>) {
  const env = Object.fromEntries(Object.entries(values).map(([name, value]) => [`SSM_${name}`, value]));
  return shell.run(
    'load_params\nfor name in "${PARAM_NAMES[@]}"; do printf "%s=%s\\n" "$name" "${P[$name]}"; done',
    {
      env,
    },
  );
}

describe('load_params', () => {
  it('applies the generated defaults to what SSM left empty, and keeps what it was given', () => {
    const run = load({ sessionId: SESSION_ID, snaplen: '', cpus: '1.5' });

    expect(run.status).toBe(0);
    const params = Object.fromEntries(
      run.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/=(.*)/s, 2)),
    );
    expect(params).toMatchObject({
      action: 'run',
      sessionId: SESSION_ID,
      snaplen: HOST_PARAMS.snaplen.default,
      cpus: '1.5',
      maxSessions: HOST_PARAMS.maxSessions.default,
      allowHostNetwork: 'false',
      filter: '',
    });
  });

  it('refuses a value outside its pattern with INVALID_ARGUMENT naming the parameter and the value', () => {
    const run = load({ sessionId: SESSION_ID, maxBytes: '12MB' });

    expect(run.status).toBe(1);
    expect(run.error).toEqual({
      code: 'INVALID_ARGUMENT',
      message: `Parameter maxBytes is invalid: received "12MB", expected ${HOST_PARAMS.maxBytes.pattern} (at most 12 characters).`,
    });
    expect(run.stdout).toBe('');
  });

  it('refuses a value over its length even when the pattern would match', () => {
    const run = load({ sessionId: SESSION_ID, reason: 'a'.repeat(HOST_PARAMS.reason.maxChars + 1) });

    expect(run.error.code).toBe('INVALID_ARGUMENT');
    expect(run.error.message).toMatch(/^Parameter reason is invalid/);
  });

  it.each(['uploadUrl', 'planUrl'])('never repeats a refused %s: it carries a signature', (name) => {
    const run = load({ sessionId: SESSION_ID, [name]: 'https://b/k?X-Amz-Signature=secret"' });

    expect(run.error.message).toMatch(
      new RegExp(`^Parameter ${name} is invalid: received "\\(a URL, not shown`),
    );
    expect(run.error.message + run.stderr).not.toContain('secret');
  });

  it('requires a session id for every action but sweep', () => {
    expect(load({ action: 'cleanup' }).error.message).toBe(
      'Parameter sessionId is required (environment variable SSM_sessionId is empty).',
    );
    expect(load({ action: 'sweep' }).status).toBe(0);
  });

  it('sets the session paths from the session id and the work root', () => {
    const run = shell.run('load_params; printf "%s\\n" "$SESSION" "$WORK" "$OUT" "$CONTAINER"', {
      env: { SSM_sessionId: SESSION_ID },
    });

    expect(run.stdout.trim().split('\n')).toEqual([
      SESSION_ID,
      `${shell.home}/${SESSION_ID}`,
      `${shell.home}/${SESSION_ID}/out`,
      `debug-task-${SESSION_ID}`,
    ]);
  });

  it('refuses a work root that is not a plain absolute path (rm -rf runs under it)', () => {
    const run = shell.run('load_params', {
      env: { SSM_sessionId: SESSION_ID, DEBUG_TASK_HOME: '/var/lib/../../etc' },
    });

    expect(run.error.code).toBe('INVALID_ARGUMENT');
    expect(run.error.message).toMatch(/^DEBUG_TASK_HOME must be an absolute path/);
  });
});

describe('check_run_params', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const runValues = (over: Record<string, string>) => ({
    SSM_sessionId: SESSION_ID,
    SSM_containerId: 'feedface0123',
    SSM_tool: 'tcpdump',
    SSM_durationSeconds: '60',
    SSM_maxBytes: '1000',
    SSM_image: 'toolbox:1',
    SSM_expiresAt: String(now() + 120),
    ...over,
  });

  it('requires every value a run needs, by its SSM_ name', () => {
    const run = shell.run('load_params; check_run_params', { env: runValues({ SSM_image: '' }) });

    expect(run.error.message).toBe('Parameter image is required (environment variable SSM_image is empty).');
  });

  it('refuses an expiresAt before the capture could end, counted from startAt when it is later', () => {
    const start = now() + 600;
    const run = shell.run('load_params; check_run_params', {
      env: runValues({ SSM_startAt: String(start), SSM_expiresAt: String(start + 30) }),
    });

    expect(run.error.code).toBe('INVALID_ARGUMENT');
    expect(run.error.message).toContain(`is before the capture could end (start ${start} + 60 s`);
  });

  it('drops a filter for a tool that takes none, and says so', () => {
    const run = shell.run('load_params; check_run_params; printf "[%s]" "${P[filter]}"', {
      env: runValues({ SSM_tool: 'strace', SSM_filter: 'tcp port 80' }),
    });

    expect(run.stdout).toBe('[]');
    expect(run.stderr).toContain('the filter is ignored: strace does not take one');
  });
});

describe('json_str', () => {
  /** What the manifest carries of a string: ASCII only, other controls and non-ASCII bytes replaced. */
  function expected(value: string): string {
    let out = '';
    for (const byte of Buffer.from(value, 'utf8')) {
      if (byte === 0x0a || byte === 0x0d || byte === 0x09) out += String.fromCharCode(byte);
      else if (byte < 0x20 || byte === 0x7f) out += ' ';
      else if (byte >= 0x80) out += '?';
      else out += String.fromCharCode(byte);
    }
    return out;
  }

  it('writes one JSON string per value that parses back to the value (controls made harmless, ASCII only)', () => {
    const values = fc.sample(
      fc
        .string({
          unit: fc.oneof(
            fc.constantFrom('"', '\\', '\n', '\r', '\t', '\u001b', '\u007f', 'é', '💥'),
            fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
          ),
        })
        .filter((v) => !v.includes('\u0000')),
      { numRuns: 300, seed: 11 },
    );
    values.push('', '\\"', '"\\', 'a\u0001b', '\u0085\u009b[31m', 'plain text');

    const run = shell.run('for v in "$@"; do json_str "$v"; printf "\\n"; done', { args: values });

    const lines = run.stdout.split('\n').slice(0, -1);
    expect(lines).toHaveLength(values.length);
    lines.forEach((line, i) => {
      expect(line).toMatch(/^"[\x20-\x7e]*"$/);
      expect({ value: values[i], parsed: JSON.parse(line) }).toEqual({
        value: values[i],
        parsed: expected(values[i]),
      });
    });
  });

  it('writes null for a number it cannot vouch for', () => {
    const run = shell.run('for v in "$@"; do json_num "$v"; printf " "; done', {
      args: ['12', '', '1e3', '-1', '007'],
    });

    expect(run.stdout).toBe('12 null null null null ');
  });
});

describe('exit_status', () => {
  it('gives every error code the CLI exit code of lib/domain/errors.ts, 0 without error', () => {
    const run = shell.run(
      'for code in "" "$@"; do ERROR_CODE=$code; printf "%s=%s\\n" "$code" "$(exit_status)"; done',
      {
        args: ERROR_CODES,
      },
    );

    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toBe('=0');
    expect(lines.slice(1)).toEqual(ERROR_CODES.map((code) => `${code}=${exitCodeFor(code)}`));
  });

  it('fails as the host’s fault (4) for a code it does not know', () => {
    const run = shell.run('ERROR_CODE=SOMETHING_NEW; exit_status');

    expect(run.stdout.trim()).toBe('4');
  });
});
