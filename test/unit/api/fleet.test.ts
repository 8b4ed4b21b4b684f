import { mockClient } from 'aws-sdk-client-mock';
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
import {
  DescribeExecutionCommand,
  ListExecutionsCommand,
  SFNClient,
  type DescribeExecutionCommandInput,
} from '@aws-sdk/client-sfn';
import { GetObjectCommand, S3Client, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import {
  DescribeInstanceInformationCommand,
  SSMClient,
  type DescribeInstanceInformationCommandInput,
} from '@aws-sdk/client-ssm';
import type { APIGatewayProxyEventV2WithIAMAuthorizer } from 'aws-lambda';
import { setApiClients } from '../../../lib/api/clients';
import { previewFleet } from '../../../lib/api/fleet';
import { handleApiRequest } from '../../../lib/api/routes';
import { getSession, listSessions, type ApiConfig } from '../../../lib/api/sessions';
import type { FleetChild, FleetResult } from '../../../lib/domain/host-plan';
import type { ExecutionInput } from '../../../lib/domain/session';
import { DEFAULT_LIMITS } from '../../../lib/domain/session-spec';
import { resetStepClients } from '../../../lib/steps/clients';

const ecs = mockClient(ECSClient);
const ssm = mockClient(SSMClient);
const sfn = mockClient(SFNClient);
const s3 = mockClient(S3Client);

const REGION = 'xx-test-1';
const ACCOUNT = '123456789012';
const CLUSTER = 'prod';
const CLUSTER_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${CLUSTER}`;
const SM = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:DebugTaskSessions`;
const BUCKET = 'artifacts';
const ID = 'dt-20261125123456-a1b2c3';
const CALLER = 'arn:aws:iam::123456789012:user/alice';
const config: ApiConfig = { stateMachineArn: SM, bucket: BUCKET, limits: DEFAULT_LIMITS };

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
const taskArn = (i: number) => `arn:aws:ecs:${REGION}:${ACCOUNT}:task/${CLUSTER}/${hex(i, 32)}`;
const containerInstanceArn = (j: number) =>
  `arn:aws:ecs:${REGION}:${ACCOUNT}:container-instance/${CLUSTER}/${hex(0xc1000 + j, 32)}`;
const instanceId = (j: number) => `i-${hex(j, 17)}`;

/** N tasks of service web, task i on instance i % M; the tasks in `fargate` run on Fargate. */
function givenService(tasks: number, instances: number, fargate: number[] = []): void {
  const arns = Array.from({ length: tasks }, (_, i) => taskArn(i));
  const task = (i: number): Task => ({
    taskArn: arns[i],
    clusterArn: CLUSTER_ARN,
    lastStatus: 'RUNNING',
    desiredStatus: 'RUNNING',
    ...(fargate.includes(i)
      ? { launchType: 'FARGATE' }
      : { launchType: 'EC2', containerInstanceArn: containerInstanceArn(i % instances) }),
    containers: [{ name: 'app', lastStatus: 'RUNNING', runtimeId: hex(0xabc000 + i, 64) }],
  });
  ecs.on(ListTasksCommand).callsFake((input: { serviceName?: string }) => {
    if (input.serviceName !== 'web') {
      throw Object.assign(new Error('Service not found.'), {
        name: 'ServiceNotFoundException',
        $metadata: {},
      });
    }
    return { taskArns: arns };
  });
  ecs.on(DescribeTasksCommand).callsFake((input: DescribeTasksCommandInput) => ({
    tasks: (input.tasks ?? []).map((arn) => task(arns.indexOf(arn))),
    failures: [],
  }));
  ecs.on(DescribeContainerInstancesCommand).callsFake((input: DescribeContainerInstancesCommandInput) => ({
    containerInstances: (input.containerInstances ?? []).map((arn) => ({
      containerInstanceArn: arn,
      ec2InstanceId: instanceId(parseInt(arn.slice(arn.lastIndexOf('/') + 1), 16) - 0xc1000),
    })),
    failures: [],
  }));
  ssm.on(DescribeInstanceInformationCommand).callsFake((input: DescribeInstanceInformationCommandInput) => ({
    InstanceInformationList: (input.Filters?.find((f) => f.Key === 'InstanceIds')?.Values ?? []).map(
      (id) => ({
        InstanceId: id,
        PingStatus: 'Online',
        PlatformType: 'Linux',
        PlatformName: 'Amazon Linux',
        PlatformVersion: '2023',
        AgentVersion: '3.3.3050.0',
      }),
    ),
  }));
}

function event(
  routeKey: string,
  init: { body?: unknown; id?: string } = {},
): APIGatewayProxyEventV2WithIAMAuthorizer {
  return {
    routeKey,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    isBase64Encoded: false,
    pathParameters: init.id ? { id: init.id } : undefined,
    requestContext: { authorizer: { iam: { userArn: CALLER } } },
  } as unknown as APIGatewayProxyEventV2WithIAMAuthorizer;
}

async function call(routeKey: string, init?: { body?: unknown; id?: string }) {
  const res = await handleApiRequest(event(routeKey, init));
  return { status: res.statusCode, body: JSON.parse(res.body ?? '{}') };
}

function body(value: unknown): GetObjectCommandOutput {
  const text = JSON.stringify(value);
  return {
    Body: { transformToString: () => Promise.resolve(text) },
    $metadata: {},
  } as unknown as GetObjectCommandOutput;
}

const serviceBody = { target: { service: 'web', cluster: CLUSTER }, tool: 'tcpdump' };

beforeAll(() => {
  process.env.STATE_MACHINE_ARN = SM;
  process.env.BUCKET_NAME = BUCKET;
});

beforeEach(() => {
  ecs.reset();
  ssm.reset();
  sfn.reset();
  s3.reset();
  resetStepClients();
  setApiClients(undefined);
  delete process.env.ALLOWED_CLUSTERS;
});

afterAll(() => {
  resetStepClients();
  setApiClients(undefined);
});

describe('previewFleet', () => {
  it('resolves a service into its targets, skipped tasks and hosts, starting nothing', async () => {
    // 6 tasks on 3 instances, task 3 on Fargate.
    givenService(6, 3, [3]);

    const preview = await previewFleet(
      { ...serviceBody, target: { ...serviceBody.target, maxTasks: 10 } },
      DEFAULT_LIMITS,
    );

    expect(preview).toEqual({
      target: { cluster: CLUSTER, service: 'web' },
      targets: [0, 1, 2, 4, 5].map((i) => ({
        taskArn: taskArn(i),
        container: 'app',
        instanceId: instanceId(i % 3),
      })),
      skipped: [{ taskArn: taskArn(3), code: 'FARGATE_UNSUPPORTED', message: expect.any(String) }],
      listed: 6,
      maxTasks: 10,
      leftOut: 0,
      instances: 3,
    });
    expect(ecs).toHaveReceivedCommandWith(ListTasksCommand, { cluster: CLUSTER, serviceName: 'web' });
    expect(sfn).not.toHaveReceivedCommand(ListExecutionsCommand);
  });

  it('says how many tasks maxTasks leaves out', async () => {
    givenService(5, 2);

    const preview = await previewFleet(
      { ...serviceBody, target: { ...serviceBody.target, maxTasks: 2 } },
      DEFAULT_LIMITS,
    );

    expect(preview).toMatchObject({ listed: 5, maxTasks: 2, leftOut: 3, instances: 2 });
    expect(preview.targets).toHaveLength(2);
  });

  it('refuses a task target with INVALID_ARGUMENT, asking ECS nothing', async () => {
    const error = await previewFleet({ target: { task: taskArn(1) }, tool: 'tcpdump' }, DEFAULT_LIMITS).catch(
      (e: unknown) => e,
    );

    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(ecs).not.toHaveReceivedCommand(ListTasksCommand);
  });

  it('answers POST /sessions/preview with 200 and the preview', async () => {
    givenService(4, 2);

    const { status, body: preview } = await call('POST /sessions/preview', { body: serviceBody });

    expect(status).toBe(200);
    expect(preview).toMatchObject({ listed: 4, instances: 2, skipped: [], leftOut: 0, maxTasks: 100 });
    expect(preview.targets).toHaveLength(4);
  });

  it('answers POST /sessions/preview with 400 INVALID_ARGUMENT for a task target', async () => {
    const { status, body: res } = await call('POST /sessions/preview', {
      body: { target: { task: taskArn(1) }, tool: 'tcpdump' },
    });

    expect(status).toBe(400);
    expect(res.error.code).toBe('INVALID_ARGUMENT');
  });

  it('answers POST /sessions/preview with TASK_NOT_FOUND for an unknown service', async () => {
    givenService(1, 1);

    const { status, body: res } = await call('POST /sessions/preview', {
      body: { ...serviceBody, target: { service: 'nope', cluster: CLUSTER } },
    });

    expect(status).toBe(422);
    expect(res.error.code).toBe('TASK_NOT_FOUND');
  });
});

describe('getSession of a fleet', () => {
  const keyOf = (i: number) => `sessions/${ID}/children/${ID}-000${i}/artifact.pcap.gz`;
  const child = (i: number, succeeded: boolean): FleetChild => ({
    index: i,
    sessionId: `${ID}-000${i}`,
    taskArn: taskArn(i),
    container: 'app',
    instanceId: instanceId(i),
    ...(succeeded
      ? {
          status: 'SUCCEEDED',
          tool: { name: 'tcpdump', exitCode: 0, packets: 10, dropped: 0 },
          artifact: {
            format: 'pcap',
            compression: 'gzip',
            bytes: 2048,
            sha256: 'a'.repeat(64),
            objectBytes: 512,
            objectSha256: 'b'.repeat(64),
            truncated: false,
            s3Uri: `s3://${BUCKET}/${keyOf(i)}`,
            bucket: BUCKET,
            key: keyOf(i),
          },
        }
      : { status: 'FAILED', error: { code: 'HOST_BUSY', message: 'busy', hint: '' } }),
  });
  const output: FleetResult = {
    kind: 'fleet',
    sessionId: ID,
    status: 'SUCCEEDED',
    target: { cluster: CLUSTER, service: 'web' },
    counts: { listed: 4, targets: 3, succeeded: 2, failed: 1, skipped: 1, leftOut: 0 },
    startAt: 1764073000,
    children: [],
    skipped: [],
    manifestUri: `s3://${BUCKET}/sessions/${ID}/manifest.json`,
  };
  const children = [child(0, true), child(1, false), child(2, true)];
  const skipped = [{ taskArn: taskArn(3), code: 'FARGATE_UNSUPPORTED', message: 'Fargate' }];

  function givenFinishedFleet(): void {
    sfn.on(DescribeExecutionCommand).resolves({
      status: 'SUCCEEDED',
      executionArn: `${SM.replace(':stateMachine:', ':execution:')}:${ID}`,
      output: JSON.stringify(output),
    });
    s3.on(GetObjectCommand, { Bucket: BUCKET, Key: `sessions/${ID}/manifest.json` }).resolves(
      body({ ...output, children, skipped, audit: { caller: CALLER } }),
    );
  }

  it('reads the children from manifest.json and gives one presigned download URL per succeeded child', async () => {
    givenFinishedFleet();

    const view = await getSession(ID, config);

    expect(s3).toHaveReceivedCommandWith(GetObjectCommand, {
      Bucket: BUCKET,
      Key: `sessions/${ID}/manifest.json`,
    });
    expect(view.status).toBe('SUCCEEDED');
    expect(view.result).toEqual({ ...output, children, skipped });
    expect(view.downloadUrl).toBeUndefined();
    expect(Object.keys(view.downloadUrls ?? {}).sort()).toEqual([`${ID}-0000`, `${ID}-0002`]);
    for (const i of [0, 2]) {
      const url = new URL(view.downloadUrls?.[`${ID}-000${i}`] ?? '');
      expect(url.pathname).toBe(`/${keyOf(i)}`);
      expect(url.hostname).toBe(`${BUCKET}.s3.${REGION}.amazonaws.com`);
      expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
      expect(url.searchParams.get('X-Amz-Expires')).toBe('3600');
      expect(url.toString()).not.toMatch(/x-amz-checksum/i);
    }
  });

  it('answers GET /sessions/{id} with the same view', async () => {
    givenFinishedFleet();

    const { status, body: view } = await call('GET /sessions/{id}', { id: ID });

    expect(status).toBe(200);
    expect(view.result.children).toHaveLength(3);
    expect(view.result.counts).toEqual(output.counts);
    expect(Object.keys(view.downloadUrls)).toHaveLength(2);
  });

  it('throws AWS_ERROR naming s3:GetObject when the manifest cannot be read', async () => {
    givenFinishedFleet();
    s3.on(GetObjectCommand).rejects(
      Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: {} }),
    );

    const error = await getSession(ID, config).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'AWS_ERROR', message: expect.stringContaining('s3:GetObject') });
  });
});

describe('listSessions', () => {
  const fleetInput: ExecutionInput = {
    sessionId: ID,
    spec: {
      target: { service: 'web', cluster: CLUSTER, maxTasks: 100 },
      tool: 'tcpdump',
      durationSeconds: 60,
      maxBytes: 100_000_000,
      filter: '',
      allowHostNetwork: false,
      allowHostPid: false,
      iface: '',
      snaplen: 262144,
    },
    requestedAt: '2026-11-25T12:34:56.000Z',
    caller: CALLER,
  };
  const taskInput: ExecutionInput = {
    ...fleetInput,
    sessionId: 'dt-20261125120000-bbbbbb',
    spec: { ...fleetInput.spec, target: { task: taskArn(7) }, tool: 'strace' },
    caller: 'arn:aws:iam::123456789012:user/bob',
  };
  const arnOf = (id: string) => `${SM.replace(':stateMachine:', ':execution:')}:${id}`;

  function givenExecutions(): void {
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        {
          name: ID,
          status: 'RUNNING',
          executionArn: arnOf(ID),
          stateMachineArn: SM,
          startDate: new Date(2000),
        },
        {
          name: taskInput.sessionId,
          status: 'SUCCEEDED',
          executionArn: arnOf(taskInput.sessionId),
          stateMachineArn: SM,
          startDate: new Date(1000),
          stopDate: new Date(1500),
        },
        {
          name: 'dt-20261125110000-cccccc',
          status: 'FAILED',
          executionArn: arnOf('dt-20261125110000-cccccc'),
          stateMachineArn: SM,
          startDate: new Date(0),
        },
      ],
    });
    sfn.on(DescribeExecutionCommand).callsFake((input: DescribeExecutionCommandInput) => {
      if (input.executionArn === arnOf(ID)) return { status: 'RUNNING', input: JSON.stringify(fleetInput) };
      if (input.executionArn === arnOf(taskInput.sessionId)) {
        return { status: 'SUCCEEDED', input: JSON.stringify(taskInput) };
      }
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} });
    });
  }

  it('gives each row its target, tool, caller and kind, from one DescribeExecution per row', async () => {
    givenExecutions();

    const rows = await listSessions(config);

    expect(rows).toEqual([
      {
        sessionId: ID,
        status: 'RUNNING',
        startedAt: new Date(2000).toISOString(),
        stoppedAt: undefined,
        target: `service web (cluster ${CLUSTER})`,
        tool: 'tcpdump',
        caller: CALLER,
        kind: 'fleet',
      },
      {
        sessionId: taskInput.sessionId,
        status: 'SUCCEEDED',
        startedAt: new Date(1000).toISOString(),
        stoppedAt: new Date(1500).toISOString(),
        target: taskArn(7),
        tool: 'strace',
        caller: 'arn:aws:iam::123456789012:user/bob',
        kind: 'task',
      },
      {
        sessionId: 'dt-20261125110000-cccccc',
        status: 'FAILED',
        startedAt: new Date(0).toISOString(),
        stoppedAt: undefined,
      },
    ]);
    expect(sfn).toHaveReceivedCommandTimes(DescribeExecutionCommand, 3);
    for (const id of [ID, taskInput.sessionId, 'dt-20261125110000-cccccc']) {
      expect(sfn).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: arnOf(id) });
    }
  });

  it('answers GET /sessions with the rows, keeping the one whose DescribeExecution failed', async () => {
    givenExecutions();

    const { status, body: res } = await call('GET /sessions');

    expect(status).toBe(200);
    expect(res.sessions.map((s: { sessionId: string; kind?: string }) => [s.sessionId, s.kind])).toEqual([
      [ID, 'fleet'],
      [taskInput.sessionId, 'task'],
      ['dt-20261125110000-cccccc', undefined],
    ]);
  });
});
