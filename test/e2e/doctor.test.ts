import { randomBytes } from 'node:crypto';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import {
  DEPLOYMENT_CHECKS,
  DOCTOR_CHECKS,
  POLICY_CHECKS,
  TARGET_CHECKS,
  type DoctorReport,
} from '../../lib/domain/doctor';
import { SANDBOX_ACCOUNT, SANDBOX_CLUSTER } from '../../lib/sandbox/sandbox';
import { runCli } from '../support/cli';
import { useSandboxWithTarget } from '../support/sandbox-with-target';

jest.setTimeout(240_000);

/**
 * The real CLI (its own process, its own credential chain) against the sandbox running in this
 * process: the doctor function's POST /doctor (Plan's target checks) over the ECS + SSM stand-in, s3rver.
 */
describe('debug-task doctor on the local sandbox', () => {
  const e2e = useSandboxWithTarget('doctor');

  const doctor = (args: string[]) =>
    runCli(['doctor', ...args, '--api-url', e2e.sandbox.apiUrl, '--region', e2e.sandbox.region], {
      // The sandbox's fake keys, found by the CLI's ordinary credential chain (environment first).
      env: e2e.cliEnv(),
    });

  const actions = () => e2e.sandbox.calls().map((c) => `${c.service}:${c.action}`);

  async function probesLeft(): Promise<string[]> {
    const s3 = new S3Client({ endpoint: process.env.AWS_ENDPOINT_URL_S3, forcePathStyle: true });
    try {
      const listed = await s3.send(
        new ListObjectsV2Command({ Bucket: e2e.sandbox.bucket, Prefix: 'doctor/' }),
      );
      return (listed.Contents ?? []).map((o) => o.Key ?? '');
    } finally {
      s3.destroy();
    }
  }

  it('passes every check on the demo task but warns that the local toolbox image is a tag; exit 0', async () => {
    const before = actions().length;

    const run = await doctor([e2e.target.taskArn, '--container', e2e.target.containerName, '--json']);

    expect(run.code).toBe(0);
    const report = run.json() as DoctorReport;
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual([...DOCTOR_CHECKS]);
    expect(report.checks.filter((c) => c.status !== 'ok')).toEqual([
      expect.objectContaining({
        name: 'image-pinned',
        status: 'warning',
        detail: expect.stringMatching(/tag/),
      }),
    ]);
    expect(report.checks.find((c) => c.name === 'container-chosen')?.detail).toContain(
      e2e.target.containerId.slice(0, 12),
    );
    // Plan's three calls and nothing else: no command sent (so no container), no execution started.
    expect(actions().slice(before)).toEqual([
      'ecs:DescribeTasks',
      'ecs:DescribeContainerInstances',
      'ssm:DescribeInstanceInformation',
    ]);
    expect(await probesLeft()).toEqual([]);
  });

  it('fails task-found for a task that does not exist, with TASK_NOT_FOUND and exit 3', async () => {
    const missing = `arn:aws:ecs:${e2e.sandbox.region}:${SANDBOX_ACCOUNT}:task/${SANDBOX_CLUSTER}/${randomBytes(16).toString('hex')}`;

    const run = await doctor([missing, '--json']);

    expect(run.code).toBe(3);
    const report = run.json() as DoctorReport;
    expect(report.ok).toBe(false);
    const status = Object.fromEntries(report.checks.map((c) => [c.name, c.status]));
    expect(status).toEqual({
      credentials: 'ok',
      api: 'ok',
      'cluster-allowed': 'ok',
      'task-found': 'failed',
      ...Object.fromEntries(TARGET_CHECKS.slice(2).map((name) => [name, 'skipped'])),
      // Not decided: without the task there is nothing (service, tags, container) to decide on.
      ...Object.fromEntries(POLICY_CHECKS.map((name) => [name, 'skipped'])),
      'image-pinned': 'warning',
      'bucket-writable': 'ok',
    });
    expect(report.checks.find((c) => c.name === 'task-found')).toMatchObject({
      code: 'TASK_NOT_FOUND',
      detail: expect.stringContaining('MISSING'),
      hint: expect.any(String),
    });
    expect(DEPLOYMENT_CHECKS.every((name) => name in status)).toBe(true);
  });

  it('prints a table with the fix under the failure for humans', async () => {
    const missing = `arn:aws:ecs:${e2e.sandbox.region}:${SANDBOX_ACCOUNT}:task/${SANDBOX_CLUSTER}/${randomBytes(16).toString('hex')}`;

    const run = await doctor([missing]);

    expect(run.code).toBe(3);
    expect(run.stdout).toMatch(/^ok {7}credentials /m);
    expect(run.stdout).toMatch(/^failed {3}task-found +TASK_NOT_FOUND: Task [0-9a-f]{32} was not found/m);
    expect(run.stdout).toMatch(/^ +fix: /m);
    expect(run.stdout).toMatch(/^skipped {2}agent-version +not checked: task-found failed$/m);
    expect(run.stdout.trim().split('\n').at(-1)).toBe(
      'not ready: task-found failed (fix it, then run doctor again)',
    );
  });
});
