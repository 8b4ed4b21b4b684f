import { audit } from '../../../lib/audit/audit';
import { DescribeTaskDefinitionCommand, DescribeTasksCommand, ListTasksCommand } from '@aws-sdk/client-ecs';
import { Authorizer, type Decision } from '../../../lib/authz/authorizer';
import { loadCedar, parsePolicyText } from '../../../lib/authz/policy-file';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { ChildResult, ExecutionInput, PlanInfo, PlanRecord } from '../../../lib/domain/session';
import { handler as planFunction } from '../../../lambda/plan';
import { fromStepFunctionsFailure } from '../../../lib/domain/errors';
import { DEFAULT_START_LEAD_SECONDS, planSession } from '../../../lib/steps/plan';
import { aws, givenBucket, useAwsMocks } from '../../support/aws';
import { givenService, givenTask, resolveCallsSeen } from '../../support/ecs-fleet';
import {
  BUCKET,
  CLUSTER_ARN,
  INSTANCE_ID,
  RUNTIME_ID,
  SERVICE,
  SESSION_ID,
  TASK_ARN,
  caught,
  childId,
  container,
  executionInput,
  fleetInstanceId,
  fleetTaskArn,
  runningTask,
  serviceInput,
} from '../../support/fixtures';

useAwsMocks();

const NOW_MS = Date.parse('2025-01-01T12:00:10.000Z');
const NOW = NOW_MS / 1000;
const PLAN_KEY = `sessions/${SESSION_ID}/plan.json`;
const at = () => NOW_MS;

describe('planSession (Plan), one task', () => {
  it('writes the plan record of one child and returns the small summary the state carries', async () => {
    givenTask();
    const bucket = givenBucket();

    const info = await planSession(executionInput({ durationSeconds: 60 }), { now: at });

    expect(info).toEqual<PlanInfo>({
      kind: 'task',
      bucket: BUCKET,
      expiresAt: NOW + 60 + 30,
      deadline: NOW + 60 + 30 + 120,
      batches: [{ batch: 0, instanceIds: [INSTANCE_ID] }],
      counts: { listed: 1, targets: 1, skipped: 0, leftOut: 0 },
    });
    expect(bucket.json<PlanRecord>(PLAN_KEY)).toMatchObject({
      v: 2,
      sessionId: SESSION_ID,
      kind: 'task',
      clusterArn: CLUSTER_ARN,
      targets: [
        {
          index: 0,
          sessionId: `${SESSION_ID}-0000`,
          taskArn: TASK_ARN,
          containerId: RUNTIME_ID,
          instanceId: INSTANCE_ID,
        },
      ],
      calls: {
        'ecs:DescribeTasks': 1,
        'ecs:DescribeContainerInstances': 1,
        'ssm:DescribeInstanceInformation': 1,
      },
    });
  });

  it('puts the resolved target and its host on the audit log, written before it returns', async () => {
    givenTask();
    givenBucket();
    const written: unknown[] = [];
    const flush = jest.spyOn(audit, 'flush').mockImplementation(async () => {
      written.push(...audit.pending());
      audit.reset();
    });

    try {
      await planSession(executionInput({ durationSeconds: 60 }), { now: at });
    } finally {
      flush.mockRestore();
    }

    expect(audit.pending()).toEqual([]);
    expect(written).toEqual([
      expect.objectContaining({
        type: 'session.resolved',
        sessionId: SESSION_ID,
        targets: [
          {
            childId: `${SESSION_ID}-0000`,
            task: TASK_ARN,
            container: expect.any(String),
            instanceId: INSTANCE_ID,
          },
        ],
        skipped: [],
      }),
    ]);
  });

  it('makes exactly the three calls of the task resolver, and one write', async () => {
    givenTask();
    givenBucket();

    await planSession(executionInput(), { now: at });

    expect(resolveCallsSeen()).toEqual({
      'ecs:ListTasks': 0,
      'ecs:DescribeTasks': 1,
      'ecs:DescribeContainerInstances': 1,
      'ssm:DescribeInstanceInformation': 1,
    });
    expect(aws.s3).toHaveReceivedCommandTimes(PutObjectCommand, 1);
    expect(aws.sts.calls()).toHaveLength(0);
  });

  it("fails with the task's own error and writes nothing when it cannot be debugged", async () => {
    givenTask({ tasks: [runningTask({ launchType: 'FARGATE', containerInstanceArn: undefined })] });
    givenBucket();

    const error = await caught(() => planSession(executionInput(), { now: at }));

    expect(error).toMatchObject({ code: 'FARGATE_UNSUPPORTED' });
    expect(aws.s3).toHaveReceivedCommandTimes(PutObjectCommand, 0);
  });

  it('refuses a Docker id the SSM document would refuse, before anything reaches a host', async () => {
    givenTask({ tasks: [runningTask({ containers: [container({ runtimeId: 'not-a-docker-id' })] })] });
    givenBucket();

    const error = await caught(() => planSession(executionInput(), { now: at }));

    expect(error).toMatchObject({ code: 'CONTAINER_NOT_FOUND', details: { runtimeId: 'not-a-docker-id' } });
    expect(aws.s3).toHaveReceivedCommandTimes(PutObjectCommand, 0);
  });
});

describe('planSession (Plan), a service', () => {
  it('writes every target as a child and starts them all FLEET_START_LEAD_SECONDS ahead', async () => {
    process.env.FLEET_START_LEAD_SECONDS = '20';
    givenService(6, 3, {
      task: (i) => (i === 3 ? { launchType: 'FARGATE', containerInstanceArn: undefined } : {}),
    });
    const bucket = givenBucket();

    const info = await planSession(serviceInput(100, { durationSeconds: 60 }), { now: at });

    expect(info).toEqual<PlanInfo>({
      kind: 'service',
      bucket: BUCKET,
      startAt: NOW + 20,
      expiresAt: NOW + 20 + 60 + 30,
      deadline: NOW + 20 + 60 + 30 + 120,
      batches: [{ batch: 0, instanceIds: [0, 1, 2].map(fleetInstanceId) }],
      counts: { listed: 6, targets: 5, skipped: 1, leftOut: 0 },
    });
    const record = bucket.json<PlanRecord>(PLAN_KEY);
    expect(record).toMatchObject({ kind: 'service', service: SERVICE, listed: 6, maxTasks: 100 });
    expect(record.targets.map((t) => [t.sessionId, t.taskArn])).toEqual(
      [0, 1, 2, 4, 5].map((task, index) => [childId(index), fleetTaskArn(task)]),
    );
    expect(record.skipped).toEqual([
      { taskArn: fleetTaskArn(3), code: 'FARGATE_UNSUPPORTED', message: expect.any(String) },
    ]);
    expect(JSON.stringify(record)).not.toMatch(/X-Amz|https?:/);
  });

  it(`counts the start from now's whole second, ${DEFAULT_START_LEAD_SECONDS} s ahead by default`, async () => {
    givenService(2, 1);
    givenBucket();

    const info = await planSession(serviceInput(), { now: () => NOW_MS + 999 });

    expect(info.startAt).toBe(NOW + DEFAULT_START_LEAD_SECONDS);
  });

  it('sends to 120 hosts in batches of 50, 50 and 20', async () => {
    givenService(240, 120);
    givenBucket();

    const info = await planSession(serviceInput(240), { now: at });

    expect(info.batches.map((b) => b.instanceIds.length)).toEqual([50, 50, 20]);
    expect(info.counts.targets).toBe(240);
  });
});

describe('planSession (Plan), a re-upload', () => {
  const failed = (index: number): ChildResult => ({
    index,
    sessionId: childId(index),
    taskArn: fleetTaskArn(index),
    clusterArn: CLUSTER_ARN,
    container: 'app',
    instanceId: fleetInstanceId(index),
    status: 'FAILED',
    error: { code: 'UPLOAD_FAILED', message: 'kept', hint: 'fetch' },
  });
  const record = {
    v: 2,
    sessionId: SESSION_ID,
    status: 'SUCCEEDED',
    kind: 'service',
    target: { cluster: 'prod-web', clusterArn: CLUSTER_ARN, service: SERVICE },
    children: [failed(0), failed(1)],
  };
  const input: ExecutionInput = { ...serviceInput(), reupload: { id: 'r1a2b', children: [childId(1)] } };

  it("plans from the session's record, under the re-upload's own prefix, asking ECS nothing", async () => {
    const bucket = givenBucket({ [`sessions/${SESSION_ID}/manifest.json`]: record });

    const info = await planSession(input, { now: at });

    expect(info).toMatchObject({
      kind: 'service',
      batches: [{ batch: 0, instanceIds: [fleetInstanceId(1)] }],
      reupload: { id: 'r1a2b', children: [childId(1)] },
    });
    expect(info).not.toHaveProperty('startAt');
    const plan = bucket.json<PlanRecord>(`sessions/${SESSION_ID}/reuploads/r1a2b/plan.json`);
    expect(plan.targets.map((t) => [t.sessionId, t.containerId])).toEqual([[childId(1), '-']]);
    expect(bucket.objects.has(PLAN_KEY)).toBe(false);
    expect(aws.ecs.calls()).toHaveLength(0);
    expect(aws.ssm.calls()).toHaveLength(0);
  });

  it('refuses a re-upload of a session that left no record', async () => {
    givenBucket();

    const error = await caught(() => planSession(input, { now: at }));

    expect(error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('has no record yet'),
    });
  });
});

describe('planSession (Plan), its input', () => {
  it.each<[string, (input: ExecutionInput) => void, string]>([
    ['a session id that is not one', (i) => (i.sessionId = 'dt bad; id'), 'sessionId'],
    [
      'allowHostNetwork as the string "true"',
      (i) => ((i.spec as { allowHostNetwork: unknown }).allowHostNetwork = 'true'),
      'spec.allowHostNetwork',
    ],
    [
      'a duration that is not a number',
      (i) => ((i.spec as { durationSeconds: unknown }).durationSeconds = '60'),
      'spec.durationSeconds',
    ],
    ['an unknown tool', (i) => ((i.spec as { tool: unknown }).tool = 'nmap'), 'spec.tool'],
    ['a re-upload id that is not one', (i) => (i.reupload = { id: '../x', children: [] }), 'reupload.id'],
  ])('refuses %s with INVALID_ARGUMENT naming the field, before any call', async (_what, spoil, field) => {
    givenTask();
    givenBucket();
    const input = structuredClone(executionInput());
    spoil(input);

    const error = await caught(() => planSession(input, { now: at }));

    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field } });
    expect(aws.ecs).toHaveReceivedCommandTimes(DescribeTasksCommand, 0);
    expect(aws.ecs).toHaveReceivedCommandTimes(ListTasksCommand, 0);
    expect(aws.s3).toHaveReceivedCommandTimes(PutObjectCommand, 0);
  });

  it('names BUCKET_NAME, and calls nothing, when it is not set', async () => {
    delete process.env.BUCKET_NAME;
    givenTask();

    const error = await caught(() => planSession(executionInput(), { now: at }));

    expect(error.message).toContain('BUCKET_NAME');
    expect(aws.ecs).toHaveReceivedCommandTimes(DescribeTasksCommand, 0);
  });
});

describe('the plan function', () => {
  it('plans an execution it is given as a Step Functions state', async () => {
    givenTask();
    givenBucket();

    const info = (await planFunction(executionInput())) as PlanInfo;

    expect(info).toMatchObject({ kind: 'task', batches: [{ batch: 0, instanceIds: [INSTANCE_ID] }] });
  });

  it('fails the state with the error contract of every step (name = code, the body in the message)', async () => {
    givenTask({ tasks: [runningTask({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED' })] });
    givenBucket();

    const error = await caught(() => planFunction(executionInput()));

    expect(error.name).toBe('TASK_NOT_RUNNING');
    const decoded = fromStepFunctionsFailure(
      error.name,
      JSON.stringify({ errorType: error.name, errorMessage: error.message }),
    );
    expect(decoded).toMatchObject({ code: 'TASK_NOT_RUNNING', message: expect.stringContaining('STOPPED') });
  });
});

describe('planSession (Plan), a session a trigger started', () => {
  const RULE = 'arn:aws:events:xx-test-1:123456789012:rule/DebugTask-TriggersOnAlarm-1AB2C3';
  const cedar = loadCedar();
  const authorizer = new Authorizer(
    parsePolicyText(
      `@id("on-alarm-captures")
permit (principal is DebugTask::Trigger, action == DebugTask::Action::"capture", resource)
when { principal.name == "on-alarm" };`,
      'policy.cedar',
      cedar,
    ),
    cedar,
  );
  const triggered = (trigger: string): ExecutionInput => ({ ...executionInput(), caller: RULE, trigger });

  beforeEach(() => {
    aws.ecs.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: { networkMode: 'bridge' } });
  });

  it('decides the capture for the trigger as its own principal (its rule ARN and its name)', async () => {
    givenTask();
    givenBucket();
    const decisions: Decision[] = [];

    await planSession(triggered('on-alarm'), { now: at, authorizer, record: (d) => decisions.push(d) });

    expect(decisions).toEqual([
      expect.objectContaining({ action: 'capture', allowed: true, caller: RULE, trigger: 'on-alarm' }),
    ]);
  });

  it('refuses the capture of a trigger the policy does not name, before anything reaches a host', async () => {
    givenTask();
    const bucket = givenBucket();

    await expect(
      planSession(triggered('other'), { now: at, authorizer, record: () => undefined }),
    ).rejects.toMatchObject({ code: 'NOT_AUTHORIZED', details: { rule: 'no permit applies' } });
    expect(bucket.puts()).toEqual([]);
  });
});
