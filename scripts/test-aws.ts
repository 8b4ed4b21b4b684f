/**
 * `npm run test:aws [-- --yes] [-- --keep]`: the integration test (test/integ/integ.debug-task.ts)
 * on the AWS account and region of your credentials, in one command: it says what it will create,
 * where, and what it will cost, asks, then deploys, runs the assertions, and destroys.
 *
 * Without credentials (or a region) it stops at once, before anything else, with what to do; it
 * never waits on the EC2 instance metadata service (one short try, none with
 * AWS_EC2_METADATA_DISABLED=true).
 *
 * The deploy is the project's own CDK CLI (`cdk deploy --all` of the test app), and the verdict is
 * what integ-runner reads: the integ-tests-alpha assertion outputs (`AssertionResults*`) of the
 * DeployAssert stack; a waiter that times out fails the deploy itself. integ-runner cannot be used:
 * see scripts/integ.ts.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import type { AwsCredentialIdentity } from '@smithy/types';
import { TESTBED_COST_PER_HOUR, testbedCostPerHour } from '../lib/testbed/cost';
import { INTEG_NAMES } from '../test/integ/integ-config';

const ROOT = join(__dirname, '..');
const INTEG_APP = 'npx --no-install tsx test/integ/integ.debug-task.ts';
/** Deploy (Docker build of the toolbox image, instance boot, tasks), three sessions, destroy. */
const EXPECTED_MINUTES = { low: 25, high: 45 } as const;
/** What one run costs at most: the testbed for an hour, plus Lambda, Step Functions, API and S3 calls. */
const RUN_HOURS = 1;

/** Exit codes: 0 every assertion passed; 1 a deploy, an assertion or the destroy failed; 2 not started. */
export const EXIT = { PASSED: 0, FAILED: 1, NOT_STARTED: 2 } as const;

class NotStarted extends Error {}

export interface Caller {
  readonly account: string;
  readonly arn: string;
  readonly region: string;
}

/** The region and the caller of the default credential chain, or NotStarted saying what is missing. */
export async function findCaller(): Promise<Caller> {
  const { STSClient, GetCallerIdentityCommand } = await import('@aws-sdk/client-sts');
  const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
  // One try of one second at the instance metadata service, not the SDK's default retries.
  const credentials = defaultProvider({ timeout: 1000, maxRetries: 0 });
  let resolved: AwsCredentialIdentity;
  try {
    resolved = await withTimeout(credentials(), 10_000, 'resolving credentials');
  } catch (error) {
    throw new NotStarted(
      `No AWS credentials were found (${firstLine(error)}). Configure some (aws configure, aws sso login, ` +
        'AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), then run `npm run test:aws` again.',
    );
  }
  const sts = new STSClient({ credentials: resolved, maxAttempts: 2 });
  let region: string;
  try {
    region = await sts.config.region();
  } catch {
    throw new NotStarted('No AWS region is set: set AWS_REGION (or a region in your profile) and run again.');
  }
  try {
    const identity = await withTimeout(sts.send(new GetCallerIdentityCommand({})), 15_000, 'asking STS');
    return { account: identity.Account!, arn: identity.Arn!, region };
  } catch (error) {
    throw new NotStarted(`The credentials were refused or AWS could not be reached: ${firstLine(error)}`);
  } finally {
    sts.destroy();
  }
}

/** What the run will do, where, for how long and for how much: printed before it asks. */
export function plan(caller: Caller): string {
  const hourly = testbedCostPerHour();
  return [
    `debug-task integration test on AWS account ${caller.account}, region ${caller.region}`,
    `  as ${caller.arn}`,
    '',
    'It deploys, asserts, then destroys:',
    `  ${INTEG_NAMES.debugTaskStack}       the DebugTask stack (API, state machine, functions, SSM document,`,
    `                         bucket); its toolbox image is built here with Docker and pushed to the`,
    `                         CDK assets repository of the account`,
    `  ${INTEG_NAMES.testbedStack} a VPC without NAT, ECS cluster ${INTEG_NAMES.cluster} with one t3.small`,
    '                         instance, a demo service of 2 tasks, 1 Fargate task',
    `  ${INTEG_NAMES.probeStack}   a function that calls the API with SigV4, as a user's code would,`,
    "                         and a second IAM role it assumes (to be refused the function's session)",
    '  DebugTaskOnAws...DeployAssert  integ-tests-alpha assertions: one session on a task, the second',
    '                         role refused it, a refused Fargate session, one service-wide session',
    '',
    `Time: ${EXPECTED_MINUTES.low} to ${EXPECTED_MINUTES.high} minutes. Cost: about $${hourly.toFixed(3)} an hour ` +
      `while the testbed runs (us-east-1 prices), so under $${(hourly * RUN_HOURS + 0.05).toFixed(2)} for a run:`,
    ...TESTBED_COST_PER_HOUR.map(
      (line) => `  $${(line.quantity * line.usdPerHour).toFixed(4)}/h  ${line.what}  (${line.source})`,
    ),
    '  plus cents of Lambda, Step Functions, API Gateway, S3 and CloudWatch Logs requests.',
    '',
    `Left after the destroy, by design of the DebugTask stack (captures and audit logs outlive it): the`,
    `artifact bucket of ${INTEG_NAMES.debugTaskStack} (emptied by its lifecycle rule within 7 days) and its`,
    'log groups (30 days); and the toolbox image and function code in the CDK assets repository and',
    'bucket (`npx cdk gc` removes unused ones). Needs: `npx cdk bootstrap` done once in this',
    'account and region, and a running Docker engine.',
  ].join('\n');
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new NotStarted(
      'Nothing was started: there is no terminal to ask on; pass --yes to go on without asking.',
    );
  }
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}

/** `cdk <args>` of the project (not a global CDK), on the test app, output streamed; its exit code. */
function cdk(args: string[], region: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['--no-install', 'cdk', ...args, '--app', INTEG_APP], {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, AWS_REGION: region, CDK_DEFAULT_REGION: region },
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

/** The assertion results in the deploy's outputs: `{status, message}` per `AssertionResults*` output. */
export function assertionResults(outputs: Record<string, Record<string, string>>): {
  name: string;
  status: string;
  message?: string;
}[] {
  return Object.values(outputs).flatMap((stackOutputs) =>
    Object.entries(stackOutputs)
      .filter(([key]) => key.startsWith('AssertionResults'))
      .map(([name, value]) => {
        const parsed = JSON.parse(value) as { status: string; message?: string };
        return { name, status: parsed.status, message: parsed.message };
      }),
  );
}

async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { yes: { type: 'boolean', short: 'y' }, keep: { type: 'boolean' }, help: { type: 'boolean' } },
  });
  if (values.help) {
    console.log('usage: npm run test:aws [-- --yes] [-- --keep]   (--keep: do not destroy, to look around)');
    return EXIT.PASSED;
  }

  const caller = await findCaller();
  console.log(plan(caller));
  if (!values.yes && !(await confirm('\nDeploy and run it now? [y/N] '))) {
    console.log('Nothing was started.');
    return EXIT.NOT_STARTED;
  }

  const scratch = mkdtempSync(join(tmpdir(), 'debug-task-test-aws-'));
  const outputsFile = join(scratch, 'outputs.json');
  let verdict: number = EXIT.FAILED;
  try {
    const deployed = await cdk(
      ['deploy', '--all', '--require-approval', 'never', '--outputs-file', outputsFile],
      caller.region,
    );
    if (deployed !== 0) {
      console.error(
        'test:aws: the deploy failed (a waiter assertion that timed out fails it too): see above.',
      );
    } else {
      const results = assertionResults(JSON.parse(readFileSync(outputsFile, 'utf8')));
      for (const result of results) {
        console.log(
          `${result.status === 'success' ? 'PASS' : 'FAIL'}  ${result.name}  ${result.message ?? ''}`,
        );
      }
      const passed = results.length > 0 && results.every((result) => result.status === 'success');
      console.log(passed ? `test:aws: ${results.length} assertions passed` : 'test:aws: assertions failed');
      verdict = passed ? EXIT.PASSED : EXIT.FAILED;
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    if (values.keep) {
      console.log(
        `test:aws: --keep: the stacks stay; destroy them with: npx cdk destroy --all --app '${INTEG_APP}'`,
      );
    } else if ((await cdk(['destroy', '--all', '--force'], caller.region)) !== 0) {
      console.error(`test:aws: the destroy failed; run it again: npx cdk destroy --all --app '${INTEG_APP}'`);
      verdict = EXIT.FAILED;
    }
  }
  return verdict;
}

function withTimeout<T>(promise: Promise<T>, ms: number, doing: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s ${doing}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0];
}

if (require.main === module) {
  run(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      // Only a bug shows a stack trace (with DEBUG set); a refusal is one sentence.
      const known = error instanceof NotStarted;
      console.error(`test:aws: ${known || !process.env.DEBUG ? firstLine(error) : (error as Error).stack}`);
      process.exitCode = known ? EXIT.NOT_STARTED : EXIT.FAILED;
    },
  );
}
