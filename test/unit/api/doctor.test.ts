import { DescribeContainerInstancesCommand, DescribeTasksCommand, type Task } from '@aws-sdk/client-ecs';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import {
  DescribeInstanceInformationCommand,
  SendCommandCommand,
  type InstanceInformation,
} from '@aws-sdk/client-ssm';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { handler as doctorFunction } from '../../../lambda/doctor';
import { handler as planFunction } from '../../../lambda/plan';
import { imagePinnedCheck } from '../../../lib/api/doctor';
import { handleApiRequest } from '../../../lib/api/routes';
import {
  DEPLOYMENT_CHECKS,
  POLICY_CHECKS,
  TARGET_CHECKS,
  type DoctorCheck,
  type DoctorReport,
  type TargetCheckName,
} from '../../../lib/domain/doctor';
import type { ErrorBody, ErrorCode } from '../../../lib/domain/errors';
import { apiEvent } from '../../support/api-event';
import { aws, useAwsMocks } from '../../support/aws';
import {
  BUCKET,
  CONTAINER_INSTANCE_ARN,
  IMAGE,
  INSTANCE_ID,
  TASK_ARN,
  container,
  onlineInstance,
  runningTask,
  CLUSTER,
} from '../../support/fixtures';

/** POST /clusters/{cluster}/doctor is answered by the doctor function: Plan's own checks, nothing started. */

useAwsMocks();

const { ecs, ssm, s3, sfn } = aws;

const event = (body: unknown) => apiEvent('doctor', { body, cluster: CLUSTER });

async function doctor(body: unknown = { target: { task: TASK_ARN } }) {
  const res = (await doctorFunction(event(body))) as APIGatewayProxyStructuredResultV2;
  return {
    status: res.statusCode,
    body: JSON.parse(res.body ?? '{}') as DoctorReport & { error: ErrorBody },
  };
}

/** The answers of a target where every check passes; each case changes the one it is about. */
function given({
  tasks = [runningTask()],
  instances = [onlineInstance()],
}: { tasks?: Task[]; instances?: InstanceInformation[] } = {}): void {
  ecs
    .on(DescribeTasksCommand)
    .resolves({ tasks, failures: tasks.length ? [] : [{ arn: TASK_ARN, reason: 'MISSING' }] });
  ecs.on(DescribeContainerInstancesCommand).resolves({
    containerInstances: [{ containerInstanceArn: CONTAINER_INSTANCE_ARN, ec2InstanceId: INSTANCE_ID }],
  });
  ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: instances });
  s3.on(PutObjectCommand).resolves({});
  s3.on(DeleteObjectCommand).resolves({});
}

const statuses = (checks: DoctorCheck[]) => Object.fromEntries(checks.map((c) => [c.name, c.status]));

describe('POST /clusters/{cluster}/doctor', () => {
  it('reports every check ok, in order, for a debuggable target, and starts nothing', async () => {
    given();

    const { status, body } = await doctor();

    expect(status).toBe(200);
    expect(body.ok).toBe(true);
    expect(body.checks.map((c) => c.name)).toEqual([
      ...TARGET_CHECKS,
      ...POLICY_CHECKS,
      ...DEPLOYMENT_CHECKS,
    ]);
    expect(body.checks.find((c) => c.name === 'policy-allows')?.detail).toBe(
      'this deployment has no policy file: IAM on the routes decides alone',
    );
    expect(body.checks.every((c) => c.status === 'ok')).toBe(true);
    expect(body.checks.find((c) => c.name === 'container-chosen')?.detail).toBe(
      '"app", Docker id 3f4e5d6c7b8a',
    );
    expect(body.checks.find((c) => c.name === 'agent-version')?.detail).toMatch(/^3\.3\.3050\.0 /);
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
  });

  it("runs Resolve's own three calls, once each", async () => {
    given();

    await doctor();

    expect(ecs).toHaveReceivedCommandTimes(DescribeTasksCommand, 1);
    expect(ecs).toHaveReceivedCommandTimes(DescribeContainerInstancesCommand, 1);
    expect(ssm).toHaveReceivedCommandTimes(DescribeInstanceInformationCommand, 1);
  });

  it('probes the bucket with an object under doctor/ that it deletes again', async () => {
    given();

    await doctor();

    const put = s3.commandCalls(PutObjectCommand)[0].args[0].input;
    expect(put).toMatchObject({
      Bucket: BUCKET,
      Key: expect.stringMatching(/^doctor\/probe-\d+-[0-9a-f]{8}$/),
    });
    expect(s3).toHaveReceivedCommandWith(DeleteObjectCommand, { Bucket: BUCKET, Key: put.Key });
  });

  type Case = [TargetCheckName, ErrorCode, () => void];
  it.each<Case>([
    ['cluster-allowed', 'INVALID_ARGUMENT', () => (process.env.ALLOWED_CLUSTERS = 'staging')],
    ['task-found', 'TASK_NOT_FOUND', () => given({ tasks: [] })],
    [
      'task-running',
      'TASK_NOT_RUNNING',
      () => given({ tasks: [runningTask({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED' })] }),
    ],
    [
      'has-host',
      'FARGATE_UNSUPPORTED',
      () => given({ tasks: [runningTask({ launchType: 'FARGATE', containerInstanceArn: undefined })] }),
    ],
    [
      'container-chosen',
      'CONTAINER_AMBIGUOUS',
      () => given({ tasks: [runningTask({ containers: [container(), container({ name: 'envoy' })] })] }),
    ],
    ['instance-managed', 'INSTANCE_NOT_MANAGED', () => given({ instances: [] })],
    [
      'agent-online',
      'SSM_AGENT_OFFLINE',
      () => given({ instances: [onlineInstance({ PingStatus: 'ConnectionLost' })] }),
    ],
    [
      'platform-supported',
      'PLATFORM_UNSUPPORTED',
      () => given({ instances: [onlineInstance({ PlatformType: 'Windows' })] }),
    ],
    [
      'agent-version',
      'PLATFORM_UNSUPPORTED',
      () => given({ instances: [onlineInstance({ AgentVersion: '2.0.767.0' })] }),
    ],
  ])(
    'reports %s failed with %s, the checks before it ok and the target checks after it skipped',
    async (name, code, arrange) => {
      given();
      arrange();

      const { status, body } = await doctor();

      expect(status).toBe(200);
      expect(body.ok).toBe(false);
      const at = TARGET_CHECKS.indexOf(name);
      const expected = Object.fromEntries([
        ...TARGET_CHECKS.slice(0, at).map((n) => [n, 'ok']),
        [name, 'failed'],
        ...TARGET_CHECKS.slice(at + 1).map((n) => [n, 'skipped']),
        ...POLICY_CHECKS.map((n) => [n, 'skipped']),
        ...DEPLOYMENT_CHECKS.map((n) => [n, 'ok']),
      ]);
      expect(statuses(body.checks)).toEqual(expected);
      const failed = body.checks.find((c) => c.status === 'failed')!;
      expect(failed).toMatchObject({ code, detail: expect.any(String), hint: expect.any(String) });
      for (const skipped of body.checks.filter((c) => c.status === 'skipped')) {
        expect(skipped.detail).toBe(`not checked: ${name} failed`);
      }
    },
  );

  it('reports an ECS access error as task-found failed with AWS_ERROR and a hint about the role', async () => {
    given();
    ecs
      .on(DescribeTasksCommand)
      .rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));

    const { body } = await doctor();

    expect(body.checks.find((c) => c.name === 'task-found')).toMatchObject({
      status: 'failed',
      code: 'AWS_ERROR',
      detail: expect.stringMatching(/^ecs:DescribeTasks failed: AccessDeniedException/),
      hint: expect.stringMatching(/role may not call ecs:DescribeTasks/),
    });
  });

  it('reports bucket-writable failed when the probe cannot be written, and checks the target all the same', async () => {
    given();
    s3.on(PutObjectCommand).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));

    const { body } = await doctor();

    expect(body.ok).toBe(false);
    expect(body.checks.filter((c) => c.status !== 'ok').map((c) => c.name)).toEqual(['bucket-writable']);
    expect(body.checks.at(-1)).toMatchObject({
      code: 'AWS_ERROR',
      detail: expect.stringMatching(/^s3:PutObject failed/),
      hint: expect.stringMatching(/role may not call s3:PutObject/),
    });
    expect(s3).not.toHaveReceivedCommand(DeleteObjectCommand);
  });

  it('reports bucket-writable failed when the probe cannot be deleted', async () => {
    given();
    s3.on(DeleteObjectCommand).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));

    const { body } = await doctor();

    expect(body.checks.at(-1)).toMatchObject({
      name: 'bucket-writable',
      status: 'failed',
      detail: expect.stringMatching(/^s3:DeleteObject failed/),
    });
  });

  it.each([
    ['a target that is not a task', { target: { task: 'i-0123456789abcdef0' } }, 'INVALID_TASK_ARN'],
    ['a tool outside the catalog', { target: { task: TASK_ARN }, tool: 'wireshark' }, 'UNKNOWN_TOOL'],
    ['no target', { tool: 'tcpdump' }, 'INVALID_ARGUMENT'],
    ['a body that is not JSON', 'task=x', 'INVALID_ARGUMENT'],
  ])('answers 400 for %s and calls nothing', async (_, body, code) => {
    const res = await doctor(body);

    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(code);
    expect(ecs).not.toHaveReceivedAnyCommand();
    expect(s3).not.toHaveReceivedAnyCommand();
  });

  it('reports image-pinned failed when the doctor function has no TOOLBOX_IMAGE, the target checked all the same', async () => {
    given();
    delete process.env.TOOLBOX_IMAGE;

    const { body } = await doctor();

    expect(body.ok).toBe(false);
    expect(body.checks.filter((c) => c.status !== 'ok').map((c) => c.name)).toEqual(['image-pinned']);
  });

  it('is not a route of the api function: it has no ECS or SSM rights (404)', async () => {
    const res = await handleApiRequest(event({ target: { task: TASK_ARN } }));

    expect(res.statusCode).toBe(404);
    expect(ecs).not.toHaveReceivedAnyCommand();
  });

  it.each(['doctor', 'stackDoctor'] as const)(
    'is not a route of the plan function: %s has a function of its own (404, nothing called)',
    async (route) => {
      const res = (await planFunction(
        apiEvent(route, { body: { target: { task: TASK_ARN } }, cluster: CLUSTER }),
      )) as APIGatewayProxyStructuredResultV2;

      expect(res.statusCode).toBe(404);
      expect(ecs).not.toHaveReceivedAnyCommand();
      expect(s3).not.toHaveReceivedAnyCommand();
    },
  );

  it('answers 404 for the routes it does not serve (preview is the plan function’s), calling nothing', async () => {
    const res = (await doctorFunction(
      apiEvent('preview', { body: { target: { task: TASK_ARN }, tool: 'tcpdump' }, cluster: CLUSTER }),
    )) as APIGatewayProxyStructuredResultV2;

    expect(res.statusCode).toBe(404);
    expect(ecs).not.toHaveReceivedAnyCommand();
    expect(sfn).not.toHaveReceivedAnyCommand();
  });
});

describe('the image-pinned check', () => {
  it('is ok for an image pinned by digest', () => {
    expect(imagePinnedCheck(IMAGE)).toMatchObject({ status: 'ok', detail: expect.stringContaining(IMAGE) });
  });

  it('is a warning, not a failure, for an image referenced by tag', () => {
    const check = imagePinnedCheck('debug-task-toolbox:local');

    expect(check).toMatchObject({ status: 'warning', hint: expect.stringMatching(/@sha256:/) });
    expect(check.code).toBeUndefined();
  });

  it('fails, naming the function that answers doctor, when it has no TOOLBOX_IMAGE', () => {
    expect(imagePinnedCheck(undefined)).toMatchObject({
      status: 'failed',
      code: 'AWS_ERROR',
      detail: 'The doctor function has no TOOLBOX_IMAGE.',
      hint: expect.stringContaining('on the doctor and launch functions'),
    });
  });

  it('fails for a value the SSM document would refuse', () => {
    expect(imagePinnedCheck('toolbox; reboot')).toMatchObject({
      status: 'failed',
      code: 'TOOLBOX_IMAGE_UNAVAILABLE',
    });
  });
});
