import type { AwsCredentialIdentity } from '@smithy/types';
import { DebugTaskClient } from '../client/api-client';
import { DebugTaskError } from '../domain/errors';
import {
  cliCredentials,
  credentialError,
  isCredentialError,
  profileName,
  requireRegion,
  resolveRegion,
} from './aws-config';
import type { ApiFlags } from './options';

/**
 * --api-url, else $DEBUG_TASK_API_URL, else the ApiUrl output of the deployed stack. Requests are
 * signed with `credentials` when given (already resolved), else with the chain of --profile (see
 * aws-config.ts). `task`, when the command has one, names the region if nothing else does.
 */
export async function clientFor(
  flags: ApiFlags,
  task?: string,
  credentials?: AwsCredentialIdentity,
): Promise<DebugTaskClient> {
  const signWith = credentials ?? cliCredentials(flags);
  const given = flags.apiUrl ?? process.env.DEBUG_TASK_API_URL;
  const apiUrl = given ?? (await apiUrlFromStack(flags, task));
  // An execute-api URL names its region (the client reads it); any other URL is signed for ours.
  const region = EXECUTE_API.test(apiUrl) ? undefined : await resolveRegion(flags, task);
  return new DebugTaskClient({ apiUrl, ...(region && { region }), credentials: signWith });
}

const EXECUTE_API = /^https:\/\/[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com/;

async function apiUrlFromStack(flags: ApiFlags, task?: string): Promise<string> {
  const region = await requireRegion(flags, task);
  const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const client = new CloudFormationClient({ region, credentials: cliCredentials(flags) });
  try {
    const { Stacks } = await client.send(new DescribeStacksCommand({ StackName: flags.stackName }));
    const url = Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === 'ApiUrl')?.OutputValue;
    if (url) return url;
    throw new DebugTaskError('AWS_ERROR', `Stack ${flags.stackName} in ${region} has no ApiUrl output.`, {
      hint: 'Give --api-url (or set DEBUG_TASK_API_URL) for a DebugTask construct in a stack of your own, or --stack-name.',
    });
  } catch (error) {
    if (error instanceof DebugTaskError) throw error;
    if (isCredentialError(error)) throw credentialError(flags, error);
    const profile = profileName(flags);
    throw new DebugTaskError(
      'AWS_ERROR',
      `Could not read stack ${flags.stackName} in ${region}${profile ? ` (profile ${profile})` : ''}: ${(error as Error).message}`,
      {
        hint: `Check the region (--region) and the stack's name (--stack-name), or give --api-url (or set DEBUG_TASK_API_URL); deploy it with \`npx cdk deploy\` if it does not exist.`,
        cause: error,
      },
    );
  } finally {
    client.destroy();
  }
}
