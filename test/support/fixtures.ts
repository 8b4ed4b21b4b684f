import type { Container, Task } from '@aws-sdk/client-ecs';
import type { InstanceInformation } from '@aws-sdk/client-ssm';
import { toStepFunctionsError, type DebugTaskError } from '../../lib/domain/errors';
import type { HostSummary } from '../../lib/domain/host-summary';
import {
  childSessionId,
  type ExecutionInput,
  type PlanInfo,
  type PlanRecord,
  type PlanTarget,
  type ResolvedTarget,
  type RunnerManifest,
} from '../../lib/domain/session';
import type { SessionSpec } from '../../lib/domain/session-spec';
import { hostBatches } from '../../lib/session/plan';
import { FAKE } from './aws';

/** Shared test data of the session path: one session, on one EC2-hosted task or a service. */

export const REGION = FAKE.region;
export const ACCOUNT = FAKE.account;
export const BUCKET = FAKE.bucket;
export const DOCUMENT = FAKE.document;
export const IMAGE = FAKE.image;
export const SESSION_ID = 'dt-20250101120000-abc123';
export const CLUSTER = 'prod-web';
export const CLUSTER_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${CLUSTER}`;
export const SERVICE = 'web';
export const TASK_ID = '0123456789abcdef0123456789abcdef';
export const TASK_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:task/${CLUSTER}/${TASK_ID}`;
export const CONTAINER_INSTANCE_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:container-instance/${CLUSTER}/fedcba9876543210fedcba9876543210`;
export const INSTANCE_ID = 'i-0abc123def4567890';
export const RUNTIME_ID = '3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899';
export const CALLER = `arn:aws:sts::${ACCOUNT}:assumed-role/oncall/alice`;
/** The session's only child when it targets one task. */
export const CHILD_ID = `${SESSION_ID}-0000`;

export const childId = (index: number, sessionId = SESSION_ID) => childSessionId(sessionId, index);

export function spec(overrides: Partial<SessionSpec> = {}): SessionSpec {
  return {
    target: { task: TASK_ARN },
    tool: 'tcpdump',
    durationSeconds: 60,
    maxBytes: 100_000_000,
    filter: 'tcp port 443',
    iface: '',
    snaplen: 262144,
    allowHostNetwork: false,
    allowHostPid: false,
    reason: 'INC-42 TLS resets',
    ...overrides,
  } as SessionSpec;
}

export function executionInput(specOverrides: Partial<SessionSpec> = {}): ExecutionInput {
  return {
    sessionId: SESSION_ID,
    spec: spec(specOverrides),
    requestedAt: '2025-01-01T12:00:00.000Z',
    caller: CALLER,
  };
}

/** A request for every task of SERVICE in CLUSTER. */
export function serviceInput(maxTasks = 100, specOverrides: Partial<SessionSpec> = {}): ExecutionInput {
  return executionInput({ target: { service: SERVICE, cluster: CLUSTER, maxTasks }, ...specOverrides });
}

export function container(overrides: Partial<Container> = {}): Container {
  return { name: 'app', lastStatus: 'RUNNING', runtimeId: RUNTIME_ID, ...overrides };
}

export function runningTask(overrides: Partial<Task> = {}): Task {
  return {
    taskArn: TASK_ARN,
    clusterArn: CLUSTER_ARN,
    taskDefinitionArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/web:7`,
    launchType: 'EC2',
    lastStatus: 'RUNNING',
    desiredStatus: 'RUNNING',
    containerInstanceArn: CONTAINER_INSTANCE_ARN,
    enableExecuteCommand: false,
    containers: [container()],
    ...overrides,
  };
}

export function onlineInstance(overrides: Partial<InstanceInformation> = {}): InstanceInformation {
  return {
    InstanceId: INSTANCE_ID,
    PingStatus: 'Online',
    PlatformType: 'Linux',
    PlatformName: 'Amazon Linux',
    PlatformVersion: '2023',
    AgentVersion: '3.3.3050.0',
    LastPingDateTime: new Date('2025-01-01T11:59:00.000Z'),
    ...overrides,
  };
}

export const resolvedTarget: ResolvedTarget = {
  clusterArn: CLUSTER_ARN,
  taskArn: TASK_ARN,
  taskDefinitionArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/web:7`,
  launchType: 'EC2',
  service: '',
  tags: {},
  container: { name: 'app', runtimeId: RUNTIME_ID },
  containerInstanceArn: CONTAINER_INSTANCE_ARN,
  instanceId: INSTANCE_ID,
  platform: { name: 'Amazon Linux', version: '2023', agentVersion: '3.3.3050.0' },
};

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
/** Fleet-sized ids: task i, host j, the Docker id of task i. */
export const fleetTaskArn = (i: number) => `arn:aws:ecs:${REGION}:${ACCOUNT}:task/${CLUSTER}/${hex(i, 32)}`;
export const fleetInstanceId = (j: number) => `i-${hex(j, 17)}`;
export const fleetRuntimeId = (i: number) => hex(0xabc000 + i, 64);

/** The target at `index` of a plan: the single task for 0, else task `index` on host `instanceId`. */
export function planTarget(index: number, overrides: Partial<PlanTarget> = {}): PlanTarget {
  const single = index === 0 && overrides.instanceId === undefined;
  return {
    index,
    sessionId: childId(index),
    taskArn: single ? TASK_ARN : fleetTaskArn(index),
    clusterArn: CLUSTER_ARN,
    container: 'app',
    containerId: single ? RUNTIME_ID : fleetRuntimeId(index),
    instanceId: INSTANCE_ID,
    platform: { name: 'Amazon Linux', version: '2023', agentVersion: '3.3.3050.0' },
    ...overrides,
  };
}

/** A one-task session's plan record. */
export function taskPlanRecord(overrides: Partial<PlanRecord> = {}): PlanRecord {
  return {
    v: 2,
    sessionId: SESSION_ID,
    kind: 'task',
    clusterArn: CLUSTER_ARN,
    listed: 1,
    maxTasks: 1,
    leftOut: 0,
    targets: [planTarget(0)],
    skipped: [],
    calls: {
      'ecs:DescribeTasks': 1,
      'ecs:DescribeContainerInstances': 1,
      'ssm:DescribeInstanceInformation': 1,
    },
    ...overrides,
  };
}

/** A service session's plan record of these targets. */
export function servicePlanRecord(targets: PlanTarget[], overrides: Partial<PlanRecord> = {}): PlanRecord {
  return {
    v: 2,
    sessionId: SESSION_ID,
    kind: 'service',
    clusterArn: CLUSTER_ARN,
    service: SERVICE,
    listed: targets.length,
    maxTasks: 100,
    leftOut: 0,
    targets,
    skipped: [],
    calls: { 'ecs:ListTasks': 1, 'ecs:DescribeTasks': 1 },
    ...overrides,
  };
}

/** Plan's summary of a record, as the state carries it. */
export function planInfoOf(
  record: PlanRecord,
  clock: { startAt?: number; expiresAt: number; deadline: number },
): PlanInfo {
  return {
    kind: record.kind,
    bucket: BUCKET,
    ...(clock.startAt !== undefined && { startAt: clock.startAt }),
    expiresAt: clock.expiresAt,
    deadline: clock.deadline,
    batches: hostBatches(record.targets),
    counts: {
      listed: record.listed,
      targets: record.targets.length,
      skipped: record.skipped.length,
      leftOut: record.leftOut,
    },
  };
}

/** A child's manifest, as its host wrote it to S3: OK, with an uploaded pcap. */
export function manifest(overrides: Partial<RunnerManifest> = {}): RunnerManifest {
  return {
    v: 1,
    sessionId: CHILD_ID,
    status: 'OK',
    tool: { name: 'tcpdump', exitCode: 0, packets: 1234, dropped: 0 },
    artifact: {
      format: 'pcap',
      compression: 'gzip',
      bytes: 204800,
      sha256: 'a'.repeat(64),
      objectBytes: 51234,
      objectSha256: 'b'.repeat(64),
      linkType: 'EN10MB',
      truncated: false,
      uploaded: true,
    },
    timings: {
      startedAt: 1735732811000,
      captureStartedAt: 1735732813000,
      captureEndedAt: 1735732873000,
      endedAt: 1735732875000,
    },
    ...overrides,
  };
}

/** The summary line a host prints after running its share of the plan. */
export function hostSummary(instanceId = INSTANCE_ID, overrides: Partial<HostSummary> = {}): HostSummary {
  return {
    v: 2,
    action: 'plan',
    sessionId: SESSION_ID,
    instanceId,
    status: 'OK',
    children: 1,
    counts: { OK: 1 },
    unreported: [],
    timings: { startedAt: 1735732811000, endedAt: 1735732875000 },
    ...overrides,
  };
}

/** The {Error, Cause} a Catch puts at `$.error` when a Lambda step raised `error`. */
export function stepFunctionsFailure(error: DebugTaskError): { Error: string; Cause: string } {
  const carried = toStepFunctionsError(error);
  return {
    Error: carried.name,
    Cause: JSON.stringify({ errorType: carried.name, errorMessage: carried.message }),
  };
}

/** Runs `fn` and returns what it threw (fails the test if it did not throw). */
export async function caught(fn: () => Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await fn();
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection, but the call succeeded');
}
