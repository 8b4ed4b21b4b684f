import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertionResults, EXIT, plan } from '../../../scripts/test-aws';

const ROOT = join(__dirname, '..', '..', '..');

/**
 * Whether this machine lets the tests give a process a network namespace of its own: root may
 * (`unshare --net`); a user, or root in a container without CAP_SYS_ADMIN, may not.
 */
const CAN_UNSHARE_NET = spawnSync('unshare', ['--net', 'true']).status === 0;

/**
 * `npm run test:aws` with no credentials anywhere: no variables, a HOME and AWS config files that do
 * not exist, the instance metadata service pointed at a closed loopback port, and, where the machine
 * allows it, a network namespace of its own (`unshare --net`: only a loopback, down), so that no
 * call can leave this machine, whatever the credential chain tries.
 */
function runWithoutCredentials(extraEnv: Record<string, string>) {
  const home = mkdtempSync(join(tmpdir(), 'test-aws-home-'));
  const started = Date.now();
  const node = [process.execPath, require.resolve('tsx/cli'), 'scripts/test-aws.ts', '--yes'];
  const [command, ...args] = CAN_UNSHARE_NET ? ['unshare', '--net', ...node] : node;
  const result = spawnSync(command, args, {
    cwd: ROOT,
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      HOME: home,
      AWS_CONFIG_FILE: join(home, 'no-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
      AWS_REGION: 'xx-test-1',
      // Port 9 (discard) on loopback: nothing listens, so a look at the metadata service is
      // refused at once instead of going to 169.254.169.254.
      AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9',
      ...extraEnv,
    },
    timeout: 60_000,
  });
  return { ...result, seconds: (Date.now() - started) / 1000 };
}

describe('npm run test:aws without credentials', () => {
  it('refuses at once with what to do, exit 2, no stack trace, nothing started', () => {
    const run = runWithoutCredentials({ AWS_EC2_METADATA_DISABLED: 'true' });

    expect(run.status).toBe(EXIT.NOT_STARTED);
    expect(run.stderr).toContain('test:aws: No AWS credentials were found');
    expect(run.stderr).toContain('then run `npm run test:aws` again');
    expect(run.stderr).not.toMatch(/^\s+at /m);
    expect(run.stdout).not.toContain('It deploys');
    expect(run.seconds).toBeLessThan(30);
  });

  it('does not wait on the instance metadata service when it is not disabled either', () => {
    const run = runWithoutCredentials({});

    expect(run.status).toBe(EXIT.NOT_STARTED);
    expect(run.stderr).toContain('test:aws: No AWS credentials were found');
    expect(run.seconds).toBeLessThan(30);
  });
});

describe('test:aws plan and verdict', () => {
  it('says where, what, how long and how much before it asks', () => {
    const text = plan({
      account: '123456789012',
      arn: 'arn:aws:iam::123456789012:user/me',
      region: 'eu-west-1',
    });

    expect(text).toContain('account 123456789012, region eu-west-1');
    expect(text).toMatch(/Time: \d+ to \d+ minutes/);
    expect(text).toMatch(/about \$0\.0\d\d an hour/);
    expect(text).toContain('DebugTaskIntegTestbed');
  });

  it('reads integ-tests-alpha assertion outputs, ignoring the other outputs', () => {
    const results = assertionResults({
      DeployAssert: {
        AssertionResultsLambdaInvokeA: '{"status":"success"}',
        AssertionResultsLambdaInvokeB: '{"status":"fail","message":"Expected FARGATE_UNSUPPORTED"}',
      },
      DebugTaskInteg: { ApiUrl: 'https://example' },
    });

    expect(results).toEqual([
      { name: 'AssertionResultsLambdaInvokeA', status: 'success', message: undefined },
      { name: 'AssertionResultsLambdaInvokeB', status: 'fail', message: 'Expected FARGATE_UNSUPPORTED' },
    ]);
  });
});
