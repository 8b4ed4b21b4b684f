import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { SandboxReady } from '../../lib/cli/commands/sandbox';
import { DEMO_SERVICE } from '../../lib/sandbox/demo-target';
import { runCli } from '../support/cli';
import { startSandboxCommand as startSandbox, stopSandboxCommand } from '../support/sandbox-command';
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
        eventsUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
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

  it('--triggers: an event sent to eventsUrl (PutEvents) starts the matching trigger’s session, listed as trigger:<name>', async () => {
    const triggers = join(workdir, 'triggers.json');
    writeFileSync(
      triggers,
      JSON.stringify([
        {
          name: 'demo-alarm',
          target: { cluster: 'sandbox', service: DEMO_SERVICE },
          tool: 'tcpdump',
          duration: '3s',
          on: { alarm: 'demo-5xx' },
        },
      ]),
    );
    const sandbox = startSandbox(['--replicas', '1', '--triggers', triggers]);
    let sessionId: string | undefined;
    try {
      const ready = await sandbox.ready;
      const { owner } = ready.principals;
      const env = {
        AWS_ACCESS_KEY_ID: owner.accessKeyId,
        AWS_SECRET_ACCESS_KEY: owner.secretAccessKey,
        AWS_REGION: ready.region,
      };
      // What `aws events put-events --endpoint-url <eventsUrl>` sends.
      const put = await fetch(ready.eventsUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.PutEvents' },
        body: JSON.stringify({
          Entries: [
            {
              Source: 'aws.cloudwatch',
              DetailType: 'CloudWatch Alarm State Change',
              Detail: JSON.stringify({ alarmName: 'demo-5xx', state: { value: 'ALARM' } }),
            },
          ],
        }),
      });
      expect(put.status).toBe(200);

      const deadline = Date.now() + 120_000;
      let row: { sessionId: string; status: string; trigger?: string } | undefined;
      while (Date.now() < deadline && row?.status !== 'SUCCEEDED') {
        await new Promise((r) => setTimeout(r, 1000));
        const list = await runCli(['list', '--api-url', ready.apiUrl, '--json'], { env, cwd: workdir });
        row = (list.json().sessions as (typeof row & object)[]).find((s) => s.trigger === 'demo-alarm');
      }
      expect(row).toMatchObject({ status: 'SUCCEEDED', trigger: 'demo-alarm' });
      sessionId = row!.sessionId;
      const text = await runCli(['list', '--api-url', ready.apiUrl], { env, cwd: workdir });
      expect(text.stdout).toMatch(new RegExp(`^${sessionId} .* trigger:demo-alarm$`, 'm'));
    } finally {
      await stopSandboxCommand(sandbox);
    }
    expect(containersOfSession(sessionId!)).toEqual([]);
  });

  it('refuses a triggers file the stack would refuse, naming the trigger, before starting anything', async () => {
    const triggers = join(workdir, 'bad-triggers.json');
    writeFileSync(
      triggers,
      JSON.stringify([
        {
          name: 'x',
          target: { cluster: 'sandbox', service: 's' },
          tool: 'tcpdump',
          duration: '2h',
          on: { alarm: 'a' },
        },
      ]),
    );

    const run = await runCli(['sandbox', '--triggers', triggers, '--json'], {
      cwd: workdir,
      timeoutMs: 60_000,
    });

    expect(run.code).toBe(2);
    expect(run.json().error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(run.json().error.message).toMatch(
      /triggers\[0\] "x": A tcpdump session lasts 1s to 15m; 2h was asked for/,
    );
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
