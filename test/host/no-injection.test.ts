import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { HOST_PARAMS, isValidHostParam, type HostParamName } from '../../lib/domain/params';
import { parseManifest, runnerEnv } from '../../lib/host/local-runner';
import { buildRunnerScript } from '../../lib/host/runner-script';
import { INJECTIONS, hostileString, pwnedFiles } from '../support/hostile';

/**
 * No injection through the real runner: hostile values set directly as SSM_* variables (as if
 * SSM's allowedPattern had been bypassed, e.g. the script started some other way) are refused by
 * the runner's own bash check, before any docker or curl call, and nothing they carry ever runs.
 * Needs bash only: docker and curl are stubs that record their calls.
 */

// Each case starts several runners at once; on a loaded machine that takes longer than jest's default 5 s.
jest.setTimeout(60_000);

const NAMES = Object.keys(HOST_PARAMS) as HostParamName[];
const SESSION_ID = 'dt-20261125120000-abc123';
const SCRIPT = buildRunnerScript();

/** A run that would start a capture if every value were accepted. */
const VALID_RUN = () => ({
  action: 'run',
  sessionId: SESSION_ID,
  containerId: 'feedface0123456789abcdef0123456789abcdef0123456789abcdef01234567',
  tool: 'tcpdump',
  durationSeconds: '5',
  maxBytes: '1000000',
  image: 'debug-task-toolbox:local',
  expiresAt: String(Math.floor(Date.now() / 1000) + 3600),
  executionTimeout: '60',
});
/** A handful of payloads per parameter, on top of the property's random ones (a run costs ~0.1 s). */
const PAYLOADS = INJECTIONS.filter((payload) =>
  /pwned-(subst|backtick|semicolon|newline|quote|ifs|and)\b/.test(payload),
);
let serial = 0;

let stubs: string;
let home: string;
let pwnedBefore: string[];
/** The runner as a file, as SSM's aws:runShellScript runs its script (`bash -c` of 98 kB parses ~6x slower). */
let runnerFile: string;

beforeAll(() => {
  pwnedBefore = pwnedFiles();
  stubs = mkdtempSync(join(tmpdir(), 'debug-task-stubs-'));
  home = mkdtempSync(join(tmpdir(), 'debug-task-home-'));
  runnerFile = join(stubs, 'runner.sh');
  writeFileSync(runnerFile, SCRIPT);
  // Each run names its own log in STUB_CALLS, so runs can go in parallel.
  for (const tool of ['docker', 'curl']) {
    writeFileSync(join(stubs, tool), `#!/bin/sh\necho "${tool} $*" >>"$STUB_CALLS"\nexit 1\n`, {
      mode: 0o755,
    });
  }
});
afterAll(() => {
  rmSync(stubs, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  stdout: string;
  /** What the docker and curl stubs were called with, one line each. */
  calls: string;
}

/** The runner, as SSM runs it, with `name` set to `value` directly in its environment. */
function runWith(name: HostParamName, value: string): Promise<Run> {
  const log = join(stubs, `calls-${serial++}`);
  const env = {
    ...runnerEnv(VALID_RUN(), { home }),
    [`SSM_${name}`]: value,
    PATH: `${stubs}:${process.env.PATH}`,
    STUB_CALLS: log,
  };
  return new Promise((resolve) => {
    execFile('bash', [runnerFile], { env, encoding: 'utf8', timeout: 20_000 }, (error, stdout) => {
      const calls = existsSync(log) ? readFileSync(log, 'utf8') : '';
      resolve({ status: error ? ((error as { code?: number }).code ?? null) : 0, stdout, calls });
    });
  });
}

function expectRefusedBeforeDocker(name: HostParamName, value: string, run: Run): void {
  // The case travels with every assertion, so a failure names it (cut short: some are 100 kB).
  const refused = { name, value: value.slice(0, 200), status: 2, calls: '' };
  expect({ name, value: value.slice(0, 200), status: run.status, calls: run.calls }).toEqual(refused);
  expect(parseManifest(run.stdout)).toMatchObject({ status: 'FAILED', error: { code: 'INVALID_ARGUMENT' } });
  // One JSON line on stdout, whatever the value carried (newlines, quotes, escapes).
  expect(run.stdout.trim().split('\n')).toHaveLength(1);
}

/**
 * Environment strings cannot carry NUL (neither can SSM's); every other hostile value can. An empty
 * value is not hostile but absent: the runner then uses the parameter's default, or requires it.
 */
const envSafe = (value: string) => value !== '' && !value.includes('\u0000');

describe('no injection through the host runner', () => {
  afterEach(() => {
    expect(pwnedFiles()).toEqual(pwnedBefore);
  });

  it('reaches docker with the valid values the cases start from (the stubs record it)', async () => {
    const run = await runWith('tool', 'tcpdump');

    expect(run.calls).toMatch(/^docker /);
  });

  it.each(NAMES)('refuses injection payloads in %s before any docker call', async (name) => {
    const payloads = PAYLOADS.filter((payload) => !isValidHostParam(name, payload));

    const runs = await Promise.all(payloads.map((payload) => runWith(name, payload)));

    expect(runs.length).toBeGreaterThan(0);
    runs.forEach((run, i) => expectRefusedBeforeDocker(name, payloads[i], run));
  });

  it('refuses any hostile value its pattern refuses, in any parameter, before any docker call', async () => {
    const cases = fc.sample(
      fc
        .tuple(fc.constantFrom(...NAMES), hostileString().filter(envSafe))
        .filter(([name, value]) => !isValidHostParam(name, value)),
      { numRuns: 100 },
    );

    for (let i = 0; i < cases.length; i += 8) {
      const batch = cases.slice(i, i + 8);
      const runs = await Promise.all(batch.map(([name, value]) => runWith(name, value)));
      runs.forEach((run, j) => expectRefusedBeforeDocker(batch[j][0], batch[j][1], run));
    }
  }, 120_000);
});
