import 'aws-sdk-client-mock-jest';
import { Writable } from 'node:stream';
import {
  CloudFormationClient,
  CloudFormationServiceException,
  DescribeStackResourcesCommand,
  DescribeStacksCommand,
  type Stack,
} from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { DebugTaskClient } from '../../../lib/client/api-client';
import { doctorMain } from '../../../lib/cli/commands/doctor';
import type { DoctorFlags } from '../../../lib/cli/options';
import type { Output } from '../../../lib/cli/output';
import { STACK_DOCTOR_CHECKS, STACK_SERVER_CHECKS, type DoctorReport } from '../../../lib/domain/doctor';
import { DebugTaskError } from '../../../lib/domain/errors';

/** `doctor --stack` in-process: CloudFormation mocked, the API client replaced; the report is the test's. */

const REGION = 'xx-test-1';
const API_URL = 'https://a1b2c3d4e5.execute-api.xx-test-1.amazonaws.com';
const CREDENTIALS = { accessKeyId: 'AKIATESTSTACK0001234', secretAccessKey: 'secret' };
const cfn = mockClient(CloudFormationClient);

function capture(): Output & { stdout: () => string } {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { json: true, debug: false, out, err: out, stdout: () => text };
}

const serverReport: DoctorReport = {
  checks: STACK_SERVER_CHECKS.map((name) => ({ name, status: 'ok', detail: 'fine' })),
  ok: true,
};

function stack(overrides: Partial<Stack> = {}): Stack {
  return {
    StackName: 'DebugTask',
    CreationTime: new Date(),
    StackStatus: 'UPDATE_COMPLETE',
    Outputs: [
      { OutputKey: 'ApiUrl', OutputValue: API_URL },
      { OutputKey: 'StateMachineArn', OutputValue: 'arn:aws:states:xx-test-1:123456789012:stateMachine:S' },
      { OutputKey: 'DocumentName', OutputValue: 'DebugTask-Runner' },
      { OutputKey: 'BucketName', OutputValue: 'bucket' },
    ],
    ...overrides,
  };
}

async function run(task: string | undefined, flags: Partial<DoctorFlags> = {}) {
  const output = capture();
  const urls: string[] = [];
  const bodies: unknown[] = [];
  const code = await doctorMain(
    task,
    { stack: true, stackName: 'DebugTask', region: REGION, ...flags } as DoctorFlags,
    output,
    {
      credentials: () => Promise.resolve(CREDENTIALS),
      cloudFormation: (region) => new CloudFormationClient({ region, credentials: CREDENTIALS }),
      client: (f) => {
        urls.push(f.apiUrl ?? '');
        const client = new DebugTaskClient({ apiUrl: f.apiUrl!, credentials: CREDENTIALS });
        jest.spyOn(client, 'stackDoctor').mockImplementation((request) => {
          bodies.push(request);
          return Promise.resolve(serverReport);
        });
        return Promise.resolve(client);
      },
    },
  );
  const report = JSON.parse(output.stdout().trim().split('\n').at(-1)!) as DoctorReport;
  return { code, report, urls, bodies };
}

describe('debug-task doctor --stack', () => {
  const saved = process.env.DEBUG_TASK_API_URL;
  beforeEach(() => {
    cfn.reset();
    delete process.env.DEBUG_TASK_API_URL;
  });
  afterAll(() => {
    if (saved !== undefined) process.env.DEBUG_TASK_API_URL = saved;
  });

  it('reads the stack (status, outputs, state machine), then asks the API it names; exit 0', async () => {
    cfn.on(DescribeStacksCommand).resolves({ Stacks: [stack()] });
    cfn.on(DescribeStackResourcesCommand).resolves({
      StackResources: [
        {
          LogicalResourceId: 'Sessions',
          ResourceType: 'AWS::StepFunctions::StateMachine',
          PhysicalResourceId: 'arn:aws:states:xx-test-1:123456789012:stateMachine:S',
          ResourceStatus: 'CREATE_COMPLETE',
          Timestamp: new Date(),
        },
      ],
    });

    const { code, report, urls, bodies } = await run(undefined, { cluster: 'prod' });

    expect(code).toBe(0);
    expect(report.checks.map((c) => c.name)).toEqual([...STACK_DOCTOR_CHECKS]);
    expect(report.checks.find((c) => c.name === 'stack')).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/UPDATE_COMPLETE.*stateMachine:S CREATE_COMPLETE/),
    });
    expect(urls).toEqual([API_URL]);
    expect(bodies).toEqual([{ cluster: 'prod' }]);
    expect(cfn).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: 'DebugTask' });
  });

  it('fails stack for a stack whose creation rolled back, and skips the rest; exit 5', async () => {
    cfn.on(DescribeStacksCommand).resolves({ Stacks: [stack({ StackStatus: 'ROLLBACK_COMPLETE' })] });
    cfn.on(DescribeStackResourcesCommand).resolves({ StackResources: [] });

    const { code, report, urls } = await run(undefined);

    expect(code).toBe(5);
    expect(report.checks.find((c) => c.name === 'stack')).toMatchObject({
      status: 'failed',
      code: 'AWS_ERROR',
      detail: 'Stack DebugTask in xx-test-1 is ROLLBACK_COMPLETE, not deployed.',
    });
    expect(report.checks.slice(2).every((c) => c.status === 'skipped')).toBe(true);
    expect(urls).toEqual([]);
  });

  it('fails stack when the stack does not exist, with the fix', async () => {
    cfn.on(DescribeStacksCommand).rejects(
      new CloudFormationServiceException({
        name: 'ValidationError',
        $fault: 'client',
        message: 'Stack with id DebugTask does not exist',
        $metadata: { httpStatusCode: 400 },
      }),
    );

    const { code, report } = await run(undefined);

    expect(code).toBe(5);
    expect(report.checks[1]).toMatchObject({
      name: 'stack',
      status: 'failed',
      detail: 'Stack DebugTask in xx-test-1 does not exist.',
      hint: expect.stringContaining('--stack-name'),
    });
  });

  it('skips stack when the API is given, and says why', async () => {
    const { code, report, urls } = await run(undefined, { apiUrl: API_URL });

    expect(code).toBe(0);
    expect(report.checks[1]).toMatchObject({
      name: 'stack',
      status: 'skipped',
      detail: expect.stringContaining('--api-url'),
    });
    expect(urls).toEqual([API_URL]);
    expect(cfn).not.toHaveReceivedCommand(DescribeStacksCommand);
  });

  it('refuses a task and --stack together, neither, and task flags with --stack: INVALID_ARGUMENT', async () => {
    const refused = async (task: string | undefined, flags: Partial<DoctorFlags>) => {
      const error = await doctorMain(
        task,
        { stackName: 'DebugTask', ...flags } as DoctorFlags,
        capture(),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DebugTaskError);
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', hint: expect.stringContaining('--stack') });
    };
    await refused('arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef', {
      stack: true,
    });
    await refused(undefined, {});
    await refused(undefined, { stack: true, container: 'app' });
  });
});
