import { randomBytes } from 'node:crypto';
import { STACK_DOCTOR_CHECKS, type DoctorReport } from '../../lib/domain/doctor';
import { SANDBOX_CLUSTER } from '../../lib/sandbox/sandbox';
import { runCli } from '../support/cli';
import { useSandboxWithTarget } from '../support/sandbox-with-target';

jest.setTimeout(240_000);

/**
 * The real CLI (its own process, its own credential chain) against the sandbox running in this
 * process: `doctor --stack` asks the doctor handler's POST /doctor, which checks the deployment over
 * the ECS + SSM stand-in and s3rver. The API is given (--api-url), so there is no stack to read.
 */
describe('debug-task doctor --stack on the local sandbox', () => {
  const e2e = useSandboxWithTarget('stack-doctor');

  const doctor = (args: string[]) =>
    runCli(['doctor', '--stack', ...args, '--api-url', e2e.sandbox.apiUrl, '--region', e2e.sandbox.region], {
      env: e2e.cliEnv(),
    });

  const actions = () => e2e.sandbox.calls().map((c) => `${c.service}:${c.action}`);
  const statusOf = (report: DoctorReport) => Object.fromEntries(report.checks.map((c) => [c.name, c.status]));

  it('checks the deployment and the hosts of the demo task’s cluster; the local image is a tag outside ECR: warnings; exit 0', async () => {
    const before = actions().length;

    const run = await doctor(['--cluster', SANDBOX_CLUSTER, '--json']);

    expect(run.code).toBe(0);
    const report = run.json() as DoctorReport;
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual([...STACK_DOCTOR_CHECKS]);
    expect(statusOf(report)).toEqual({
      credentials: 'ok',
      stack: 'skipped',
      api: 'ok',
      'document-pinned': 'ok',
      'image-pinned': 'warning',
      'image-present': 'warning',
      'bucket-writable': 'ok',
      'hosts-ready': 'ok',
      'policy-loaded': 'ok',
    });
    expect(report.checks.find((c) => c.name === 'document-pinned')?.detail).toContain(
      `version ${e2e.sandbox.documentVersion}: Active`,
    );
    expect(report.checks.find((c) => c.name === 'hosts-ready')?.detail).toMatch(
      new RegExp(
        `^${SANDBOX_CLUSTER}: 1 container instance\\(s\\), 1 managed by SSM, 1 online, 1 with agent >= 2\\.0\\.790\\.0 \\(param mode: 1 env\\)$`,
      ),
    );
    expect(report.checks.find((c) => c.name === 'policy-loaded')?.detail).toBe(
      'no policy: IAM decides alone',
    );
    // Reads only: nothing sent to a host, no execution started.
    expect(actions().slice(before)).toEqual([
      'ssm:DescribeDocument',
      'ecs:ListContainerInstances',
      'ecs:DescribeContainerInstances',
      'ssm:DescribeInstanceInformation',
    ]);
  });

  it('fails hosts-ready for a cluster without container instances, with INSTANCE_NOT_MANAGED and exit 3', async () => {
    const empty = `empty-${randomBytes(4).toString('hex')}`;

    const run = await doctor(['--cluster', empty, '--json']);

    expect(run.code).toBe(3);
    const report = run.json() as DoctorReport;
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === 'hosts-ready')).toMatchObject({
      status: 'failed',
      code: 'INSTANCE_NOT_MANAGED',
      detail: expect.stringContaining(`${empty}: 0 container instance(s)`),
      hint: expect.stringContaining('no ACTIVE EC2 container instance'),
    });
  });

  it('skips hosts-ready without --cluster (the sandbox allows any cluster), says how, and prints the fix for humans', async () => {
    const run = await doctor([]);

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^skipped +stack +the API is given \(--api-url\)/m);
    expect(run.stdout).toMatch(/^skipped +hosts-ready +this deployment allows any cluster/m);
    expect(run.stdout).toMatch(/^ +fix: Run `debug-task doctor --stack --cluster CLUSTER`\.$/m);
    expect(run.stdout.trim().split('\n').at(-1)).toBe(
      'ready: the deployment passed every check (doctor TASK checks a session on a task)',
    );
  });

  it('refuses a task together with --stack: exit 2 before any check', async () => {
    const run = await runCli(['doctor', 'some-task', '--stack', '--api-url', e2e.sandbox.apiUrl], {
      env: e2e.cliEnv(),
    });

    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/INVALID_ARGUMENT/);
  });
});
