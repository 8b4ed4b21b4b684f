import {
  ClusterNotFoundException,
  DescribeContainerInstancesCommand,
  ListClustersCommand,
  ListContainerInstancesCommand,
  type ContainerInstance,
} from '@aws-sdk/client-ecs';
import { DescribeInstanceInformationCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import { handler } from '../../../lambda/sweeper';
import { DebugTaskError } from '../../../lib/domain/errors';
import { sweepHosts } from '../../../lib/steps/sweep';
import { FAKE, aws, useAwsMocks } from '../../support/aws';
import { ACCOUNT, DOCUMENT, REGION, caught } from '../../support/fixtures';

useAwsMocks({ ALLOWED_CLUSTERS: 'prod' });

const ecs = aws.ecs;
const ssm = aws.ssm;

const clusterArn = (name: string) => `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${name}`;
const instanceId = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;

/**
 * A fake fleet behind the four read APIs, paging and batching as AWS does (ECS: 100 a page or a
 * call; SSM DescribeInstanceInformation: MaxResults a page). Hosts are `i-...` ids; `offline`
 * hosts are left out of DescribeInstanceInformation as its PingStatus=Online filter would.
 */
function fleet(clusters: Record<string, string[]>, { offline = [] as string[], clusterPageSize = 100 } = {}) {
  const ciArn = (cluster: string, id: string) =>
    `arn:aws:ecs:${REGION}:${ACCOUNT}:container-instance/${cluster}/${id.replace(/^m?i-/, '')}`;
  const byArn = new Map<string, ContainerInstance>();
  for (const [cluster, ids] of Object.entries(clusters)) {
    for (const id of ids)
      byArn.set(ciArn(cluster, id), { containerInstanceArn: ciArn(cluster, id), ec2InstanceId: id });
  }
  const page = <T>(items: T[], token: string | undefined, size: number) => {
    const start = token ? Number(token) : 0;
    const end = start + size;
    return { items: items.slice(start, end), next: end < items.length ? String(end) : undefined };
  };

  const names = Object.keys(clusters);
  ecs.on(ListClustersCommand).callsFake((input: { nextToken?: string; maxResults?: number }) => {
    const { items, next } = page(
      names.map(clusterArn),
      input.nextToken,
      Math.min(input.maxResults ?? 100, clusterPageSize),
    );
    return { clusterArns: items, nextToken: next };
  });
  ecs
    .on(ListContainerInstancesCommand)
    .callsFake((input: { cluster: string; nextToken?: string; maxResults?: number }) => {
      const name = input.cluster.split('/').pop()!;
      const ids = clusters[name];
      if (!ids) throw new ClusterNotFoundException({ message: 'Cluster not found.', $metadata: {} });
      const { items, next } = page(
        ids.map((id) => ciArn(name, id)),
        input.nextToken,
        input.maxResults ?? 100,
      );
      return { containerInstanceArns: items, nextToken: next };
    });
  ecs.on(DescribeContainerInstancesCommand).callsFake((input: { containerInstances: string[] }) => {
    if (input.containerInstances.length > 100)
      throw new Error('DescribeContainerInstances takes at most 100');
    return { containerInstances: input.containerInstances.map((arn) => byArn.get(arn)!), failures: [] };
  });
  ssm
    .on(DescribeInstanceInformationCommand)
    .callsFake(
      (input: { Filters: { Key: string; Values: string[] }[]; MaxResults?: number; NextToken?: string }) => {
        const ids = input.Filters.find((f) => f.Key === 'InstanceIds')!.Values;
        if (ids.length > 50) throw new Error('this test sends at most 50 ids a call');
        const online = ids.filter((id) => !offline.includes(id));
        const { items, next } = page(online, input.NextToken, input.MaxResults ?? 10);
        return {
          InstanceInformationList: items.map((id) => ({
            InstanceId: id,
            PingStatus: 'Online',
            PlatformType: 'Linux',
          })),
          NextToken: next,
        };
      },
    );
}

const hosts = (count: number, from = 1) => Array.from({ length: count }, (_, i) => instanceId(from + i));

let sent = 0;

beforeEach(() => {
  sent = 0;
  ssm.on(SendCommandCommand).callsFake((input: { InstanceIds: string[] }) => {
    if (input.InstanceIds.length > 50) throw new Error('SendCommand takes at most 50 InstanceIds');
    sent += 1;
    return { Command: { CommandId: `sweep-${sent}` } };
  });
});

const calls = () => ({
  ListContainerInstances: ecs.commandCalls(ListContainerInstancesCommand).length,
  DescribeContainerInstances: ecs.commandCalls(DescribeContainerInstancesCommand).length,
  DescribeInstanceInformation: ssm.commandCalls(DescribeInstanceInformationCommand).length,
  SendCommand: ssm.commandCalls(SendCommandCommand).length,
});
const sentTo = () =>
  ssm.commandCalls(SendCommandCommand).flatMap((call) => call.args[0].input.InstanceIds ?? []);

describe('sweepHosts', () => {
  it.each<[number, number, number]>([
    // instances, ECS calls each (List, Describe: ceil(N/100)), SSM calls each (ceil(N/50))
    [1, 1, 1],
    [50, 1, 1],
    [51, 1, 2],
    [100, 1, 2],
    [101, 2, 3],
    [1000, 10, 20],
  ])(
    'sweeps N=%d instances with %d call(s) of each ECS kind and %d of each SSM kind',
    async (n, ecsCalls, ssmCalls) => {
      fleet({ prod: hosts(n) });

      const summary = await sweepHosts({});

      expect(calls()).toEqual({
        ListContainerInstances: ecsCalls,
        DescribeContainerInstances: ecsCalls,
        DescribeInstanceInformation: ssmCalls,
        SendCommand: ssmCalls,
      });
      expect(sentTo().sort()).toEqual(hosts(n).sort()); // every host once, none twice
      expect(summary).toMatchObject({
        clusters: 1,
        instances: n,
        online: n,
        commands: ssmCalls,
        missingClusters: [],
      });
    },
  );

  it('sends our document at the pinned version, with action sweep and nothing a session would need', async () => {
    fleet({ prod: hosts(3) });

    await sweepHosts({});

    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: DOCUMENT,
      DocumentVersion: FAKE.documentVersion,
      DocumentHash: FAKE.documentHash,
      DocumentHashType: 'Sha256',
      InstanceIds: hosts(3),
      MaxConcurrency: '100%',
      MaxErrors: '100%',
      TimeoutSeconds: 60,
      Comment: 'debug-task sweep',
    });
    expect(ssm.commandCalls(SendCommandCommand)[0].args[0].input.Parameters).toEqual({
      action: ['sweep'],
      executionTimeout: ['120'],
      runnerUrl: [expect.stringMatching(/^https:\/\//)],
    });
  });

  it('lists every container instance of a cluster (no status filter: DRAINING hosts are swept too)', async () => {
    fleet({ prod: hosts(1) });

    await sweepHosts({});

    expect(ecs).toHaveReceivedCommandWith(ListContainerInstancesCommand, {
      cluster: 'prod',
      maxResults: 100,
    });
    expect(ecs.commandCalls(ListContainerInstancesCommand)[0].args[0].input.status).toBeUndefined();
  });

  it('sweeps only the allowed clusters, and never lists the account’s clusters then', async () => {
    process.env.ALLOWED_CLUSTERS = ' prod, staging ,';
    fleet({ prod: hosts(2), staging: hosts(2, 10), other: hosts(2, 20) });

    const summary = await sweepHosts({});

    expect(ecs).toHaveReceivedCommandTimes(ListClustersCommand, 0);
    expect(ecs.commandCalls(ListContainerInstancesCommand).map((c) => c.args[0].input.cluster)).toEqual([
      'prod',
      'staging',
    ]);
    expect(sentTo().sort()).toEqual([...hosts(2), ...hosts(2, 10)].sort());
    expect(summary).toMatchObject({ clusters: 2, instances: 4 });
  });

  it('sweeps every cluster of the account, listing them page by page, when no cluster is configured', async () => {
    process.env.ALLOWED_CLUSTERS = '';
    fleet({ a: hosts(1, 1), b: hosts(1, 2), c: hosts(1, 3) }, { clusterPageSize: 2 });

    const summary = await sweepHosts({});

    expect(ecs).toHaveReceivedCommandTimes(ListClustersCommand, 2);
    expect(ecs.commandCalls(ListContainerInstancesCommand).map((c) => c.args[0].input.cluster)).toEqual(
      ['a', 'b', 'c'].map(clusterArn),
    );
    expect(summary).toMatchObject({ clusters: 3, instances: 3, commands: 1 });
  });

  it('puts the hosts of several clusters into the same commands (batches of 50 across clusters)', async () => {
    process.env.ALLOWED_CLUSTERS = 'a,b,c';
    fleet({ a: hosts(20, 1), b: hosts(20, 100), c: hosts(20, 200) });

    await sweepHosts({});

    expect(calls()).toMatchObject({ DescribeInstanceInformation: 2, SendCommand: 2 });
    expect(ssm.commandCalls(SendCommandCommand).map((c) => c.args[0].input.InstanceIds?.length)).toEqual([
      50, 10,
    ]);
  });

  it('asks SSM for online Linux hosts and sends the sweep to those only', async () => {
    const all = hosts(5);
    fleet({ prod: all }, { offline: [all[1], all[3]] });

    const summary = await sweepHosts({});

    expect(ssm).toHaveReceivedCommandWith(DescribeInstanceInformationCommand, {
      Filters: [
        { Key: 'InstanceIds', Values: all },
        { Key: 'PingStatus', Values: ['Online'] },
        { Key: 'PlatformTypes', Values: ['Linux'] },
      ],
      MaxResults: 50,
    });
    expect(sentTo()).toEqual([all[0], all[2], all[4]]);
    expect(summary).toMatchObject({ instances: 5, online: 3, commands: 1 });
  });

  it('follows DescribeInstanceInformation pages', async () => {
    fleet({ prod: hosts(3) });
    ssm
      .on(DescribeInstanceInformationCommand)
      .resolvesOnce({ InstanceInformationList: [{ InstanceId: instanceId(1) }], NextToken: 'next' })
      .resolvesOnce({
        InstanceInformationList: [{ InstanceId: instanceId(2) }, { InstanceId: instanceId(3) }],
      });

    await sweepHosts({});

    expect(ssm).toHaveReceivedCommandTimes(DescribeInstanceInformationCommand, 2);
    expect(ssm.commandCalls(DescribeInstanceInformationCommand)[1].args[0].input.NextToken).toBe('next');
    expect(sentTo()).toEqual(hosts(3));
  });

  it('sends to ECS Anywhere hosts (mi-) and skips container instances without an instance id', async () => {
    const anywhere = 'mi-0123456789abcdef0';
    fleet({ prod: [instanceId(1), anywhere] });
    ecs.on(DescribeContainerInstancesCommand).resolves({
      containerInstances: [
        { containerInstanceArn: 'ci/1', ec2InstanceId: instanceId(1) },
        { containerInstanceArn: 'ci/2', ec2InstanceId: anywhere },
        { containerInstanceArn: 'ci/3' },
      ],
    });

    const summary = await sweepHosts({});

    expect(sentTo()).toEqual([instanceId(1), anywhere]);
    expect(summary).toMatchObject({ instances: 2, online: 2 });
  });

  it('sends nothing for a cluster without container instances', async () => {
    fleet({ prod: [] });

    const summary = await sweepHosts({});

    expect(calls()).toEqual({
      ListContainerInstances: 1,
      DescribeContainerInstances: 0,
      DescribeInstanceInformation: 0,
      SendCommand: 0,
    });
    expect(summary).toEqual({
      clusters: 1,
      missingClusters: [],
      instances: 0,
      online: 0,
      commands: 0,
      commandIds: [],
    });
  });

  it('sends nothing when every host is offline', async () => {
    fleet({ prod: hosts(2) }, { offline: hosts(2) });

    const summary = await sweepHosts({});

    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
    expect(summary).toMatchObject({ instances: 2, online: 0, commands: 0 });
  });

  it('reports a configured cluster that does not exist, and sweeps the others without failing', async () => {
    process.env.ALLOWED_CLUSTERS = 'gone,prod';
    fleet({ prod: hosts(2) });

    const summary = await sweepHosts({});

    expect(summary).toMatchObject({ clusters: 1, missingClusters: ['gone'], commands: 1 });
    expect(sentTo()).toEqual(hosts(2));
  });

  it('raises AWS_ERROR naming ecs:ListClusters when the clusters cannot be listed, and sends nothing', async () => {
    delete process.env.ALLOWED_CLUSTERS;
    ecs
      .on(ListClustersCommand)
      .rejects(Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' }));

    const error = await caught(() => sweepHosts({}));

    expect(error).toBeInstanceOf(DebugTaskError);
    expect(error).toMatchObject({ code: 'AWS_ERROR', details: { call: 'ecs:ListClusters' } });
    expect(error.message).toMatch(/^ecs:ListClusters failed: AccessDeniedException/);
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });

  it('sweeps the other clusters when one cannot be read, then raises the failure naming the call and cluster', async () => {
    process.env.ALLOWED_CLUSTERS = 'locked,prod';
    fleet({ prod: hosts(2) });
    ecs
      .on(ListContainerInstancesCommand, { cluster: 'locked' })
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    const error = await caught(() => sweepHosts({}));

    expect(sentTo()).toEqual(hosts(2));
    expect(error).toMatchObject({ code: 'AWS_ERROR', details: { online: 2, commands: 1, failures: 1 } });
    expect(error.message).toMatch(
      /cluster locked was skipped: ecs:ListContainerInstances failed: ThrottlingException/,
    );
    expect(error.hint).toMatch(/AWS throttled ecs:ListContainerInstances.*next scheduled sweep/);
  });

  it('sends the other batches when one SendCommand fails, then raises it naming ssm:SendCommand', async () => {
    fleet({ prod: hosts(120) });
    ssm
      .on(SendCommandCommand)
      .rejectsOnce(
        Object.assign(new Error('Instances [[i-1]] not in a valid state'), { name: 'InvalidInstanceId' }),
      )
      .resolves({ Command: { CommandId: 'sweep-ok' } });

    const error = await caught(() => sweepHosts({}));

    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 3);
    expect(error).toMatchObject({ code: 'AWS_ERROR', details: { online: 120, commands: 2, failures: 1 } });
    expect(error.message).toMatch(/ssm:SendCommand failed: InvalidInstanceId/);
  });

  it('refuses to run without DOCUMENT_NAME, before any call', async () => {
    delete process.env.DOCUMENT_NAME;

    const error = await caught(() => sweepHosts({}));

    expect(error.message).toMatch(/DOCUMENT_NAME/);
    expect(ecs.calls()).toHaveLength(0);
  });

  it('as the Lambda handler, takes the scheduled event and fails the invocation with the code as its name', async () => {
    const scheduled = { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} };
    fleet({ prod: hosts(1) });

    await expect(handler(scheduled)).resolves.toMatchObject({ commands: 1 });

    ecs
      .on(ListContainerInstancesCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    const error = await caught(() => handler(scheduled));
    expect(error.name).toBe('AWS_ERROR');
  });
});
