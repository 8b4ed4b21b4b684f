import { join } from 'node:path';
import { SANDBOX_UPLOAD_ROLE_ARN } from '../../lib/sandbox/sandbox';
import { runCli } from '../support/cli';
import { containersWithLabel } from '../support/docker';
import { useSandboxWithTarget } from '../support/sandbox-with-target';

jest.setTimeout(240_000);

/**
 * One session through the real CLI against the sandbox, read from the calls the stand-ins served:
 * Plan's three lookups, then Launch's AssumeRole of the upload role, then SendCommand.
 */
describe('the AWS calls of one session on the local sandbox', () => {
  const e2e = useSandboxWithTarget('session-calls');

  it('assumes the upload role once, right before SendCommand, scoped to the session artifact', async () => {
    const before = e2e.sandbox.calls().filter((c) => c.service !== 'sfn').length;

    const run = await runCli(
      e2e.captureArgs('--duration', '2s', '--json', '--output', join(e2e.workdir, 'out.pcap')),
      {
        env: e2e.cliEnv(),
      },
    );

    expect(run.code).toBe(0);
    const { sessionId, status } = run.json() as { sessionId: string; status: string };
    expect(status).toBe('SUCCEEDED');
    const calls = e2e.sandbox
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
          // The session's one child, and only its objects: its artifact and its manifest.
          Resource: `arn:aws:s3:::${e2e.sandbox.bucket}/sessions/${sessionId}/children/${sessionId}-0000/*`,
        },
      ],
    });
    expect(containersWithLabel(`debug-task.session=${sessionId}-0000`)).toEqual([]);
  });
});
