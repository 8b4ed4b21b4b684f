import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, spawnCli } from '../support/cli';
import { containersOfSession, containersOfTasks, demoTasksOf } from '../support/docker';
import { useSandboxWithTarget } from '../support/sandbox-with-target';

jest.setTimeout(300_000);

/**
 * Issue 16, tried again the way it was found: the CLI against the sandbox as a tired engineer uses
 * it. Bad -o is refused before anything starts; the region comes from the task ARN; --profile is
 * honoured; the session commands say what the session is; a double Ctrl-C in demo leaves nothing.
 */
describe('the CLI’s habits on the local sandbox', () => {
  const e2e = useSandboxWithTarget('cli-habits');

  describe('a bad -o is refused before anything starts (exit 2, no AWS call)', () => {
    const cases: Array<[string, () => string, RegExp]> = [
      ['an existing folder', () => e2e.workdir, /is a folder/],
      ['a path ending in /', () => join(e2e.workdir, 'new') + '/', /is a folder/],
      ['a missing parent', () => join(e2e.workdir, 'missing', 'x.pcap'), /does not exist/],
      ['the word json', () => 'json', /not an output format/],
    ];
    it.each(cases)('%s', async (_what, output, message) => {
      const callsBefore = e2e.sandbox.calls().length;
      const started = Date.now();

      const run = await runCli(e2e.captureArgs('--duration', '60s', '-o', output(), '--json'), {
        env: e2e.cliEnv(),
      });

      // Nothing reached the API (below) is the proof; the time only shows that no 60 s capture ran.
      // The compiled CLI answers in ~0.7 s; here tsx compiles on the fly, on a shared machine.
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(run.code).toBe(2);
      expect(run.json().error).toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(message),
      });
      expect(run.json().sessionId).toBeUndefined();
      expect(e2e.sandbox.calls().length).toBe(callsBefore);
    });
  });

  it('writes the artifact to stdout with -o -, and to -w FILE', async () => {
    const child = spawnCli(e2e.captureArgs('--duration', '2s', '-o', '-'), {
      env: { ...process.env, ...e2e.cliEnv() },
    });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    // A classic pcap's magic number (microseconds, this machine's byte order): the bytes themselves.
    expect(Buffer.concat(chunks).readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect(stderr).toMatch(/artifact {2}-\n/);

    const file = join(e2e.workdir, 'w.pcap');
    const written = await runCli(e2e.captureArgs('--duration', '2s', '-w', file, '--json'), {
      env: e2e.cliEnv(),
    });
    expect(written.code).toBe(0);
    expect(written.json().artifact.path).toBe(file);
  });

  it('signs for the region of the task ARN when nothing else names one', async () => {
    const env = {
      ...e2e.cliEnv(),
      AWS_REGION: '',
      AWS_DEFAULT_REGION: '',
      AWS_CONFIG_FILE: join(e2e.workdir, 'none'),
    };

    const run = await runCli(
      e2e.captureArgs('--duration', '2s', '-o', join(e2e.workdir, 'arn.pcap'), '--json'),
      { env },
    );

    expect(run.code).toBe(0);
    expect(run.json().status).toBe('SUCCEEDED');
  });

  it('honours --profile over the environment’s keys, and names a profile without credentials', async () => {
    const aws = join(e2e.workdir, 'aws');
    mkdirSync(aws, { recursive: true });
    const keys = e2e.cliEnv();
    writeFileSync(
      join(aws, 'config'),
      `[profile sandbox]\nregion = ${keys.AWS_REGION}\naws_access_key_id = ${keys.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${keys.AWS_SECRET_ACCESS_KEY}\n`,
    );
    const env = {
      AWS_CONFIG_FILE: join(aws, 'config'),
      AWS_SHARED_CREDENTIALS_FILE: join(aws, 'credentials'),
      // Wrong keys in the environment: only the profile's can sign.
      AWS_ACCESS_KEY_ID: 'AKIAWRONGWRONGWRONG0',
      AWS_SECRET_ACCESS_KEY: 'wrong',
      AWS_REGION: '',
    };

    const good = await runCli(['list', '--api-url', e2e.sandbox.apiUrl, '--profile', 'sandbox', '--json'], {
      env,
    });
    const bad = await runCli(['list', '--api-url', e2e.sandbox.apiUrl, '--profile', 'nosuch'], { env });

    expect(good.code).toBe(0);
    expect(good.json()).toHaveProperty('sessions');
    expect(bad.code).toBe(5);
    expect(bad.stderr).toMatch(/No AWS credentials for profile "nosuch"/);
    expect(bad.stderr).toMatch(/aws sso login --profile nosuch/);
  });

  it('gives the session commands’ words and exit codes of the README’s table', async () => {
    const api = ['--api-url', e2e.sandbox.apiUrl];
    const started = await runCli(e2e.captureArgs('--duration', '30s', '--no-wait'), { env: e2e.cliEnv() });
    const id = started.stdout.trim();
    expect(id).toMatch(/^dt-/);

    const running = await runCli(['status', id, ...api], { env: e2e.cliEnv() });
    expect(running.code).toBe(0);
    expect(running.stdout).toMatch(new RegExp(`^${id} {2}RUNNING`));

    const cancel = await runCli(['cancel', id, ...api], { env: e2e.cliEnv() });
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toMatch(new RegExp(`^${id} {2}CANCELLED {2}\\(the toolbox container was removed`));
    expect(containersOfSession(id)).toEqual([]);

    const again = await runCli(['cancel', id, ...api], { env: e2e.cliEnv() });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/CANCELLED {2}\(already cancelled: nothing to do\)/);

    const status = await runCli(['status', id, ...api], { env: e2e.cliEnv() });
    expect(status.code).toBe(130);
    expect(status.stdout).toMatch(new RegExp(`^${id} {2}CANCELLED`));

    const done = await runCli(
      e2e.captureArgs('--duration', '1s', '-o', join(e2e.workdir, 'done.pcap'), '--json'),
      {
        env: e2e.cliEnv(),
      },
    );
    const doneId = done.json().sessionId as string;
    const cancelDone = await runCli(['cancel', doneId, ...api], { env: e2e.cliEnv() });
    expect(cancelDone.code).toBe(2);
    expect(cancelDone.stderr).toMatch(/already ended SUCCEEDED: there is nothing to cancel/);
    expect(cancelDone.stderr).toContain(`debug-task fetch ${doneId}`);

    const fetched = await runCli(['fetch', doneId, ...api, '-o', join(e2e.workdir, 'again.pcap'), '--json'], {
      env: e2e.cliEnv(),
    });
    expect(fetched.code).toBe(0);
    const t = fetched.json().timings;
    expect(t.overheadSeconds).toBeGreaterThanOrEqual(0);
    expect(t.totalSeconds).toBeGreaterThanOrEqual(t.captureSeconds);
  });
});

describe('debug-task demo interrupted twice', () => {
  it('exits 130 and leaves no container, process folder or temporary folder of its own', async () => {
    // Its own TMPDIR: every temporary folder the demo makes is there, whatever else runs on this machine.
    const tmp = mkdtempSync(join(tmpdir(), 'debug-task-e2e-double-ctrl-c-'));
    try {
      const child = spawnCli(['demo', '--duration', '30s', '-o', join(tmp, 'out.pcap')], {
        env: { ...process.env, TMPDIR: tmp },
      });
      let stderr = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no capture within 180 s:\n${stderr}`)), 180_000);
        child.on('close', (code) =>
          reject(new Error(`the demo ended (${code}) before capturing:\n${stderr}`)),
        );
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          if (/capturing/.test(stderr)) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      await new Promise((r) => setTimeout(r, 2000));

      child.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 200));
      child.kill('SIGINT');
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

      expect(code).toBe(130);
      const sessionId = /session (dt-[a-z0-9-]+) started/.exec(stderr)?.[1];
      expect(sessionId).toBeDefined();
      expect(containersOfSession(sessionId!)).toEqual([]);
      const tasks = demoTasksOf(stderr);
      expect(tasks).toHaveLength(1);
      expect(containersOfTasks(tasks)).toEqual([]);
      expect(readdirSync(tmp).filter((d) => d.startsWith('debug-task-'))).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
