import type { ChildResult, ExecutionInput, ResolvedTarget } from '../../../lib/domain/session';
import { capturePlan, hostBatches, reuploadPlan, REUPLOAD_SECONDS } from '../../../lib/session/plan';
import type { Resolution } from '../../../lib/session/targets';
import {
  BUCKET,
  CLUSTER_ARN,
  INSTANCE_ID,
  RUNTIME_ID,
  SERVICE,
  SESSION_ID,
  TASK_ARN,
  childId,
  executionInput,
  fleetInstanceId,
  fleetRuntimeId,
  fleetTaskArn,
  resolvedTarget,
  serviceInput,
} from '../../support/fixtures';

const NOW_MS = Date.parse('2025-01-01T12:00:10.000Z') + 999;
const NOW = Math.floor(NOW_MS / 1000);
const clock = { nowMs: NOW_MS, graceSeconds: 30, startLeadSeconds: 20 };

const taskResolution: Resolution = {
  kind: 'task',
  clusterArn: CLUSTER_ARN,
  targets: [resolvedTarget],
  skipped: [],
  listed: 1,
  maxTasks: 1,
  leftOut: 0,
  calls: {
    'ecs:DescribeTasks': 1,
    'ecs:DescribeContainerInstances': 1,
    'ssm:DescribeInstanceInformation': 1,
  },
};

/** N targets of a service, target i on host i % M. */
function serviceResolution(tasks: number, hosts: number, extra: Partial<Resolution> = {}): Resolution {
  const targets: ResolvedTarget[] = Array.from({ length: tasks }, (_, i) => ({
    ...resolvedTarget,
    taskArn: fleetTaskArn(i),
    container: { name: 'app', runtimeId: fleetRuntimeId(i) },
    instanceId: fleetInstanceId(i % hosts),
  }));
  return {
    kind: 'service',
    clusterArn: CLUSTER_ARN,
    service: SERVICE,
    targets,
    skipped: [],
    listed: tasks,
    maxTasks: 1000,
    leftOut: 0,
    calls: { 'ecs:ListTasks': 1 },
    ...extra,
  };
}

describe('capturePlan', () => {
  it('makes a one-task session a plan of one child, <sessionId>-0000, on one host', () => {
    const { record, info } = capturePlan(executionInput(), taskResolution, BUCKET, clock);

    expect(record).toEqual({
      v: 2,
      sessionId: SESSION_ID,
      kind: 'task',
      clusterArn: CLUSTER_ARN,
      listed: 1,
      maxTasks: 1,
      leftOut: 0,
      targets: [
        {
          index: 0,
          sessionId: `${SESSION_ID}-0000`,
          taskArn: TASK_ARN,
          clusterArn: CLUSTER_ARN,
          container: 'app',
          containerId: RUNTIME_ID,
          instanceId: INSTANCE_ID,
          platform: resolvedTarget.platform,
          // What the deployment's policy decides a later read, cancel or fetch on.
          service: '',
          tags: {},
          launchType: 'EC2',
        },
      ],
      skipped: [],
      calls: taskResolution.calls,
    });
    expect(info.batches).toEqual([{ batch: 0, instanceIds: [INSTANCE_ID] }]);
    expect(info.counts).toEqual({ listed: 1, targets: 1, skipped: 0, leftOut: 0 });
    expect(info.kind).toBe('task');
    expect(info.bucket).toBe(BUCKET);
  });

  it('starts one task at once (no startAt): it expires duration + grace from now, and is given up on 120 s later', () => {
    const { info } = capturePlan(executionInput({ durationSeconds: 60 }), taskResolution, BUCKET, clock);

    expect(info).not.toHaveProperty('startAt');
    expect(info.expiresAt).toBe(NOW + 60 + 30);
    expect(info.deadline).toBe(NOW + 60 + 30 + 120);
  });

  it("starts every capture of a service together, the lead ahead of now's whole second", () => {
    const { info } = capturePlan(
      serviceInput(100, { durationSeconds: 60 }),
      serviceResolution(3, 2),
      BUCKET,
      clock,
    );

    expect(info.startAt).toBe(NOW + 20);
    expect(info.expiresAt).toBe(NOW + 20 + 60 + 30);
    expect(info.deadline).toBe(NOW + 20 + 60 + 30 + 120);
  });

  it("records a service's name, counts and skipped tasks, and numbers its children in plan order", () => {
    const skipped = [
      { taskArn: fleetTaskArn(99), code: 'FARGATE_UNSUPPORTED' as const, message: 'Fargate.' },
    ];
    const resolution = serviceResolution(3, 2, { skipped, listed: 6, leftOut: 2, maxTasks: 3 });

    const { record, info } = capturePlan(serviceInput(3), resolution, BUCKET, clock);

    expect(record).toMatchObject({
      kind: 'service',
      service: SERVICE,
      listed: 6,
      maxTasks: 3,
      leftOut: 2,
      skipped,
    });
    expect(record.targets.map((t) => [t.index, t.sessionId, t.instanceId, t.containerId])).toEqual([
      [0, childId(0), fleetInstanceId(0), fleetRuntimeId(0)],
      [1, childId(1), fleetInstanceId(1), fleetRuntimeId(1)],
      [2, childId(2), fleetInstanceId(0), fleetRuntimeId(2)],
    ]);
    expect(info.counts).toEqual({ listed: 6, targets: 3, skipped: 1, leftOut: 2 });
  });

  it('sends to 120 hosts in batches of 50, 50 and 20, each host once, in first-seen order', () => {
    const { info } = capturePlan(serviceInput(1000), serviceResolution(240, 120), BUCKET, clock);

    expect(info.batches.map((b) => [b.batch, b.instanceIds.length])).toEqual([
      [0, 50],
      [1, 50],
      [2, 20],
    ]);
    expect(info.batches.flatMap((b) => b.instanceIds)).toEqual(
      Array.from({ length: 120 }, (_, j) => fleetInstanceId(j)),
    );
  });

  it("keeps the state's summary small whatever the number of targets, with no URL in it", () => {
    const small = capturePlan(serviceInput(1000), serviceResolution(100, 100), BUCKET, clock).info;
    const large = capturePlan(serviceInput(1000), serviceResolution(1000, 100), BUCKET, clock).info;

    const text = JSON.stringify(large);
    expect(text).not.toMatch(/https?:|X-Amz/);
    // Ten times the targets on the same hosts: only the digits of the counts grow.
    expect(text.length - JSON.stringify(small).length).toBeLessThanOrEqual(4);
    expect(text.length).toBeLessThan(4000);
  });

  it("passes a re-upload request on to the Map's iterations", () => {
    const input: ExecutionInput = { ...executionInput(), reupload: { id: 'r1', children: [childId(0)] } };

    const { info } = capturePlan(input, taskResolution, BUCKET, clock);

    expect(info.reupload).toEqual({ id: 'r1', children: [childId(0)] });
  });
});

describe('reuploadPlan', () => {
  const child = (index: number, code?: string): ChildResult => ({
    index,
    sessionId: childId(index),
    taskArn: fleetTaskArn(index),
    clusterArn: CLUSTER_ARN,
    container: 'app',
    instanceId: fleetInstanceId(index % 2),
    ...(code
      ? { status: 'FAILED' as const, error: { code: code as 'UPLOAD_FAILED', message: code, hint: '' } }
      : { status: 'SUCCEEDED' as const }),
  });
  const session = {
    kind: 'service' as const,
    clusterArn: CLUSTER_ARN,
    service: SERVICE,
    children: [child(0), child(1, 'UPLOAD_FAILED'), child(2, 'HOST_BUSY'), child(3, 'UPLOAD_FAILED')],
  };
  const input = (children: string[]): ExecutionInput => ({
    ...serviceInput(),
    reupload: { id: 'rabc', children },
  });

  it('plans only the children named, on the hosts that keep their artifacts, with nothing to run next to', () => {
    const { record, info } = reuploadPlan(input([childId(1), childId(3)]), session, BUCKET, NOW_MS);

    expect(record.targets).toEqual([
      {
        index: 1,
        sessionId: childId(1),
        taskArn: fleetTaskArn(1),
        clusterArn: CLUSTER_ARN,
        container: 'app',
        containerId: '-',
        instanceId: fleetInstanceId(1),
      },
      {
        index: 3,
        sessionId: childId(3),
        taskArn: fleetTaskArn(3),
        clusterArn: CLUSTER_ARN,
        container: 'app',
        containerId: '-',
        instanceId: fleetInstanceId(1),
      },
    ]);
    expect(record).toMatchObject({ kind: 'service', service: SERVICE, skipped: [], calls: {} });
    expect(info.batches).toEqual([{ batch: 0, instanceIds: [fleetInstanceId(1)] }]);
    expect(info.reupload).toEqual({ id: 'rabc', children: [childId(1), childId(3)] });
    expect(info).not.toHaveProperty('startAt');
  });

  it('gives the hosts an hour to upload again, and gives up on them 120 s after', () => {
    const { info } = reuploadPlan(input([childId(1)]), session, BUCKET, NOW_MS);

    expect(info.expiresAt).toBe(NOW + REUPLOAD_SECONDS);
    expect(info.deadline).toBe(NOW + REUPLOAD_SECONDS + 120);
  });

  it.each([
    ['a child whose upload worked', 0, 'SUCCEEDED'],
    ['a child that failed otherwise', 2, 'HOST_BUSY'],
  ])('refuses %s with INVALID_ARGUMENT, naming it and how it ended', (_what, index, ended) => {
    expect(() => reuploadPlan(input([childId(1), childId(index)]), session, BUCKET, NOW_MS)).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining(`${childId(index)} cannot be uploaded again: it ended ${ended}`),
      }),
    );
  });

  it('refuses a request that names no child of the session', () => {
    expect(() => reuploadPlan(input([`${SESSION_ID}-0042`]), session, BUCKET, NOW_MS)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('No child') }),
    );
  });
});

describe('hostBatches', () => {
  it('gives no batch for no target', () => {
    expect(hostBatches([])).toEqual([]);
  });

  it('names each host once however many targets it carries', () => {
    const targets = ['i-0000000000000000a', 'i-0000000000000000b', 'i-0000000000000000a'].map(
      (instanceId) => ({
        instanceId,
      }),
    );

    expect(hostBatches(targets)).toEqual([
      { batch: 0, instanceIds: ['i-0000000000000000a', 'i-0000000000000000b'] },
    ]);
  });
});
