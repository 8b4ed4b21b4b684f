import type { Container, Task } from '@aws-sdk/client-ecs';
import type { InstanceInformation } from '@aws-sdk/client-ssm';
import type { SessionSpec } from '../../../lib/domain/session-spec';
import type {
  ExecutionInput,
  LaunchInfo,
  PollResult,
  ResolvedTarget,
  RunnerManifest,
} from '../../../lib/domain/session';

/** Shared test data for the step functions: one session on one EC2-hosted task. */

export const REGION = 'xx-test-1';
export const ACCOUNT = '123456789012';
export const SESSION_ID = 'dt-20250101120000-abc123';
export const CLUSTER = 'prod-web';
export const CLUSTER_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${CLUSTER}`;
export const TASK_ID = '0123456789abcdef0123456789abcdef';
export const TASK_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:task/${CLUSTER}/${TASK_ID}`;
export const CONTAINER_INSTANCE_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:container-instance/${CLUSTER}/fedcba9876543210fedcba9876543210`;
export const INSTANCE_ID = 'i-0abc123def4567890';
export const RUNTIME_ID = '3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899';
export const BUCKET = 'debug-task-artifacts';
export const DOCUMENT = 'DebugTask-Runner-ABC123';
export const IMAGE = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/toolbox@sha256:${'ab'.repeat(32)}`;

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
  };
}

export function executionInput(specOverrides: Partial<SessionSpec> = {}): ExecutionInput {
  return {
    sessionId: SESSION_ID,
    spec: spec(specOverrides),
    requestedAt: '2025-01-01T12:00:00.000Z',
    caller: `arn:aws:sts::${ACCOUNT}:assumed-role/oncall/alice`,
  };
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

export const target: ResolvedTarget = {
  clusterArn: CLUSTER_ARN,
  taskArn: TASK_ARN,
  launchType: 'EC2',
  container: { name: 'app', runtimeId: RUNTIME_ID },
  containerInstanceArn: CONTAINER_INSTANCE_ARN,
  instanceId: INSTANCE_ID,
  platform: { name: 'Amazon Linux', version: '2023', agentVersion: '3.3.2746.0' },
};

/** SendCommand returned at 12:00:10; 60 s capture, 30 s grace. */
export const LAUNCHED_AT_MS = Date.parse('2025-01-01T12:00:10.000Z');
export const launch: LaunchInfo = {
  commandId: '11111111-2222-3333-4444-555555555555',
  instanceId: INSTANCE_ID,
  bucket: BUCKET,
  objectKey: `sessions/${SESSION_ID}/artifact.pcap.gz`,
  startedAt: new Date(LAUNCHED_AT_MS).toISOString(),
  expiresAt: LAUNCHED_AT_MS / 1000 + 60 + 30,
  deadline: LAUNCHED_AT_MS / 1000 + 60 + 30 + 120,
};

export function manifest(overrides: Partial<RunnerManifest> = {}): RunnerManifest {
  return {
    v: 1,
    sessionId: SESSION_ID,
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

export function donePoll(manifestLine: string | undefined, overrides: Partial<PollResult> = {}): PollResult {
  return {
    done: true,
    status: 'Success',
    waitSeconds: 0,
    ...(manifestLine !== undefined && { manifestLine }),
    responseCode: 0,
    stderrTail: '',
    ...overrides,
  };
}

/** Sets environment variables for one test file; returns the restore function for afterEach. */
export function withEnv(values: Record<string, string | undefined>): () => void {
  const saved = Object.fromEntries(Object.keys(values).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
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
