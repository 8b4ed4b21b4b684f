import type { AwsCredentialIdentity } from '@smithy/types';
import { DebugTaskClient } from '../client/api-client';
import { DebugTaskError } from '../domain/errors';
import type { ApiFlags } from './options';

/**
 * --api-url, else $DEBUG_TASK_API_URL, else the ApiUrl output of the deployed stack. Requests are
 * signed with `credentials` when given (already resolved), else with the default chain.
 */
export async function clientFor(
  flags: ApiFlags,
  credentials?: AwsCredentialIdentity,
): Promise<DebugTaskClient> {
  const apiUrl = flags.apiUrl ?? process.env.DEBUG_TASK_API_URL ?? (await apiUrlFromStack(flags));
  return new DebugTaskClient({ apiUrl, region: flags.region, ...(credentials && { credentials }) });
}

async function apiUrlFromStack(flags: ApiFlags): Promise<string> {
  const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const client = new CloudFormationClient(flags.region ? { region: flags.region } : {});
  try {
    const { Stacks } = await client.send(new DescribeStacksCommand({ StackName: flags.stackName }));
    const url = Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === 'ApiUrl')?.OutputValue;
    if (url) return url;
    throw new DebugTaskError('AWS_ERROR', `Stack ${flags.stackName} has no ApiUrl output.`, {
      hint: 'Deploy it with `npx cdk deploy`, or pass --api-url.',
    });
  } catch (error) {
    if (error instanceof DebugTaskError) throw error;
    throw new DebugTaskError(
      'AWS_ERROR',
      `Could not read stack ${flags.stackName}: ${(error as Error).message}`,
      {
        hint: 'Deploy with `npx cdk deploy`, check --region/AWS_REGION, or pass --api-url (or set DEBUG_TASK_API_URL).',
        cause: error,
      },
    );
  } finally {
    client.destroy();
  }
}
