import { ListTasksCommand } from '@aws-sdk/client-ecs';
import { ListExecutionsCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SendCommandCommand } from '@aws-sdk/client-ssm';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { handler as planFunction } from '../../../lambda/plan';
import { previewTargets } from '../../../lib/api/checks';
import { handleApiRequest } from '../../../lib/api/routes';
import { DEFAULT_LIMITS } from '../../../lib/domain/session-spec';
import { API_CALLER, apiEvent } from '../../support/api-event';
import { aws, useAwsMocks } from '../../support/aws';
import { givenService, givenTask, resolveCallsSeen } from '../../support/ecs-fleet';
import {
  CLUSTER,
  CLUSTER_ARN,
  INSTANCE_ID,
  SERVICE,
  TASK_ARN,
  caught,
  fleetInstanceId,
  fleetTaskArn,
  runningTask,
} from '../../support/fixtures';

/**
 * POST /sessions/preview, answered by the plan function with Plan's own resolver: what a session
 * would capture now, nothing started.
 */

useAwsMocks();

const serviceBody = (extra: Record<string, unknown> = {}) => ({
  target: { service: SERVICE, cluster: CLUSTER, ...extra },
  tool: 'tcpdump',
});

const event = (body: unknown) => apiEvent('preview', { body, cluster: CLUSTER });

async function preview(body: unknown) {
  const res = (await planFunction(event(body))) as APIGatewayProxyStructuredResultV2;
  return { status: res.statusCode, body: JSON.parse(res.body ?? '{}') };
}

describe('previewTargets', () => {
  it('resolves a service into its targets, skipped tasks and hosts, starting nothing', async () => {
    // 6 tasks on 3 hosts, task 3 on Fargate.
    givenService(6, 3, {
      task: (i) => (i === 3 ? { launchType: 'FARGATE', containerInstanceArn: undefined } : {}),
    });

    const result = await previewTargets(serviceBody({ maxTasks: 10 }), DEFAULT_LIMITS, API_CALLER);

    expect(result).toEqual({
      target: { cluster: CLUSTER, service: SERVICE },
      targets: [0, 1, 2, 4, 5].map((i) => ({
        taskArn: fleetTaskArn(i),
        container: 'app',
        instanceId: fleetInstanceId(i % 3),
      })),
      skipped: [{ taskArn: fleetTaskArn(3), code: 'FARGATE_UNSUPPORTED', message: expect.any(String) }],
      listed: 6,
      maxTasks: 10,
      leftOut: 0,
      instances: 3,
    });
    expect(aws.ecs).toHaveReceivedCommandWith(ListTasksCommand, { cluster: CLUSTER, serviceName: SERVICE });
    expect(aws.sfn.calls()).toHaveLength(0);
    expect(aws.ssm).not.toHaveReceivedCommand(SendCommandCommand);
  });

  it('says how many tasks maxTasks leaves out', async () => {
    givenService(5, 2);

    const result = await previewTargets(serviceBody({ maxTasks: 2 }), DEFAULT_LIMITS, API_CALLER);

    expect(result).toMatchObject({ listed: 5, maxTasks: 2, leftOut: 3, instances: 2 });
    expect(result.targets).toHaveLength(2);
  });

  it('previews one task as a plan of one target, with the three calls of Plan', async () => {
    givenTask();

    const result = await previewTargets(
      { target: { task: TASK_ARN }, tool: 'tcpdump' },
      DEFAULT_LIMITS,
      API_CALLER,
    );

    expect(result).toEqual({
      target: { cluster: CLUSTER_ARN, task: TASK_ARN },
      targets: [{ taskArn: TASK_ARN, container: 'app', instanceId: INSTANCE_ID }],
      skipped: [],
      listed: 1,
      maxTasks: 1,
      leftOut: 0,
      instances: 1,
    });
    expect(resolveCallsSeen()).toEqual({
      'ecs:ListTasks': 0,
      'ecs:DescribeTasks': 1,
      'ecs:DescribeContainerInstances': 1,
      'ssm:DescribeInstanceInformation': 1,
    });
  });

  it("fails with a task's own error when that task cannot be debugged", async () => {
    givenTask({ tasks: [runningTask({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED' })] });

    const error = await caught(() =>
      previewTargets({ target: { task: TASK_ARN }, tool: 'tcpdump' }, DEFAULT_LIMITS, API_CALLER),
    );

    expect(error).toMatchObject({ code: 'TASK_NOT_RUNNING' });
  });
});

describe('POST /clusters/{cluster}/tools/{tool}/preview (the plan function)', () => {
  it('answers 200 with the preview', async () => {
    givenService(4, 2);

    const { status, body } = await preview(serviceBody());

    expect(status).toBe(200);
    expect(body).toMatchObject({ listed: 4, instances: 2, skipped: [], leftOut: 0, maxTasks: 100 });
    expect(body.targets).toHaveLength(4);
  });

  it('answers 422 TASK_NOT_FOUND for an unknown service', async () => {
    givenService(1, 1);

    const { status, body } = await preview({
      target: { service: 'nope', cluster: CLUSTER },
      tool: 'tcpdump',
    });

    expect(status).toBe(422);
    expect(body.error.code).toBe('TASK_NOT_FOUND');
  });

  it.each([
    ['a body that is not JSON', 'service=web', 'INVALID_ARGUMENT'],
    ['a tool outside the catalog', { ...serviceBody(), tool: 'wireshark' }, 'UNKNOWN_TOOL'],
    [
      'a target that is not a task',
      { target: { task: 'i-0123456789abcdef0' }, tool: 'tcpdump' },
      'INVALID_TASK_ARN',
    ],
  ])('answers 400 for %s, calling nothing', async (_what, body, code) => {
    const { status, body: res } = await preview(body);

    expect(status).toBe(400);
    expect(res.error.code).toBe(code);
    expect(aws.ecs.calls()).toHaveLength(0);
  });

  it('answers 404 for a route it does not serve, and starts nothing', async () => {
    const res = (await planFunction(
      apiEvent('start', { body: serviceBody(), cluster: CLUSTER }),
    )) as APIGatewayProxyStructuredResultV2;

    expect(res.statusCode).toBe(404);
    expect(aws.sfn).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(aws.ecs.calls()).toHaveLength(0);
  });

  it('is not a route of the api function, which may not call ECS (404)', async () => {
    const res = await handleApiRequest(event(serviceBody()));

    expect(res.statusCode).toBe(404);
    expect(aws.ecs.calls()).toHaveLength(0);
    expect(aws.sfn).not.toHaveReceivedCommand(ListExecutionsCommand);
  });
});
