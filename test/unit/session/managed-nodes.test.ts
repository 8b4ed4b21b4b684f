import {
  DescribeInstanceInformationCommand,
  InvalidInstanceId,
  type DescribeInstanceInformationCommandInput,
} from '@aws-sdk/client-ssm';
import { FLEET_LIMITS } from '../../../lib/session/batches';
import { managedNodes } from '../../../lib/session/managed-nodes';
import { aws, useAwsMocks } from '../../support/aws';
import { caught } from '../../support/fixtures';

const SSM_BATCH = FLEET_LIMITS.describeInstanceInformation;

useAwsMocks();

const ids = (n: number) => Array.from({ length: n }, (_, i) => `i-${i.toString(16).padStart(17, '0')}`);
const idsOf = (input: DescribeInstanceInformationCommandInput) =>
  input.Filters?.find((f) => f.Key === 'InstanceIds')?.Values ?? [];
const online = (id: string) => ({
  InstanceId: id,
  PingStatus: 'Online' as const,
  PlatformType: 'Linux' as const,
});

describe('managedNodes', () => {
  it('describes SSM_BATCH ids a call and keeps only the ids it asked for', async () => {
    const all = ids(SSM_BATCH + 3);
    aws.ssm
      .on(DescribeInstanceInformationCommand)
      .callsFake((input: DescribeInstanceInformationCommandInput) => ({
        InstanceInformationList: [...idsOf(input).map(online), online('i-99999999999999999')],
      }));

    const infos = await managedNodes(all);

    expect(
      aws.ssm.commandCalls(DescribeInstanceInformationCommand).map((c) => idsOf(c.args[0].input)),
    ).toEqual([all.slice(0, SSM_BATCH), all.slice(SSM_BATCH)]);
    expect([...infos.keys()]).toEqual(all);
    expect(infos.get(all[0])).toMatchObject({ PingStatus: 'Online' });
    expect(infos.has('i-99999999999999999')).toBe(false);
  });

  it('leaves undefined an id SSM does not report, and passes the filters it is given', async () => {
    const [known, unknown] = ids(2);
    aws.ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [online(known)] });

    const infos = await managedNodes([known, unknown], {
      filters: [{ Key: 'PingStatus', Values: ['Online'] }],
    });

    expect(infos.get(known)).toBeDefined();
    expect(infos.has(unknown) && infos.get(unknown)).toBe(undefined);
    expect(aws.ssm).toHaveReceivedCommandWith(DescribeInstanceInformationCommand, {
      Filters: [
        { Key: 'InstanceIds', Values: [known, unknown] },
        { Key: 'PingStatus', Values: ['Online'] },
      ],
      MaxResults: SSM_BATCH,
    });
  });

  it('splits a batch SSM refuses with InvalidInstanceId until the unknown id is alone', async () => {
    const batch = ids(5);
    const bad = batch[3];
    aws.ssm
      .on(DescribeInstanceInformationCommand)
      .callsFake((input: DescribeInstanceInformationCommandInput) => {
        const asked = idsOf(input);
        if (asked.includes(bad))
          throw new InvalidInstanceId({ message: 'Instance Id is invalid', $metadata: {} });
        return { InstanceInformationList: asked.map(online) };
      });

    const infos = await managedNodes(batch);

    expect(batch.filter((id) => infos.get(id) !== undefined)).toEqual(batch.filter((id) => id !== bad));
    expect(infos.get(bad)).toBeUndefined();
  });

  it('follows NextToken, and stops at a token it has seen', async () => {
    const [a, b] = ids(2);
    aws.ssm
      .on(DescribeInstanceInformationCommand)
      .resolvesOnce({ InstanceInformationList: [online(a)], NextToken: 't1' })
      .resolvesOnce({ InstanceInformationList: [online(b)], NextToken: 't1' })
      .resolves({ InstanceInformationList: [] });

    const infos = await managedNodes([a, b]);

    expect(infos.get(a)).toBeDefined();
    expect(infos.get(b)).toBeDefined();
    expect(aws.ssm.commandCalls(DescribeInstanceInformationCommand)).toHaveLength(2);
  });

  it('turns any other failure into a typed AWS_ERROR naming the call', async () => {
    aws.ssm
      .on(DescribeInstanceInformationCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    const error = await caught(() => managedNodes(ids(2)));

    expect(error).toMatchObject({
      code: 'AWS_ERROR',
      message: expect.stringContaining('ssm:DescribeInstanceInformation'),
    });
  });
});
