import type { CloudFormationClient, Output, Stack, StackResource } from '@aws-sdk/client-cloudformation';
import type { AwsCredentialIdentity } from '@smithy/types';
import { failedCheck, type DoctorCheck } from '../domain/doctor';
import { DebugTaskError } from '../domain/errors';
import { credentialError, isCredentialError, requireRegion } from './aws-config';
import type { ApiFlags } from './options';

/** The outputs the DebugTask stack declares (lib/infra/debug-task-stack.ts) and the CLI relies on. */
export const STACK_OUTPUTS = ['ApiUrl', 'StateMachineArn', 'DocumentName', 'BucketName'] as const;

/** CloudFormation's states of a stack that stands (a rollback that completed left the previous one). */
const STANDING = new Set([
  'CREATE_COMPLETE',
  'UPDATE_COMPLETE',
  'UPDATE_ROLLBACK_COMPLETE',
  'IMPORT_COMPLETE',
]);

export interface StackCheck {
  check: DoctorCheck;
  /** The ApiUrl output, when the stack was read and has one. */
  apiUrl?: string;
}

/**
 * `stack` of `doctor --stack`: the deployment as CloudFormation sees it, with the caller's
 * credentials: the stack stands (*_COMPLETE), has its outputs, and its state machine resource (the
 * plan function cannot name it without a cycle in the template, so the client checks it here).
 * Skipped when the API is given (--api-url, DEBUG_TASK_API_URL): there is then no stack to name.
 */
export async function checkStack(
  flags: ApiFlags,
  credentials: AwsCredentialIdentity,
  given: string | undefined,
  makeClient?: (region: string) => CloudFormationClient,
): Promise<StackCheck> {
  const name = 'stack';
  if (given !== undefined) {
    return {
      check: {
        name,
        status: 'skipped',
        detail: `the API is given (${flags.apiUrl !== undefined ? '--api-url' : 'DEBUG_TASK_API_URL'}): no stack was read`,
        hint: 'Leave out --api-url (and DEBUG_TASK_API_URL) to check the stack named by --stack-name too.',
      },
    };
  }
  let client: CloudFormationClient | undefined;
  try {
    const region = await requireRegion(flags);
    const cfn = await import('@aws-sdk/client-cloudformation');
    client = makeClient?.(region) ?? new cfn.CloudFormationClient({ region, credentials });
    const where = `Stack ${flags.stackName} in ${region}`;
    const { Stacks } = await cloudFormationCall(flags, where, () =>
      client!.send(new cfn.DescribeStacksCommand({ StackName: flags.stackName })),
    );
    const stack = Stacks?.[0];
    if (!stack) throw notFound(where);
    const { StackResources } = await cloudFormationCall(flags, where, () =>
      client!.send(new cfn.DescribeStackResourcesCommand({ StackName: flags.stackName })),
    );
    return judgeStack(where, stack, StackResources ?? []);
  } catch (error) {
    return { check: failedCheck(name, error) };
  } finally {
    client?.destroy();
  }
}

/** The stack's status, outputs and state machine, as one finding. */
export function judgeStack(where: string, stack: Stack, resources: readonly StackResource[]): StackCheck {
  const status = stack.StackStatus ?? 'UNKNOWN';
  const redeploy = 'Deploy it again (`npx cdk deploy`) and look at its events in the CloudFormation console.';
  if (!STANDING.has(status)) {
    throw new DebugTaskError('AWS_ERROR', `${where} is ${status}, not deployed.`, {
      hint: status.endsWith('_IN_PROGRESS')
        ? 'Wait for the deployment to finish, then run doctor again.'
        : redeploy,
    });
  }
  const outputs = new Map((stack.Outputs ?? []).map((o: Output) => [o.OutputKey, o.OutputValue]));
  const missing = STACK_OUTPUTS.filter((key) => !outputs.get(key));
  if (missing.length > 0) {
    throw new DebugTaskError('AWS_ERROR', `${where} has no ${missing.join(', ')} output.`, {
      hint: 'Is it the DebugTask stack? Give --stack-name, or --api-url for a DebugTask construct in a stack of your own.',
    });
  }
  const machine = resources.find((r) => r.ResourceType === 'AWS::StepFunctions::StateMachine');
  const machineStatus = machine?.ResourceStatus ?? 'missing';
  if (!machine || !machineStatus.endsWith('_COMPLETE') || machineStatus.startsWith('DELETE')) {
    throw new DebugTaskError('AWS_ERROR', `${where}: its state machine is ${machineStatus}.`, {
      hint: redeploy,
    });
  }
  const apiUrl = outputs.get('ApiUrl') as string;
  const check: DoctorCheck = {
    name: 'stack',
    status: status === 'UPDATE_ROLLBACK_COMPLETE' ? 'warning' : 'ok',
    detail:
      `${where} is ${status}; outputs ${STACK_OUTPUTS.join(', ')}; ` +
      `state machine ${machine.PhysicalResourceId ?? outputs.get('StateMachineArn')} ${machineStatus}`,
    ...(status === 'UPDATE_ROLLBACK_COMPLETE' && {
      hint: 'Its last update was rolled back: the previous version runs. Look at the stack events, then deploy again.',
    }),
  };
  return { check, apiUrl };
}

async function cloudFormationCall<T>(flags: ApiFlags, where: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    if (isCredentialError(error)) throw credentialError(flags, error);
    if ((error as Error).name === 'ValidationError' && /does not exist/.test((error as Error).message)) {
      throw notFound(where);
    }
    throw new DebugTaskError('AWS_ERROR', `Could not read ${where}: ${(error as Error).message}`, {
      hint: 'The caller needs cloudformation:DescribeStacks and cloudformation:DescribeStackResources on the stack.',
      cause: error,
    });
  }
}

function notFound(where: string): DebugTaskError {
  return new DebugTaskError('AWS_ERROR', `${where} does not exist.`, {
    hint: 'Check --region and --stack-name (default DebugTask), or deploy it: `npx cdk deploy`.',
  });
}
