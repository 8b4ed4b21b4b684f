import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRunnerScript } from '../../../lib/host/runner-script';

/**
 * Function-level tests of the host runner: bash sources the built runner (main does not run when
 * sourced) and calls one function, with stub programs first on PATH (rbenv's pattern: each stub
 * records its argv and answers as the test says). Needs bash 4.3+ only, no Docker engine.
 *
 * Jest rather than bats: the runner's patterns, exit codes and capability profiles come from the
 * TypeScript definitions, and these tests compare the bash side with them directly (and feed it
 * fast-check's values); one runner for every test, one report, the same CI step.
 */

export interface ShellResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Each stub call: the program's name and its arguments, in order. */
  calls: string[][];
  /** What the test's EXIT trap reported: the runner's ERROR_CODE and ERROR_MESSAGE after the call. */
  error: { code: string; message: string };
}

/** Separates the words of one recorded call (never in an argument the runner passes). */
const WORD = '\u001f';

export class RunnerShell {
  readonly dir: string;
  readonly home: string;
  readonly bin: string;
  private readonly script: string;
  private readonly callLog: string;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'dt-fn-'));
    this.home = join(this.dir, 'home');
    this.bin = join(this.dir, 'bin');
    mkdirSync(this.home);
    mkdirSync(this.bin);
    this.script = join(this.dir, 'runner.sh');
    this.callLog = join(this.dir, 'calls');
    writeFileSync(this.script, buildRunnerScript());
  }

  /**
   * A stub program on PATH: records its call, then runs `body` (sh). The body sees the arguments as
   * "$@" and $STUB_DIR, a directory for its own state (e.g. a counter).
   */
  stub(name: string, body = 'exit 0'): void {
    const file = join(this.bin, name);
    writeFileSync(
      file,
      `#!/bin/sh
{ printf '%s' "${name}"; for a in "$@"; do printf '${WORD}%s' "$a"; done; printf '\\n'; } >>'${this.callLog}'
STUB_DIR='${this.dir}'
${body}
`,
    );
    chmodSync(file, 0o755);
  }

  /**
   * Sources the runner and runs `snippet` in the same bash, `args` as "$@". `env` adds to a small
   * environment (PATH: the stubs first). The EXIT trap reports the runner's error, so a call that
   * ends in `fail` (which exits) can be inspected too.
   */
  run(snippet: string, opts: { env?: Record<string, string>; args?: string[] } = {}): ShellResult {
    rmSync(this.callLog, { force: true });
    const report = join(this.dir, 'report');
    rmSync(report, { force: true });
    const program = `source "$RUNNER"
trap 'printf "%s\\n%s" "$ERROR_CODE" "$ERROR_MESSAGE" >"$REPORT"' EXIT
${snippet}`;
    const run = spawnSync('bash', ['-c', program, 'test', ...(opts.args ?? [])], {
      encoding: 'utf8',
      env: {
        PATH: `${this.bin}:${process.env.PATH}`,
        DEBUG_TASK_HOME: this.home,
        RUNNER: this.script,
        REPORT: report,
        ...opts.env,
      },
      timeout: 60_000,
    });
    const [code = '', ...message] = existsSync(report) ? readFileSync(report, 'utf8').split('\n') : [];
    return {
      status: run.status,
      stdout: run.stdout,
      stderr: run.stderr,
      calls: existsSync(this.callLog)
        ? readFileSync(this.callLog, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((line) => line.split(WORD))
        : [],
      error: { code, message: message.join('\n') },
    };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Fails (never skips) where bash is older than the runner needs. */
export function requireBash(): void {
  const run = spawnSync('bash', ['-c', 'echo "${BASH_VERSINFO[0]} ${BASH_VERSINFO[1]}"'], {
    encoding: 'utf8',
  });
  const [major, minor] = run.stdout.trim().split(' ').map(Number);
  if (!(major > 4 || (major === 4 && minor >= 3))) {
    throw new Error(`The runner's function tests need bash 4.3 or later (found "${run.stdout.trim()}").`);
  }
}

/** `P[name]=value` lines for a snippet, values single-quoted (tests pass no quotes). */
export function setParams(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([name, value]) => `P[${name}]='${value}'`)
    .join('\n');
}
