import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MAX_STDOUT_BYTES,
  readPrefix,
  ScriptProcess,
  type ScriptOptions,
} from '../../../lib/sandbox/ssm-script-process';

/** Whether a process still exists (and is not a zombie waiting for its parent). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

async function waitFor(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('ScriptProcess (aws:runShellScript as the agent runs it)', () => {
  let dir: string;
  const runs: ScriptProcess[] = [];
  const start = async (script: string, extra: Partial<ScriptOptions> = {}) => {
    const run = await ScriptProcess.start({
      dir: join(dir, String(runs.length)),
      script,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      timeoutSeconds: 30,
      killGraceMs: 200,
      ...extra,
    });
    runs.push(run);
    return run;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'debug-task-script-test-'));
  });

  afterAll(async () => {
    await Promise.all(runs.map((r) => r.terminate()));
    await rm(dir, { recursive: true, force: true });
  });

  it('reports Success with stdout and stderr once the script exits 0', async () => {
    const run = await start('echo out\necho err >&2\n');
    await run.done;
    expect(run.result).toMatchObject({
      status: 'Success',
      statusDetails: 'Success',
      responseCode: 0,
      stdout: 'out\n',
      stderr: 'err\n',
    });
    expect(await readFile(join(dir, '0', 'stdout'), 'utf8')).toBe('out\n');
  });

  it('reports Failed with the exit status of a failing script', async () => {
    const run = await start('echo partial\nexit 7\n');
    await run.done;
    expect(run.result).toMatchObject({ status: 'Failed', responseCode: 7, stdout: 'partial\n' });
  });

  it('passes exactly the given environment and runs in the work directory', async () => {
    const run = await start('echo "$SSM_x|${AWS_SECRET_ACCESS_KEY-unset}|$PWD"\n', {
      env: { PATH: process.env.PATH ?? '', SSM_x: '$(id)' },
    });
    await run.done;
    expect(run.result?.stdout).toBe(`$(id)|unset|${join(dir, String(runs.length - 1))}\n`);
  });

  it('keeps the first 24,000 bytes of stdout, ending with the agent`s truncation mark', async () => {
    const run = await start('head -c 100000 /dev/zero | tr "\\0" "a"\n');
    await run.done;
    expect(run.result?.stdout).toHaveLength(MAX_STDOUT_BYTES);
    expect(run.result?.stdout.endsWith('--output truncated--')).toBe(true);
  });

  it('stays InProgress while a background process holds stdout open, as the agent waits on the pipe', async () => {
    const run = await start('sleep 1 &\necho started\n');
    await new Promise((r) => setTimeout(r, 300));
    expect(run.status).toBe('InProgress');
    await run.done;
    expect(run.result?.status).toBe('Success');
  });

  it('cancels: kills the whole process group and reports Cancelled with 137', async () => {
    const pidFile = join(dir, 'cancel.pid');
    const run = await start(`sleep 30 &\necho $! > ${pidFile}\nwait\n`);
    await waitFor(() => existsSync(pidFile));
    const child = Number((await readFile(pidFile, 'utf8')).trim());
    run.cancel();
    expect(['Cancelling', 'Cancelled']).toContain(run.status);
    await run.done;
    expect(run.result).toMatchObject({ status: 'Cancelled', statusDetails: 'Cancelled', responseCode: 137 });
    await waitFor(() => !alive(child));
  });

  it('times out: SIGKILL reaches a group that ignores SIGTERM, status TimedOut/ExecutionTimedOut', async () => {
    const pidFile = join(dir, 'timeout.pid');
    const run = await start(`trap '' TERM\nsleep 30 &\necho $! > ${pidFile}\nwait\n`, {
      timeoutSeconds: 1,
      killGraceMs: 300,
    });
    await waitFor(() => existsSync(pidFile));
    const child = Number((await readFile(pidFile, 'utf8')).trim());
    const started = Date.now();
    await run.done;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(run.result).toMatchObject({
      status: 'TimedOut',
      statusDetails: 'ExecutionTimedOut',
      responseCode: 137,
    });
    await waitFor(() => !alive(child));
  });

  it('a cancel after the end changes nothing', async () => {
    const run = await start('true\n');
    await run.done;
    run.cancel();
    expect(run.result?.status).toBe('Success');
  });
});

describe('readPrefix (pluginutil.StringPrefix)', () => {
  it('returns shorter output unchanged and cuts longer output to the limit with the mark', () => {
    expect(readPrefix(Buffer.from('abc'), 10)).toBe('abc');
    expect(readPrefix(Buffer.from('x'.repeat(30)), 25)).toBe('xxxxx--output truncated--');
  });
});
