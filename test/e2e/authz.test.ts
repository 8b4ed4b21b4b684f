import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SandboxReady } from '../../lib/cli/commands/sandbox';
import { runCli } from '../support/cli';
import { requireDocker } from '../support/docker';
import {
  startSandboxCommand as startSandbox,
  stopSandboxCommand as stopSandbox,
} from '../support/sandbox-command';

jest.setTimeout(600_000);

/**
 * Who may debug what, in the sandbox with two principals (their own SigV4 keys) and the same
 * authorization code as a deployment: owner isolation, a policy that grants `read`, a forbid that
 * names its @id, and a service partly forbidden.
 */

const POLICY_OTHER_READS = `@id("anyone-captures")
permit (principal, action == DebugTask::Action::"capture", resource);

@id("other-reads")
permit (principal, action == DebugTask::Action::"read", resource)
when { principal.arn like "*:user/sandbox-other" };

@id("no-strace-in-sandbox")
forbid (principal, action == DebugTask::Action::"capture", resource)
when { resource.cluster == "sandbox" && context.tool == "strace" };

@id("not-replica-1")
forbid (principal, action == DebugTask::Action::"capture", resource)
when { resource.hasTag("replica") && resource.getTag("replica") == "1" };
`;

describe('who may debug what (debug-task sandbox, two principals)', () => {
  let workdir: string;
  beforeAll(() => {
    requireDocker();
    workdir = mkdtempSync(join(tmpdir(), 'debug-task-e2e-authz-'));
  });
  afterAll(() => rmSync(workdir, { recursive: true, force: true }));

  const as = (ready: SandboxReady, who: 'owner' | 'other') => ({
    AWS_ACCESS_KEY_ID: ready.principals[who].accessKeyId,
    AWS_SECRET_ACCESS_KEY: ready.principals[who].secretAccessKey,
    AWS_REGION: ready.region,
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: undefined,
  });
  const cli = (ready: SandboxReady, who: 'owner' | 'other', args: string[]) =>
    runCli([...args, '--api-url', ready.apiUrl, '--json'], { env: as(ready, who), cwd: workdir });

  it('without a policy: the owner’s session is theirs alone (status, fetch, cancel by the other: exit 6)', async () => {
    const sandbox = startSandbox(['--replicas', '1']);
    try {
      const ready = await sandbox.ready;
      const started = await cli(ready, 'owner', [
        ready.tasks[0],
        '--tool',
        'tcpdump',
        '--duration',
        '20s',
        '--cluster',
        ready.cluster,
        '--no-wait',
      ]);
      expect([started.code, started.stderr.slice(-500)]).toEqual([0, expect.any(String)]);
      const { sessionId } = started.json() as { sessionId: string };

      for (const command of ['status', 'fetch', 'cancel']) {
        const run = await cli(ready, 'other', [command, sessionId, '--cluster', ready.cluster]);
        expect([command, run.code, run.json().error?.code]).toEqual([command, 6, 'NOT_AUTHORIZED']);
        expect(run.stdout + run.stderr).not.toMatch(/X-Amz-Signature|i-0/);
      }
      // Nor does the other see it in its list, nor find its cluster.
      expect((await cli(ready, 'other', ['list'])).json().sessions).toEqual([]);
      expect((await cli(ready, 'other', ['status', sessionId])).json().error?.code).toBe('SESSION_NOT_FOUND');
      // The owner still can.
      const mine = await cli(ready, 'owner', ['cancel', sessionId]);
      expect(mine.code).toBe(0);
    } finally {
      await stopSandbox(sandbox);
    }
  });

  it('with a policy: the other reads once granted; strace refused naming its @id; a partly forbidden service captures the rest', async () => {
    const policy = join(workdir, 'policy.cedar');
    writeFileSync(policy, POLICY_OTHER_READS);
    const sandbox = startSandbox(['--replicas', '3', '--policy', policy]);
    try {
      const ready = await sandbox.ready;

      const strace = await cli(ready, 'owner', [
        ready.tasks[0],
        '--tool',
        'strace',
        '--duration',
        '2s',
        '--cluster',
        ready.cluster,
      ]);
      expect(strace.code).toBe(6);
      expect(strace.json().error).toMatchObject({
        code: 'NOT_AUTHORIZED',
        message: expect.stringContaining('forbid "no-strace-in-sandbox"'),
      });

      const fleet = await cli(ready, 'owner', [
        '--service',
        'debug-task-demo',
        '--cluster',
        ready.cluster,
        '--tool',
        'tcpdump',
        '--duration',
        '3s',
        '--yes',
        '-o',
        join(workdir, 'fleet'),
      ]);
      expect([fleet.code, fleet.stderr.slice(-500)]).toEqual([0, expect.any(String)]);
      const result = fleet.json();
      expect(result.counts).toMatchObject({ targets: 2, succeeded: 2 });
      expect(result.skipped).toEqual([
        expect.objectContaining({
          code: 'NOT_AUTHORIZED',
          message: expect.stringContaining('forbid "not-replica-1"'),
        }),
      ]);

      const read = await cli(ready, 'other', ['status', result.sessionId, '--cluster', ready.cluster]);
      expect([read.code, read.json().status]).toEqual([0, 'SUCCEEDED']);
      // Read is not cancel: on a running session of the owner's, the other's cancel is refused
      // (an ended one has nothing to cancel, which `cancel` says to anyone who may read it).
      const running = await cli(ready, 'owner', [
        ready.tasks[0],
        '--tool',
        'tcpdump',
        '--duration',
        '60s',
        '--cluster',
        ready.cluster,
        '--no-wait',
      ]);
      expect(running.code).toBe(0);
      const { sessionId } = running.json() as { sessionId: string };
      const cancel = await cli(ready, 'other', ['cancel', sessionId, '--cluster', ready.cluster]);
      expect([cancel.code, cancel.json().error?.code]).toEqual([6, 'NOT_AUTHORIZED']);
      const own = await cli(ready, 'owner', ['cancel', sessionId, '--cluster', ready.cluster]);
      expect([own.code, own.json().status]).toEqual([0, 'CANCELLED']);
    } finally {
      await stopSandbox(sandbox);
    }
  });
});
