import { ECSClient } from '@aws-sdk/client-ecs';
import { SSMClient } from '@aws-sdk/client-ssm';
import {
  AwsApiError,
  startJsonServer,
  type JsonObject,
  type JsonService,
} from '../../lib/sandbox/aws-json-server';
import { resetAwsClients, setAwsClients } from '../../lib/aws/registry';
import { fleetCallBudget } from '../../lib/session/batches';
import { hostBatches } from '../../lib/session/plan';
import { resolveTargets } from '../../lib/session/targets';

/**
 * Control-plane calls of a fan-out: a synthetic account of `tasks` running EC2 tasks of one service
 * spread over `instances` container instances, answering the ECS and SSM JSON APIs on loopback
 * with the APIs' own batch limits enforced (a resolver that sends 101 ids to DescribeTasks fails
 * here as it would on AWS). Every call is counted by the server, not by the code under test.
 *
 * The same server also answers the single-task resolver (lib/session/resolve-task.ts), which keeps this
 * harness exercised even when no fleet resolver exists.
 */

const REGION = 'xx-bench-1';
const ACCOUNT = '000000000000';
const CLUSTER = 'bench';
const SERVICE = 'web';
const LIMITS = {
  listTasks: 100,
  describeTasks: 100,
  describeContainerInstances: 100,
  instanceInfo: 50,
  sendCommand: 50,
};

export interface FleetAccount {
  endpoint: string;
  calls: Array<{ service: string; action: string }>;
  taskArns: string[];
  close(): Promise<void>;
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

export async function startFleetAccount(tasks: number, instances: number): Promise<FleetAccount> {
  const clusterArn = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${CLUSTER}`;
  const ci = (i: number) => `arn:aws:ecs:${REGION}:${ACCOUNT}:container-instance/${CLUSTER}/${hex(i, 32)}`;
  const ec2 = (i: number) => `i-0${hex(i, 16)}`;
  const taskArns = Array.from(
    { length: tasks },
    (_, i) => `arn:aws:ecs:${REGION}:${ACCOUNT}:task/${CLUSTER}/${hex(i + 1, 32)}`,
  );
  const taskByArn = new Map(
    taskArns.map((arn, i) => [
      arn,
      {
        taskArn: arn,
        clusterArn,
        taskDefinitionArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${SERVICE}:1`,
        containerInstanceArn: ci(i % instances),
        launchType: 'EC2',
        lastStatus: 'RUNNING',
        desiredStatus: 'RUNNING',
        group: `service:${SERVICE}`,
        containers: [
          {
            name: SERVICE,
            lastStatus: 'RUNNING',
            runtimeId: hex(i + 1, 64),
            taskArn: arn,
          },
        ],
      },
    ]),
  );
  const tooMany = (what: string, n: number, max: number) => {
    if (n > max)
      throw new AwsApiError('InvalidParameterException', `${what}: ${n} given, at most ${max} allowed.`);
  };
  const list = (input: JsonObject, name: string): string[] => {
    const value = input[name];
    return Array.isArray(value) ? (value as string[]) : [];
  };

  const ecs: JsonService = {
    service: 'ecs',
    targetPrefix: 'AmazonEC2ContainerServiceV20141113',
    internalErrorType: 'ServerException',
    actions: {
      ListTasks: (input) => {
        const max = Number(input.maxResults ?? 100);
        tooMany('maxResults', max, LIMITS.listTasks);
        const start = Number(input.nextToken ?? 0);
        const page = taskArns.slice(start, start + max);
        const next = start + max < taskArns.length ? String(start + max) : undefined;
        return { taskArns: page, ...(next && { nextToken: next }) };
      },
      DescribeTasks: (input) => {
        const ids = list(input, 'tasks');
        tooMany('tasks', ids.length, LIMITS.describeTasks);
        const found = ids.map(
          (id) => taskByArn.get(id) ?? taskByArn.get(taskArns.find((a) => a.endsWith(`/${id}`)) ?? ''),
        );
        return {
          tasks: found.filter(Boolean),
          failures: ids.filter((_, i) => !found[i]).map((arn) => ({ arn, reason: 'MISSING' })),
        };
      },
      DescribeContainerInstances: (input) => {
        const arns = list(input, 'containerInstances');
        tooMany('containerInstances', arns.length, LIMITS.describeContainerInstances);
        return {
          containerInstances: arns.map((arn) => ({
            containerInstanceArn: arn,
            ec2InstanceId: ec2(parseInt(arn.slice(arn.lastIndexOf('/') + 1), 16)),
            status: 'ACTIVE',
            agentConnected: true,
          })),
          failures: [],
        };
      },
    },
  };
  const ssm: JsonService = {
    service: 'ssm',
    targetPrefix: 'AmazonSSM',
    internalErrorType: 'InternalServerError',
    actions: {
      DescribeInstanceInformation: (input) => {
        const max = Number(input.MaxResults ?? 10);
        tooMany('MaxResults', max, LIMITS.instanceInfo);
        const filters = (input.Filters ?? input.InstanceInformationFilterList ?? []) as Array<{
          Key?: string;
          key?: string;
          Values?: string[];
          valueSet?: string[];
        }>;
        const ids = filters.flatMap((f) =>
          (f.Key ?? f.key) === 'InstanceIds' ? (f.Values ?? f.valueSet ?? []) : [],
        );
        const start = Number(input.NextToken ?? 0);
        const page = ids.slice(start, start + max);
        const next = start + max < ids.length ? String(start + max) : undefined;
        return {
          InstanceInformationList: page.map((id) => ({
            InstanceId: id,
            PingStatus: 'Online',
            LastPingDateTime: new Date(),
            AgentVersion: '3.3.2746.0',
            PlatformType: 'Linux',
            PlatformName: 'Amazon Linux',
            PlatformVersion: '2023',
            ResourceType: 'EC2Instance',
          })),
          ...(next && { NextToken: next }),
        };
      },
      SendCommand: (input) => {
        const ids = list(input, 'InstanceIds');
        tooMany('InstanceIds', ids.length, LIMITS.sendCommand);
        return {
          Command: { CommandId: `${hex(Date.now(), 12)}-bench`, InstanceIds: ids, Status: 'Pending' },
        };
      },
    },
  };
  const calls: FleetAccount['calls'] = [];
  const server = await startJsonServer([ecs, ssm], (service, action) => calls.push({ service, action }));
  return { endpoint: server.endpoint, calls, taskArns, close: server.close };
}

function clientsFor(endpoint: string) {
  const common = {
    endpoint,
    region: REGION,
    credentials: { accessKeyId: 'AKIABENCH00000000000', secretAccessKey: 'bench-not-a-secret' },
    maxAttempts: 1,
  };
  return { ecs: new ECSClient(common), ssm: new SSMClient(common) };
}

function countBy(calls: Array<{ service: string; action: string }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of calls) out[`${c.service}:${c.action}`] = (out[`${c.service}:${c.action}`] ?? 0) + 1;
  return out;
}

export interface SingleResolveResult {
  calls: number;
  byAction: Record<string, number>;
}

/** One task of the synthetic account through Plan's resolver (lib/session/targets.ts): the harness's self-check. */
export async function resolveOneTask(): Promise<SingleResolveResult> {
  const account = await startFleetAccount(1, 1);
  const saved = { ...process.env };
  try {
    Object.assign(process.env, {
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'AKIABENCH00000000000',
      AWS_SECRET_ACCESS_KEY: 'bench-not-a-secret',
      ALLOWED_CLUSTERS: '',
    });
    setAwsClients(clientsFor(account.endpoint));
    try {
      await resolveTargets({ target: { task: account.taskArns[0], container: SERVICE } });
    } finally {
      resetAwsClients();
    }
    return { calls: account.calls.length, byAction: countBy(account.calls) };
  } finally {
    process.env = saved;
    await account.close();
  }
}

export interface FleetResult {
  /** null when no fleet resolver is built. */
  calls: number | null;
  note: string;
  resolveCalls?: number;
  sendCommandBatches?: number;
  byAction?: Record<string, number>;
  targets?: number;
  /** What the design says the calls should be (batches.ts's `fleetCallBudget`), when it exists. */
  budget?: Record<string, number>;
  resolverSelfCount?: Record<string, number>;
  ms?: number;
}

/**
 * 1,000 tasks on 100 instances through Plan's resolver (lib/session/targets.ts, a service target),
 * then the SendCommand batches of its plan (lib/session/plan.ts, `hostBatches`: one Launch each).
 */
export async function fleetCalls(tasks = 1000, instances = 100): Promise<FleetResult> {
  const account = await startFleetAccount(tasks, instances);
  const saved = { ...process.env };
  try {
    Object.assign(process.env, { AWS_REGION: REGION, ALLOWED_CLUSTERS: '' });
    const start = Date.now();
    const resolution = await resolveTargets(
      { target: { cluster: CLUSTER, service: SERVICE, container: SERVICE, maxTasks: tasks } },
      clientsFor(account.endpoint),
    );
    const ms = Date.now() - start;
    const resolveCalls = account.calls.length;
    const batches = hostBatches(resolution.targets).length;
    return {
      calls: resolveCalls + batches,
      note:
        `resolveTargets (${resolution.targets.length} targets) counted by the stand-in; ` +
        `${batches} SendCommand batch(es) of the plan (hostBatches: one Launch each), counted, not sent`,
      resolveCalls,
      sendCommandBatches: batches,
      byAction: countBy(account.calls),
      targets: resolution.targets.length,
      budget: fleetCallBudget(tasks, instances),
      resolverSelfCount: resolution.calls,
      ms,
    };
  } finally {
    process.env = saved;
    await account.close();
  }
}
