import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoTarget, type DemoTarget } from '../../lib/sandbox/demo-target';
import { SANDBOX_ACCOUNT, SANDBOX_CLUSTER, startSandbox, type Sandbox } from '../../lib/sandbox/sandbox';
import { ensureSandboxImages } from '../../lib/sandbox/sandbox-images';
import type { TriggerDeclaration } from '../../lib/triggers/declaration';
import { runCli } from '../support/cli';
import { containersOfSession, requireDocker } from '../support/docker';

jest.setTimeout(300_000);

/**
 * Issue 13 item 4, the whole path on the sandbox: an event given to the sandbox's EventBridge is
 * matched against the rules of the synthesized template, the matching rule's input reaches the real
 * api handler, which starts (or stops) sessions as the trigger's own principal, under a deployment
 * policy; the CLI then lists, follows and fetches them as a person would. Leftover checks look at
 * this file's sessions only.
 */
const POLICY = `@id("people")
permit (principal is DebugTask::Caller, action, resource);

@id("triggers-capture-tcpdump")
permit (principal is DebugTask::Trigger, action == DebugTask::Action::"capture", resource)
when { context.tool == "tcpdump" };

@id("keep-ring-may-stop")
permit (principal is DebugTask::Trigger, action == DebugTask::Action::"stop", resource)
when { principal.name == "keep-ring" };
`;

let sandbox: Sandbox;
let target: DemoTarget;
let workdir: string;
const sessions: string[] = [];

beforeAll(async () => {
  requireDocker();
  workdir = mkdtempSync(join(tmpdir(), 'debug-task-e2e-triggers-'));
  const images = await ensureSandboxImages();
  target = await startDemoTarget(images.target);
  const policyFile = join(workdir, 'policy.cedar');
  writeFileSync(policyFile, POLICY);
  const onTask = { cluster: SANDBOX_CLUSTER, task: target.taskArn, container: target.containerName };
  const triggers: TriggerDeclaration[] = [
    { name: 'on-alarm', target: onTask, tool: 'tcpdump', duration: '4s', on: { alarm: 'sandbox-5xx' } },
    {
      name: 'keep-ring',
      action: 'stop',
      target: { cluster: SANDBOX_CLUSTER, task: target.taskArn },
      on: { taskStopped: { cluster: SANDBOX_CLUSTER, group: 'service:checkout', nonZeroExit: true } },
    },
    {
      name: 'not-permitted',
      action: 'stop',
      target: { cluster: SANDBOX_CLUSTER, task: target.taskArn },
      on: { pattern: { source: ['sandbox.test'], 'detail-type': ['Stop without a permit'] } },
    },
  ];
  sandbox = await startSandbox({ toolboxImage: images.toolbox, policyFile, triggers });
});

afterAll(async () => {
  await target?.stop();
  await sandbox?.stop();
  if (workdir) rmSync(workdir, { recursive: true, force: true });
  for (const id of sessions) expect(containersOfSession(id)).toEqual([]);
});

const cli = (args: string[]) =>
  runCli([...args, '--api-url', sandbox.apiUrl], {
    env: {
      AWS_ACCESS_KEY_ID: sandbox.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: sandbox.credentials.secretAccessKey,
      AWS_REGION: sandbox.region,
    },
  });

interface Row {
  sessionId: string;
  status: string;
  caller?: string;
  trigger?: string;
}
async function listed(id: string): Promise<Row | undefined> {
  const run = await cli(['list', '--json']);
  expect(run.code).toBe(0);
  return (run.json().sessions as Row[]).find((s) => s.sessionId === id);
}
async function untilEnded(id: string): Promise<Row> {
  const deadline = Date.now() + 150_000;
  for (;;) {
    const row = await listed(id);
    if (row && row.status !== 'RUNNING') return row;
    if (Date.now() > deadline) throw new Error(`session ${id} still ${row?.status} after 150 s`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const packets = (path: string) =>
  Number(
    /Number of packets:\s+(\d+)/.exec(execFileSync('capinfos', ['-c', path], { encoding: 'utf8' }))?.[1],
  );
const ruleArnPattern = /^arn:aws:events:xx-sandbox-1:000000000000:rule\/\w+$/;

describe('triggers on the sandbox', () => {
  it('an alarm entering ALARM starts the preset session as trigger:on-alarm; list shows it; it completes with a verified artifact', async () => {
    const deliveries = await sandbox.deliverEvent({
      source: 'aws.cloudwatch',
      'detail-type': 'CloudWatch Alarm State Change',
      resources: [`arn:aws:cloudwatch:xx-sandbox-1:${SANDBOX_ACCOUNT}:alarm:sandbox-5xx`],
      detail: { alarmName: 'sandbox-5xx', state: { value: 'ALARM' }, previousState: { value: 'OK' } },
    });

    expect(deliveries).toHaveLength(1);
    const result = deliveries[0].result as { sessionId: string; action: string };
    expect(result).toMatchObject({ action: 'start', sessionId: expect.stringMatching(/^dt-/) });
    const id = result.sessionId;
    sessions.push(id);
    expect(await listed(id)).toMatchObject({
      trigger: 'on-alarm',
      caller: expect.stringMatching(ruleArnPattern),
    });
    const text = await cli(['list']);
    expect(text.stdout.split('\n').find((line) => line.startsWith(id))).toMatch(/ {2}trigger:on-alarm$/);

    expect(await untilEnded(id)).toMatchObject({ status: 'SUCCEEDED' });
    const file = join(workdir, 'alarm.pcap');
    const fetched = await cli(['fetch', id, '-o', file, '--json']);
    expect(fetched.code).toBe(0);
    expect(sha256(file)).toBe(fetched.json().artifact.sha256);
    expect(packets(file)).toBeGreaterThan(0);
    expect(sandbox.auditLog.events()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'session.requested', sessionId: id, trigger: 'on-alarm' }),
        expect.objectContaining({ type: 'decision', action: 'capture', allowed: true, trigger: 'on-alarm' }),
        expect.objectContaining({ type: 'trigger.fired', trigger: 'on-alarm', sessionId: id }),
      ]),
    );
  });

  it('an alarm in another state, or another alarm, starts nothing', async () => {
    const other = await sandbox.deliverEvent({
      source: 'aws.cloudwatch',
      'detail-type': 'CloudWatch Alarm State Change',
      detail: { alarmName: 'sandbox-5xx', state: { value: 'OK' } },
    });
    expect(other).toEqual([]);
  });

  it('a task stopping with a non-zero exit stops a running ring session and keeps it; a trigger without a permit is refused and audited', async () => {
    const started = await cli([
      target.taskArn,
      '--container',
      target.containerName,
      '--tool',
      'tcpdump',
      '--ring',
      '3s',
      '--duration',
      '90s',
      '--no-wait',
    ]);
    expect(started.code).toBe(0);
    const id = started.stdout.trim();
    sessions.push(id);
    const deadline = Date.now() + 60_000;
    while (containersOfSession(id).length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
    }
    await new Promise((r) => setTimeout(r, 4000));

    const refused = await sandbox.deliverEvent({
      source: 'sandbox.test',
      'detail-type': 'Stop without a permit',
    });
    expect(refused.map((d) => d.result)).toEqual([
      {
        trigger: 'not-permitted',
        action: 'stop',
        stopped: [],
        refused: [{ sessionId: id, code: 'NOT_AUTHORIZED' }],
      },
    ]);
    expect((await listed(id))?.status).toBe('RUNNING');

    // A crashed task of another service of the cluster: ECS's event, as EventBridge receives it.
    const stopped = await sandbox.deliverEvent({
      source: 'aws.ecs',
      'detail-type': 'ECS Task State Change',
      detail: {
        clusterArn: `arn:aws:ecs:xx-sandbox-1:${SANDBOX_ACCOUNT}:cluster/${SANDBOX_CLUSTER}`,
        group: 'service:checkout',
        lastStatus: 'STOPPED',
        containers: [
          { name: 'app', exitCode: 137 },
          { name: 'sidecar', exitCode: 0 },
        ],
      },
    });
    expect(stopped.map((d) => d.result)).toEqual([
      { trigger: 'keep-ring', action: 'stop', stopped: [id], refused: [] },
    ]);

    const ended = await untilEnded(id);
    expect(ended).toMatchObject({ status: 'SUCCEEDED' });
    const file = join(workdir, 'ring.pcap');
    const fetched = await cli(['fetch', id, '-o', file, '--json']);
    expect(fetched.code).toBe(0);
    const result = fetched.json();
    expect(sha256(file)).toBe(result.artifact.sha256);
    expect(packets(file)).toBeGreaterThan(0);
    // Stopped long before its 90 s: kept, as a stop keeps it.
    expect(result.timings.captureSeconds).toBeLessThan(60);
    expect(sandbox.auditLog.events()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          type: 'decision',
          action: 'stop',
          allowed: false,
          trigger: 'not-permitted',
          sessionId: id,
        }),
        expect.objectContaining({
          type: 'decision',
          action: 'stop',
          allowed: true,
          trigger: 'keep-ring',
          sessionId: id,
          rule: 'permit "keep-ring-may-stop"',
        }),
        expect.objectContaining({ type: 'trigger.fired', trigger: 'keep-ring', stopped: [id] }),
      ]),
    );
  });
});
