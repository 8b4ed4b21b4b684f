import 'aws-sdk-client-mock-jest';
import {
  DescribeContainerInstancesCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  type DescribeContainerInstancesCommandInput,
  type DescribeTasksCommandInput,
  type Task,
} from '@aws-sdk/client-ecs';
import { PutObjectCommand, S3Client, type PutObjectCommandInput } from '@aws-sdk/client-s3';
import {
  DescribeInstanceInformationCommand,
  InvalidInstanceId,
  SendCommandCommand,
  SSMClient,
  type DescribeInstanceInformationCommandInput,
} from '@aws-sdk/client-ssm';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { PLAN_HEADER, type FleetLaunchInfo, type FleetResolutionRecord } from '../../../lib/domain/host-plan';
import { isValidHostParam, type HostParamName } from '../../../lib/domain/params';
import { buildCommandDocument } from '../../../lib/host/runner-script';
import { resolveParameters } from '../../../lib/sandbox/ssm-document';
import { resetStepClients } from '../../../lib/steps/clients';
import { launchBatch, planFleet, type BatchState } from '../../../lib/steps/fleet-launch';
import {
  ACCOUNT,
  BUCKET,
  CLUSTER,
  CLUSTER_ARN,
  DOCUMENT,
  IMAGE,
  REGION,
  SESSION_ID,
  caught,
  container,
  executionInput,
  onlineInstance,
  runningTask,
  withEnv,
} from './fixtures';

const ecs = mockClient(ECSClient);
const ssm = mockClient(SSMClient);
const sts = mockClient(STSClient);
const s3 = mockClient(S3Client);

const SERVICE = 'web';
const NOW_MS = Date.parse('2025-01-01T12:00:10.000Z');
const NOW = NOW_MS / 1000;
const LEAD = 20;
const GRACE = 30;
const UPLOAD_ROLE_ARN = 'arn:aws:iam::123456789012:role/DebugTask-UploadRole2F1F88CA-AbCdEf';
const COMMAND_ID = '11111111-2222-3333-4444-555555555555';
const ASSUMED = {
  AccessKeyId: 'ASIAUPLOADSESSION001',
  SecretAccessKey: 'upload-session-secret-not-real',
  SessionToken: `IQoJb3JpZ2luX2VjEXAMPLE+/=${'Ab9+/'.repeat(200)}==`,
  Expiration: new Date(NOW_MS + 3600_000),
};

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
const taskArn = (i: number) => `arn:aws:ecs:${REGION}:${ACCOUNT}:task/${CLUSTER}/${hex(i, 32)}`;
const containerInstanceArn = (j: number) =>
  `arn:aws:ecs:${REGION}:${ACCOUNT}:container-instance/${CLUSTER}/${hex(0xc1000 + j, 32)}`;
const instanceId = (j: number) => `i-${hex(j, 17)}`;
const runtimeId = (i: number) => hex(0xabc000 + i, 64);

/** N tasks of the service, task i on instance i % M; the tasks in `fargate` run on Fargate (not debuggable). */
function givenService(tasks: number, instances: number, fargate: number[] = []): void {
  const arns = Array.from({ length: tasks }, (_, i) => taskArn(i));
  const byArn = new Map<string, Task>(
    arns.map((arn, i) => [
      arn,
      fargate.includes(i)
        ? runningTask({ taskArn: arn, launchType: 'FARGATE', containerInstanceArn: undefined })
        : runningTask({
            taskArn: arn,
            containerInstanceArn: containerInstanceArn(i % instances),
            containers: [container({ runtimeId: runtimeId(i) })],
          }),
    ]),
  );
  ecs.on(ListTasksCommand).callsFake((input: { nextToken?: string; maxResults?: number }) => {
    const size = input.maxResults ?? 100;
    const start = input.nextToken ? Number(input.nextToken) : 0;
    const end = start + size;
    return { taskArns: arns.slice(start, end), ...(end < arns.length && { nextToken: String(end) }) };
  });
  ecs.on(DescribeTasksCommand).callsFake((input: DescribeTasksCommandInput) => {
    const ids = input.tasks ?? [];
    if (ids.length > 100) throw new Error('tasks can have at most 100 items');
    return { tasks: ids.map((arn) => byArn.get(arn)).filter(Boolean), failures: [] };
  });
  ecs.on(DescribeContainerInstancesCommand).callsFake((input: DescribeContainerInstancesCommandInput) => {
    const ids = input.containerInstances ?? [];
    if (ids.length > 100) throw new Error('containerInstances can have at most 100 items');
    return {
      containerInstances: ids.map((arn) => ({
        containerInstanceArn: arn,
        ec2InstanceId: instanceId(parseInt(arn.slice(arn.lastIndexOf('/') + 1), 16) - 0xc1000),
      })),
      failures: [],
    };
  });
  ssm.on(DescribeInstanceInformationCommand).callsFake((input: DescribeInstanceInformationCommandInput) => {
    const ids = input.Filters?.find((f) => f.Key === 'InstanceIds')?.Values ?? [];
    if (ids.length > (input.MaxResults ?? 10)) throw new Error('more ids than one page holds');
    return { InstanceInformationList: ids.map((id) => onlineInstance({ InstanceId: id })) };
  });
}

function serviceInput(maxTasks = 100) {
  return executionInput({ target: { service: SERVICE, cluster: CLUSTER, maxTasks }, durationSeconds: 60 });
}

function puts(): PutObjectCommandInput[] {
  return s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
}

function putAt(key: string): PutObjectCommandInput {
  const found = puts().filter((p) => p.Key === key);
  if (found.length !== 1) throw new Error(`expected one PutObject of ${key}, got ${found.length}`);
  return found[0];
}

interface ParsedPlan {
  header: string;
  lines: { instanceId: string; childSessionId: string; containerId: string; uploadUrl: string }[];
}

function parsePlan(text: string): ParsedPlan {
  expect(text.endsWith('\n')).toBe(true);
  const [header, ...rest] = text.slice(0, -1).split('\n');
  return {
    header,
    lines: rest.map((line) => {
      const fields = line.split('\t');
      expect(fields).toHaveLength(5);
      const [instanceId, childSessionId, containerId, uploadUrl] = fields;
      return { instanceId, childSessionId, containerId, uploadUrl };
    }),
  };
}

function planAt(batch: number): ParsedPlan {
  const put = putAt(`sessions/${SESSION_ID}/plan/${batch}.tsv`);
  expect(put.Bucket).toBe(BUCKET);
  expect(put.ContentType).toBe('text/tab-separated-values');
  return parsePlan(put.Body as string);
}

let restoreEnv: () => void;

beforeEach(() => {
  ecs.reset();
  ssm.reset();
  sts.reset();
  s3.reset();
  resetStepClients();
  sts.on(AssumeRoleCommand).resolves({ Credentials: ASSUMED });
  s3.on(PutObjectCommand).resolves({});
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: COMMAND_ID } });
  restoreEnv = withEnv({
    BUCKET_NAME: BUCKET,
    DOCUMENT_NAME: DOCUMENT,
    TOOLBOX_IMAGE: IMAGE,
    UPLOAD_ROLE_ARN,
    GRACE_SECONDS: String(GRACE),
    FLEET_START_LEAD_SECONDS: String(LEAD),
    ALLOWED_CLUSTERS: undefined,
    AWS_S3_FORCE_PATH_STYLE: undefined,
    HOST_CPUS: undefined,
    HOST_MEMORY_MB: undefined,
    HOST_PIDS_LIMIT: undefined,
    HOST_MAX_SESSIONS: undefined,
  });
});

afterEach(() => {
  restoreEnv();
  resetStepClients();
});

describe('planFleet (FleetPlan)', () => {
  // 6 tasks on 3 instances, task 3 on Fargate: targets are tasks 0, 1, 2, 4, 5 (children 0000..0004).
  const TARGET_TASKS = [0, 1, 2, 4, 5];
  const plan = () => {
    givenService(6, 3, [3]);
    return planFleet(serviceInput(), { now: () => NOW_MS });
  };

  it('assumes the upload role once, narrowed to s3:PutObject on the fleet’s children keys only', async () => {
    await plan();

    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 1);
    const input = sts.commandCalls(AssumeRoleCommand)[0].args[0].input;
    expect(input).toMatchObject({ RoleArn: UPLOAD_ROLE_ARN, RoleSessionName: SESSION_ID });
    expect(JSON.parse(input.Policy ?? 'null')).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 's3:PutObject',
          Resource: `arn:aws:s3:::${BUCKET}/sessions/${SESSION_ID}/children/*`,
        },
      ],
    });
  });

  it('writes one plan object for the one batch: the header, then one TAB-separated line per target of its hosts', async () => {
    await plan();

    expect(
      puts()
        .map((p) => p.Key)
        .sort(),
    ).toEqual([`sessions/${SESSION_ID}/plan/0.tsv`, `sessions/${SESSION_ID}/resolution.json`]);
    const { header, lines } = planAt(0);
    expect(header).toBe(PLAN_HEADER);
    const byChild = [...lines].sort((a, b) => a.childSessionId.localeCompare(b.childSessionId));
    expect(byChild.map(({ uploadUrl: _url, ...rest }) => rest)).toEqual(
      TARGET_TASKS.map((task, index) => ({
        instanceId: instanceId(task % 3),
        childSessionId: `${SESSION_ID}-${String(index).padStart(4, '0')}`,
        containerId: runtimeId(task),
      })),
    );
    for (const line of lines) {
      expect(isValidHostParam('sessionId', line.childSessionId)).toBe(true);
      expect(isValidHostParam('containerId', line.containerId)).toBe(true);
      expect(isValidHostParam('uploadUrl', line.uploadUrl)).toBe(true);
    }
  });

  it('gives each line an upload URL presigned for its own child key with the assumed credentials, no checksum parameters', async () => {
    await plan();

    const { lines } = planAt(0);
    const urls = new Set<string>();
    for (const line of lines) {
      const url = new URL(line.uploadUrl);
      urls.add(line.uploadUrl);
      expect(url.hostname).toBe(`${BUCKET}.s3.${REGION}.amazonaws.com`);
      expect(url.pathname).toBe(`/sessions/${SESSION_ID}/children/${line.childSessionId}/artifact.pcap.gz`);
      expect(url.searchParams.get('X-Amz-Security-Token')).toBe(ASSUMED.SessionToken);
      expect(url.searchParams.get('X-Amz-Credential')).toBe(
        `${ASSUMED.AccessKeyId}/20250101/${REGION}/s3/aws4_request`,
      );
      expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host');
      expect(url.searchParams.get('X-Amz-Date')).toBe('20250101T120010Z');
      // Lead + duration + grace + 900 s, within the credentials' hour.
      expect(url.searchParams.get('X-Amz-Expires')).toBe(String(LEAD + 60 + GRACE + 900));
      const names = [...url.searchParams.keys()].map((n) => n.toLowerCase());
      expect(
        names.filter((n) => n.startsWith('x-amz-checksum') || n.startsWith('x-amz-sdk-checksum')),
      ).toEqual([]);
      expect(line.uploadUrl).not.toContain(process.env.AWS_ACCESS_KEY_ID as string);
    }
    expect(urls.size).toBe(lines.length);
  });

  it('writes resolution.json: the targets with their child ids and keys, the skipped task, the counts', async () => {
    await plan();

    const put = putAt(`sessions/${SESSION_ID}/resolution.json`);
    expect(put).toMatchObject({ Bucket: BUCKET, ContentType: 'application/json' });
    const record = JSON.parse(put.Body as string) as FleetResolutionRecord;
    expect(record).toMatchObject({
      v: 1,
      sessionId: SESSION_ID,
      cluster: CLUSTER,
      clusterArn: CLUSTER_ARN,
      service: SERVICE,
      maxTasks: 100,
      listed: 6,
      leftOut: 0,
    });
    expect(record.targets).toEqual(
      TARGET_TASKS.map((task, index) => {
        const child = `${SESSION_ID}-${String(index).padStart(4, '0')}`;
        return {
          index,
          sessionId: child,
          taskArn: taskArn(task),
          container: 'app',
          instanceId: instanceId(task % 3),
          key: `sessions/${SESSION_ID}/children/${child}/artifact.pcap.gz`,
        };
      }),
    );
    expect(record.skipped).toEqual([
      { taskArn: taskArn(3), code: 'FARGATE_UNSUPPORTED', message: expect.any(String) },
    ]);
    expect(record.calls['ecs:ListTasks']).toBe(1);
    expect(JSON.stringify(record)).not.toContain('X-Amz-Signature');
  });

  it('returns a small state with the synchronized start, the expiry and the batch, no URL in it', async () => {
    const info = await plan();

    const startAt = NOW + LEAD;
    expect(info).toEqual<FleetLaunchInfo>({
      bucket: BUCKET,
      startAt,
      expiresAt: startAt + 60 + GRACE,
      deadline: startAt + 60 + GRACE + 120,
      batches: [{ batch: 0, instanceIds: [instanceId(0), instanceId(1), instanceId(2)] }],
      counts: { listed: 6, targets: 5, skipped: 1, leftOut: 0 },
      cluster: CLUSTER,
      service: SERVICE,
    });
    const text = JSON.stringify(info);
    expect(text).not.toMatch(/https?:|X-Amz/);
    expect(text.length).toBeLessThan(1000);
  });

  it('counts startAt from the whole second of now, with the default lead of 15 s when FLEET_START_LEAD_SECONDS is unset', async () => {
    delete process.env.FLEET_START_LEAD_SECONDS;
    givenService(2, 1);

    const info = await planFleet(serviceInput(), { now: () => NOW_MS + 999 });

    expect(info.startAt).toBe(NOW + 15);
    expect(info.expiresAt).toBe(NOW + 15 + 60 + GRACE);
  });

  it('splits 120 instances into SendCommand batches of 50, 50 and 20, one plan object each holding only its hosts', async () => {
    givenService(120, 120);

    const info = await planFleet(serviceInput(120), { now: () => NOW_MS });

    expect(info.batches.map((b) => b.batch)).toEqual([0, 1, 2]);
    expect(info.batches.map((b) => b.instanceIds.length)).toEqual([50, 50, 20]);
    expect(info.batches.flatMap((b) => b.instanceIds)).toEqual(
      Array.from({ length: 120 }, (_, j) => instanceId(j)),
    );
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 1);
    expect(puts()).toHaveLength(3 + 1);
    for (const batch of info.batches) {
      const { header, lines } = planAt(batch.batch);
      expect(header).toBe(PLAN_HEADER);
      expect(lines.map((l) => l.instanceId).sort()).toEqual([...batch.instanceIds].sort());
      for (const line of lines) {
        const index = Number(line.childSessionId.slice(-4));
        expect(line.instanceId).toBe(instanceId(index));
        expect(line.containerId).toBe(runtimeId(index));
        expect(new URL(line.uploadUrl).pathname).toBe(
          `/sessions/${SESSION_ID}/children/${line.childSessionId}/artifact.pcap.gz`,
        );
      }
    }
    expect(JSON.stringify(info)).not.toMatch(/https?:/);
  });

  it('refuses a task target with INVALID_ARGUMENT before any call', async () => {
    const error = await caught(() => planFleet(executionInput(), { now: () => NOW_MS }));

    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(ecs).toHaveReceivedCommandTimes(ListTasksCommand, 0);
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 0);
    expect(s3).toHaveReceivedCommandTimes(PutObjectCommand, 0);
  });
});

describe('launchBatch (LaunchBatch)', () => {
  const START_AT = NOW + LEAD;
  const fleet: FleetLaunchInfo = {
    bucket: BUCKET,
    startAt: START_AT,
    expiresAt: START_AT + 60 + GRACE,
    deadline: START_AT + 60 + GRACE + 120,
    batches: [
      { batch: 0, instanceIds: [instanceId(0)] },
      { batch: 1, instanceIds: [instanceId(1), instanceId(2), instanceId(3)] },
    ],
    counts: { listed: 4, targets: 4, skipped: 0, leftOut: 0 },
    cluster: CLUSTER,
    service: SERVICE,
  };
  const state: BatchState = { ...serviceInput(), fleet, batch: fleet.batches[1] };

  function sent() {
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    return ssm.commandCalls(SendCommandCommand)[0].args[0].input;
  }

  it('sends one command, latest document version, to exactly the batch’s hosts, none failing the others', async () => {
    const out = await launchBatch(state, { now: () => NOW_MS });

    expect(out).toEqual({ commandId: COMMAND_ID, sentAt: '2025-01-01T12:00:10.000Z' });
    expect(sent()).toMatchObject({
      DocumentName: DOCUMENT,
      DocumentVersion: '$LATEST',
      InstanceIds: [instanceId(1), instanceId(2), instanceId(3)],
      MaxErrors: '100%',
      MaxConcurrency: '100%',
      TimeoutSeconds: 60,
      Comment: `debug-task ${SESSION_ID}`,
    });
  });

  it('passes action=plan, the fleet id, the synchronized start, the expiry, the tool and the plan URL', async () => {
    await launchBatch(state, { now: () => NOW_MS });

    const parameters = sent().Parameters ?? {};
    expect(parameters).toMatchObject({
      action: ['plan'],
      sessionId: [SESSION_ID],
      startAt: [String(START_AT)],
      expiresAt: [String(START_AT + 60 + GRACE)],
      tool: ['tcpdump'],
      durationSeconds: ['60'],
      maxBytes: ['100000000'],
      filter: ['tcp port 443'],
      image: [IMAGE],
      caller: [state.caller],
      reason: ['INC-42 TLS resets'],
      // Until the start, then the capture, the grace and the extra minute.
      executionTimeout: [String(LEAD + 60 + GRACE + 60)],
      planUrl: [expect.any(String)],
    });
    expect(parameters.uploadUrl).toBeUndefined();
    expect(parameters.containerId).toBeUndefined();
  });

  it('presigns a GET of this batch’s plan object for planUrl', async () => {
    await launchBatch(state, { now: () => NOW_MS });

    const url = new URL(sent().Parameters?.planUrl?.[0] ?? '');
    expect(url.hostname).toBe(`${BUCKET}.s3.${REGION}.amazonaws.com`);
    expect(url.pathname).toBe(`/sessions/${SESSION_ID}/plan/1.tsv`);
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(Number(url.searchParams.get('X-Amz-Expires'))).toBeGreaterThan(60);
    // Signed with the function's own credentials (no upload-role token in a plan URL).
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^AKIATESTFAKE/);
  });

  it('gives every parameter a value the SSM document accepts', async () => {
    await launchBatch(state, { now: () => NOW_MS });

    const parameters = sent().Parameters ?? {};
    for (const [name, values] of Object.entries(parameters)) {
      expect(values).toHaveLength(1);
      expect([name, isValidHostParam(name as HostParamName, values[0])]).toEqual([name, true]);
    }
    expect(resolveParameters(buildCommandDocument(), parameters)).toMatchObject({
      action: 'plan',
      sessionId: SESSION_ID,
    });
  });

  it('throws SSM_AGENT_OFFLINE when SSM refuses the hosts (InvalidInstanceId)', async () => {
    ssm
      .on(SendCommandCommand)
      .rejects(new InvalidInstanceId({ message: 'Instances not in a valid state', $metadata: {} }));

    const error = await caught(() => launchBatch(state, { now: () => NOW_MS }));

    expect(error).toMatchObject({ code: 'SSM_AGENT_OFFLINE' });
  });

  it('names the one host of a one-host batch in SSM_AGENT_OFFLINE', async () => {
    ssm.on(SendCommandCommand).rejects(new InvalidInstanceId({ message: 'not valid', $metadata: {} }));

    const error = await caught(() =>
      launchBatch({ ...state, batch: fleet.batches[0] }, { now: () => NOW_MS }),
    );

    expect(error).toMatchObject({ code: 'SSM_AGENT_OFFLINE', details: { instanceId: instanceId(0) } });
  });

  it('throws AWS_ERROR naming ssm:SendCommand for another SSM error, and when no command id comes back', async () => {
    ssm
      .on(SendCommandCommand)
      .rejects(Object.assign(new Error('Document not found'), { name: 'InvalidDocument' }));
    expect(await caught(() => launchBatch(state, { now: () => NOW_MS }))).toMatchObject({
      code: 'AWS_ERROR',
      message: 'ssm:SendCommand failed: InvalidDocument: Document not found',
    });

    ssm.on(SendCommandCommand).resolves({});
    expect(await caught(() => launchBatch(state, { now: () => NOW_MS }))).toMatchObject({
      code: 'AWS_ERROR',
    });
  });
});
