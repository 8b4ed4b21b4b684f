import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { SandboxReady } from '../../lib/cli/commands/sandbox';
import { runCli } from '../support/cli';
import { startSandboxCommand as startSandbox } from '../support/sandbox-command';
import { containersOfSession, containersOfTasks, requireDocker } from '../support/docker';

jest.setTimeout(300_000);

describe('debug-task sandbox (the local sandbox, kept running)', () => {
  let workdir: string;
  beforeAll(() => {
    requireDocker();
    workdir = mkdtempSync(join(tmpdir(), 'debug-task-e2e-sandbox-'));
  });
  afterAll(() => rmSync(workdir, { recursive: true, force: true }));

  it('prints one ready line, serves the real CLI signed with the owner’s keys, and removes everything on SIGTERM', async () => {
    const sandbox = startSandbox(['--replicas', '2']);
    let ready: SandboxReady | undefined;
    let sessionId: string | undefined;
    try {
      ready = await sandbox.ready;

      expect(ready).toEqual({
        apiUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/$/),
        region: expect.stringMatching(/^xx-/),
        cluster: 'sandbox',
        tasks: [expect.stringMatching(/^arn:aws:ecs:/), expect.stringMatching(/^arn:aws:ecs:/)],
        principals: {
          owner: {
            arn: expect.stringMatching(/^arn:aws:iam::\d{12}:user\/sandbox-owner$/),
            accessKeyId: expect.any(String),
            secretAccessKey: expect.any(String),
          },
          other: {
            arn: expect.stringMatching(/^arn:aws:iam::\d{12}:user\/sandbox-other$/),
            accessKeyId: expect.any(String),
            secretAccessKey: expect.any(String),
          },
        },
        auditLog: expect.stringMatching(/audit\.jsonl$/),
      });
      expect(ready.principals.owner.accessKeyId).not.toBe(ready.principals.other.accessKeyId);
      expect(containersOfTasks(ready.tasks)).toHaveLength(2);

      // The real CLI, as a user runs it against a deployment: the owner's keys in the environment.
      const { owner } = ready.principals;
      const env = {
        AWS_ACCESS_KEY_ID: owner.accessKeyId,
        AWS_SECRET_ACCESS_KEY: owner.secretAccessKey,
        AWS_REGION: ready.region,
        AWS_SESSION_TOKEN: undefined,
        AWS_PROFILE: undefined,
      };
      const run = await runCli(
        [ready.tasks[0], '--tool', 'tcpdump', '--duration', '3s', '--api-url', ready.apiUrl,
         '--cluster', ready.cluster, '--json'], // prettier-ignore
        { env, cwd: workdir },
      );

      expect([run.code, run.stderr.slice(-2000)]).toEqual([0, expect.any(String)]);
      const result = run.json();
      expect(result).toMatchObject({ status: 'SUCCEEDED', tool: { name: 'tcpdump' } });
      expect(existsSync(result.artifact.path)).toBe(true);
      sessionId = result.sessionId as string;

      // A key the API does not know is refused like API Gateway refuses it, before any handler runs.
      const stranger = await runCli(['list', '--api-url', ready.apiUrl, '--json'], {
        env: { ...env, AWS_ACCESS_KEY_ID: 'AKIAUNKNOWN000000000', AWS_SECRET_ACCESS_KEY: 'x' },
        cwd: workdir,
      });
      expect(stranger.code).toBe(5);
      expect(stranger.stdout + stranger.stderr).toMatch(/403/);

      // The session is on the audit log: requested by the owner, resolved, started, ended with its sha256.
      const audit = readFileSync(ready.auditLog, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter(
          (e) => e.sessionId === result.sessionId || e.sessionId === result.sessionId.replace(/-\d{4}$/, ''),
        );
      const types = audit.map((e) => e.type);
      expect(types).toEqual(
        expect.arrayContaining([
          'session.requested',
          'session.resolved',
          'session.started',
          'session.ended',
          'artifact.download-url',
        ]),
      );
      expect(audit.find((e) => e.type === 'session.requested')).toMatchObject({ caller: owner.arn });
      expect(audit.find((e) => e.type === 'artifact.download-url')).toMatchObject({ caller: owner.arn });
      expect(JSON.stringify(audit.find((e) => e.type === 'session.ended'))).toContain(result.artifact.sha256);
    } finally {
      sandbox.child.kill('SIGTERM');
      const [code] = (await once(sandbox.child, 'close')) as [number | null];
      expect([code, sandbox.stderr().slice(-2000)]).toEqual([0, expect.stringContaining('SIGTERM')]);
    }

    // Everything it started is gone: its demo tasks, its toolbox containers, its data directory.
    expect(containersOfTasks(ready!.tasks)).toEqual([]);
    expect(containersOfSession(sessionId!)).toEqual([]);
    expect(existsSync(dirname(ready!.auditLog))).toBe(false);
  });

  it('refuses a policy that does not validate, naming file:line:col, before starting anything', async () => {
    const policy = join(workdir, 'bad.cedar');
    writeFileSync(
      policy,
      'permit(principal, action == Action::"capture", resource)\nwhen { resource.nosuch == "x" };\n',
    );

    const run = await runCli(['sandbox', '--policy', policy, '--json'], { cwd: workdir, timeoutMs: 60_000 });

    expect(run.code).toBe(2);
    expect(run.json().error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(run.json().error.message).toMatch(new RegExp(`${policy.replace(/[.]/g, '\\.')}:\\d+:\\d+: `));
  });
});
