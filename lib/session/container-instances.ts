import { DescribeContainerInstancesCommand, ListContainerInstancesCommand } from '@aws-sdk/client-ecs';
import { awsCall } from '../aws/errors';
import { ecsClient } from '../aws/ecs';
import { logger } from '../log';
import { chunk } from './batches';

/** ECS's page size and DescribeContainerInstances' batch limit. */
export const ECS_BATCH = 100;

/** `i-` (EC2) or `mi-` (ECS Anywhere) ids, as SendCommand's InstanceIds accept them. */
export const INSTANCE_ID = /^(i-[0-9a-f]{8}([0-9a-f]{9})?|mi-[0-9a-f]{17})$/;

/**
 * The instance ids of a cluster's container instances: ListContainerInstances page by page, then
 * DescribeContainerInstances 100 at a time. `status: 'ACTIVE'` keeps the hosts that take new tasks
 * (what doctor --stack counts); without it ECS returns every state but INACTIVE, so DRAINING hosts,
 * which may stay up for hours, are included (what the sweeper must reach). A container instance
 * without a usable instance id is logged and left out; one deregistered between the list and the
 * describe (MISSING) is simply gone.
 */
export async function clusterInstanceIds(
  cluster: string,
  options: { status?: 'ACTIVE' } = {},
): Promise<string[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await awsCall('ecs:ListContainerInstances', () =>
      ecsClient().send(
        new ListContainerInstancesCommand({
          cluster,
          status: options.status,
          maxResults: ECS_BATCH,
          nextToken,
        }),
      ),
    );
    arns.push(...(page.containerInstanceArns ?? []));
    nextToken = page.nextToken;
  } while (nextToken);

  const ids: string[] = [];
  for (const batch of chunk(arns, ECS_BATCH)) {
    const out = await awsCall('ecs:DescribeContainerInstances', () =>
      ecsClient().send(new DescribeContainerInstancesCommand({ cluster, containerInstances: batch })),
    );
    for (const instance of out.containerInstances ?? []) {
      const id = instance.ec2InstanceId;
      if (id && INSTANCE_ID.test(id)) ids.push(id);
      else logger.warn('container instance without a usable instance id', { cluster, id });
    }
    if (out.failures?.length) {
      logger.info('container instances gone since listed', { cluster, failures: out.failures.length });
    }
  }
  return ids;
}
