import {
  DescribeInstanceInformationCommand,
  type InstanceInformation,
  type InstanceInformationStringFilter,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { DebugTaskError } from '../domain/errors';
import { mapLimit } from '../domain/map-limit';
import { awsCall, sdkErrorInfo, translateAwsError } from '../aws/errors';
import { ssmClient } from '../aws/ssm';
import { FLEET_LIMITS, chunk } from './batches';

/** DescribeInstanceInformation's largest page (MaxResults 5-50), and the ids we filter on per call. */
const SSM_BATCH = FLEET_LIMITS.describeInstanceInformation;

/** How a caller makes (and counts) its AWS calls: awsCall, or a session's counting wrapper of it. */
export type DescribeCall = <T>(name: 'ssm:DescribeInstanceInformation', send: () => Promise<T>) => Promise<T>;

export interface ManagedNodesOptions {
  ssm?: SSMClient;
  call?: DescribeCall;
  /** Filters beside InstanceIds, applied by SSM (e.g. PingStatus Online). */
  filters?: InstanceInformationStringFilter[];
  /** Batches described at once. @default 1 */
  concurrency?: number;
}

/**
 * Systems Manager's managed-node information for each of `ids` (undefined: SSM does not know it, or
 * `filters` left it out), SSM_BATCH ids a call with MaxResults SSM_BATCH, so one page each; a
 * NextToken is followed all the same (and a repeated one ends the loop). SSM may refuse a whole call
 * with InvalidInstanceId when one id is unknown: the batch is then split in halves until the unknown
 * ids are alone (each then undefined), so one host without the agent does not hide the others from
 * a session, the doctor or the sweeper. Only ids asked for are kept from an answer.
 */
export async function managedNodes(
  ids: readonly string[],
  options: ManagedNodesOptions = {},
): Promise<Map<string, InstanceInformation | undefined>> {
  const ssm = options.ssm ?? ssmClient();
  const call: DescribeCall = options.call ?? awsCall;
  const infos = new Map<string, InstanceInformation | undefined>();
  const describe = async (batch: string[]): Promise<void> => {
    try {
      const seen = new Set<string>();
      let nextToken: string | undefined;
      do {
        const token = nextToken;
        const out = await call('ssm:DescribeInstanceInformation', () =>
          ssm.send(
            new DescribeInstanceInformationCommand({
              Filters: [{ Key: 'InstanceIds', Values: batch }, ...(options.filters ?? [])],
              MaxResults: SSM_BATCH,
              ...(token && { NextToken: token }),
            }),
          ),
        );
        for (const info of out.InstanceInformationList ?? []) {
          if (info.InstanceId && batch.includes(info.InstanceId)) infos.set(info.InstanceId, info);
        }
        nextToken = out.NextToken || undefined;
        if (nextToken && seen.has(nextToken)) break;
        if (nextToken) seen.add(nextToken);
      } while (nextToken);
    } catch (error) {
      const invalid = error instanceof DebugTaskError ? error.details?.awsError : sdkErrorInfo(error).name;
      if (invalid !== 'InvalidInstanceId') throw translateAwsError('ssm:DescribeInstanceInformation', error);
      if (batch.length === 1) return; // left unknown
      const half = Math.ceil(batch.length / 2);
      await describe(batch.slice(0, half));
      await describe(batch.slice(half));
    }
  };
  await mapLimit(chunk(ids, SSM_BATCH), options.concurrency ?? 1, describe);
  for (const id of ids) if (!infos.has(id)) infos.set(id, undefined);
  return infos;
}
