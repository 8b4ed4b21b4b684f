import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoTarget, type DemoTarget } from '../../lib/sandbox/demo-target';
import { ensureLocalToolboxImage } from '../../lib/sandbox/local-image';
import { SANDBOX_UPLOAD_ROLE_ARN, startSandbox, type Sandbox } from '../../lib/sandbox/sandbox';
import { runCli } from '../support/cli';
import { containersWithLabel, requireDocker } from '../support/docker';

jest.setTimeout(240_000);

/**
 * One session through the real CLI against the sandbox, read from the calls the stand-ins served:
 * Resolve's three lookups, then Launch's AssumeRole of the upload role, then SendCommand.
 */
describe('the AWS calls of one session on the local sandbox', () => {
  let sandbox: Sandbox;
  let target: DemoTarget;
  let workdir: string;

  beforeAll(async () => {
    requireDocker();
    workdir = mkdtempSync(join(tmpdir(), 'debug-task-e2e-'));
    const { image } = await ensureLocalToolboxImage();
    target = await startDemoTarget(image);
    sandbox = await startSandbox({ toolboxImage: image });
  });
  afterAll(async () => {
    await target?.stop();
    await sandbox?.stop();
    rmSync(workdir, { recursive: true, force: true });
  });

  it('assumes the upload role once, right before SendCommand, scoped to the session artifact', async () => {
    const before = sandbox.calls().filter((c) => c.service !== 'sfn').length;

    const run = await runCli(
      [
        target.taskArn,
        '--container',
        target.containerName,
        '--tool',
        'tcpdump',
        '--duration',
        '2s',
        '--api-url',
        sandbox.apiUrl,
        '--region',
        sandbox.region,
        '--json',
        '--output',
        join(workdir, 'out.pcap'),
      ],
      {
        env: {
          AWS_ACCESS_KEY_ID: sandbox.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: sandbox.credentials.secretAccessKey,
          AWS_REGION: sandbox.region,
        },
      },
    );

    expect(run.code).toBe(0);
    const { sessionId, status } = run.json() as { sessionId: string; status: string };
    expect(status).toBe('SUCCEEDED');
    const calls = sandbox
      .calls()
      .filter((c) => c.service !== 'sfn')
      .slice(before);
    const names = calls.map((c) => `${c.service}:${c.action}`);
    const send = names.indexOf('ssm:SendCommand');
    expect(names.slice(0, send + 1)).toEqual([
      'ecs:DescribeTasks',
      'ecs:DescribeContainerInstances',
      'ssm:DescribeInstanceInformation',
      'sts:AssumeRole',
      'ssm:SendCommand',
    ]);
    expect(names.filter((name) => name.startsWith('sts:'))).toEqual(['sts:AssumeRole']);
    const assume = calls[send - 1];
    expect(assume.input).toMatchObject({
      RoleArn: SANDBOX_UPLOAD_ROLE_ARN,
      RoleSessionName: sessionId,
      DurationSeconds: String(2 + 30 + 900),
    });
    expect(JSON.parse(assume.input?.Policy ?? '{}')).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 's3:PutObject',
          Resource: `arn:aws:s3:::${sandbox.bucket}/sessions/${sessionId}/artifact.pcap.gz`,
        },
      ],
    });
    expect(containersWithLabel(`debug-task.session=${sessionId}`)).toEqual([]);
  });
});
