import { Writable } from 'node:stream';
import type { APIGatewayProxyEventV2WithIAMAuthorizer } from 'aws-lambda';
import { doctorCommand } from '../../../lib/cli/commands/doctor';
import type { DoctorFlags } from '../../../lib/cli/options';
import type { Output } from '../../../lib/cli/output';
import {
  DEPLOYMENT_CHECKS,
  POLICY_CHECKS,
  DOCTOR_CHECKS,
  TARGET_CHECKS,
  type DoctorCheck,
  type DoctorReport,
} from '../../../lib/domain/doctor';
import { DebugTaskError } from '../../../lib/domain/errors';
import { startApiServer } from '../../../lib/sandbox/api-server';

/** The command in-process against a local API that verifies SigV4; the report is the test's. */

const REGION = 'xx-test-1';
const CREDENTIALS = { accessKeyId: 'AKIATESTDOCTOR001234', secretAccessKey: 'secret' };
const TASK = `arn:aws:ecs:${REGION}:123456789012:task/prod/0123456789abcdef0123456789abcdef`;

function capture(json: boolean): Output & { stdout: () => string } {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { json, debug: false, out, err: out, stdout: () => text };
}

const ok = (name: DoctorCheck['name'], detail = 'fine'): DoctorCheck => ({ name, status: 'ok', detail });

function remoteReport(overrides: Partial<Record<DoctorCheck['name'], DoctorCheck>> = {}): DoctorReport {
  const checks = [...TARGET_CHECKS, ...POLICY_CHECKS, ...DEPLOYMENT_CHECKS].map(
    (name) => overrides[name] ?? ok(name),
  );
  return { checks, ok: !checks.some((c) => c.status === 'failed') };
}

describe('debug-task doctor', () => {
  let server: Awaited<ReturnType<typeof startApiServer>>;
  let answer: DoctorReport = remoteReport();
  const seen: APIGatewayProxyEventV2WithIAMAuthorizer[] = [];

  beforeAll(async () => {
    server = await startApiServer({
      region: REGION,
      credentials: CREDENTIALS,
      accountId: '123456789012',
      handler: async (event) => {
        seen.push(event);
        return { statusCode: 200, body: JSON.stringify(answer) };
      },
    });
  });
  afterAll(() => server.stop());
  beforeEach(() => {
    seen.length = 0;
    answer = remoteReport();
  });

  const flags = (extra: Partial<DoctorFlags> = {}): DoctorFlags => ({
    apiUrl: server.url,
    region: REGION,
    stackName: 'DebugTask',
    ...extra,
  });
  const run = (output: Output, extra: Partial<DoctorFlags> = {}, task = TASK) =>
    doctorCommand(task, flags(extra), output, { credentials: async () => CREDENTIALS });

  it('checks credentials and the API itself, then prints the API’s checks, and exits 0', async () => {
    const output = capture(true);

    const code = await run(output, { container: 'web', tool: 'strace' });

    expect(code).toBe(0);
    const report = JSON.parse(output.stdout().trim().split('\n').at(-1)!) as DoctorReport;
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual([...DOCTOR_CHECKS]);
    expect(report.checks[0]).toEqual({
      name: 'credentials',
      status: 'ok',
      detail: 'access key …1234 (long-term)',
    });
    expect(report.checks[1]).toMatchObject({
      name: 'api',
      status: 'ok',
      detail: expect.stringContaining(server.url),
    });
    expect(seen).toHaveLength(1);
    expect(seen[0].routeKey).toBe('POST /clusters/{cluster}/doctor');
    expect(seen[0].pathParameters).toEqual({ cluster: 'prod' });
    expect(JSON.parse(seen[0].body!)).toEqual({ target: { task: TASK, container: 'web' }, tool: 'strace' });
  });

  it('exits 0 with a warning, which is not a failure', async () => {
    answer = remoteReport({
      'image-pinned': { name: 'image-pinned', status: 'warning', detail: 'x:tag', hint: 'pin it' },
    });
    const output = capture(false);

    expect(await run(output)).toBe(0);
    expect(output.stdout()).toMatch(/^warning {2}image-pinned +x:tag\n +fix: pin it$/m);
    expect(output.stdout()).toMatch(/^ready: every precondition of a session holds$/m);
  });

  it('exits with the exit code of the first failed check’s error (3 for Fargate) and prints its fix', async () => {
    answer = remoteReport({
      'has-host': {
        name: 'has-host',
        status: 'failed',
        code: 'FARGATE_UNSUPPORTED',
        detail: 'runs on FARGATE',
        hint: 'use ECS Exec',
      },
      'bucket-writable': { name: 'bucket-writable', status: 'failed', code: 'AWS_ERROR', detail: 'denied' },
    });
    const output = capture(false);

    expect(await run(output)).toBe(3);
    expect(output.stdout()).toMatch(
      /^failed {3}has-host +FARGATE_UNSUPPORTED: runs on FARGATE\n +fix: use ECS Exec$/m,
    );
    expect(output.stdout()).toMatch(/^not ready: has-host failed/m);
  });

  it('skips everything after credentials that cannot be resolved, and exits 5', async () => {
    const output = capture(true);
    const noCredentials = async () => {
      throw new DebugTaskError('AWS_ERROR', 'No AWS credentials were found to sign the API request.');
    };

    const code = await doctorCommand(TASK, flags(), output, { credentials: noCredentials });

    expect(code).toBe(5);
    const report = JSON.parse(output.stdout().trim()) as DoctorReport;
    expect(report.ok).toBe(false);
    expect(report.checks[0]).toMatchObject({ name: 'credentials', status: 'failed', code: 'AWS_ERROR' });
    expect(report.checks.slice(1).map((c) => [c.status, c.detail])).toEqual(
      DOCTOR_CHECKS.slice(1).map(() => ['skipped', 'not checked: credentials failed']),
    );
    expect(seen).toHaveLength(0);
  });

  it('reports the API failed when nothing answers at its URL, and exits 5', async () => {
    const output = capture(true);

    const code = await run(output, { apiUrl: 'http://127.0.0.1:9/' });

    expect(code).toBe(5);
    const report = JSON.parse(output.stdout().trim()) as DoctorReport;
    expect(report.checks[1]).toMatchObject({
      name: 'api',
      status: 'failed',
      code: 'AWS_ERROR',
      detail: expect.stringContaining('127.0.0.1:9'),
    });
    expect(report.checks.slice(2).every((c) => c.detail === 'not checked: api failed')).toBe(true);
  });

  it('reports the API failed when it refuses the signature', async () => {
    const output = capture(true);
    const wrongSecret = async () => ({ ...CREDENTIALS, secretAccessKey: 'wrong' });

    const code = await doctorCommand(TASK, flags(), output, { credentials: wrongSecret });

    expect(code).toBe(5);
    expect((JSON.parse(output.stdout().trim()) as DoctorReport).checks[1]).toMatchObject({
      name: 'api',
      status: 'failed',
      detail: expect.stringMatching(/403/),
      hint: expect.stringMatching(/execute-api:Invoke/),
    });
  });

  it('refuses bad input (exit 2 through the error path) before any check or request', async () => {
    const output = capture(true);

    await expect(run(output, {}, 'i-0123456789abcdef0')).rejects.toMatchObject({ code: 'INVALID_TASK_ARN' });
    await expect(run(output, { tool: 'wireshark' })).rejects.toMatchObject({ code: 'UNKNOWN_TOOL' });
    expect(seen).toHaveLength(0);
    expect(output.stdout()).toBe('');
  });

  it('signs with the credentials it checked, not with whatever else the environment holds', async () => {
    // The environment's keys (test/setup-env.ts) differ: the API would refuse a request signed with them.
    expect(process.env.AWS_ACCESS_KEY_ID).not.toBe(CREDENTIALS.accessKeyId);
    const output = capture(true);

    expect(await run(output)).toBe(0);
    expect(seen).toHaveLength(1);
  });
});
