import type { AwsCredentialIdentity } from '@smithy/types';
import type { DebugTaskClient } from '../../client/api-client';
import {
  STACK_SERVER_CHECKS,
  failedCheck,
  skippedAfter,
  type DoctorCheck,
  type DoctorReport,
} from '../../domain/doctor';
import { DebugTaskError, EXIT } from '../../domain/errors';
import { clientFor } from '../api-discovery';
import { cliCredentials } from '../aws-config';
import type { DoctorFlags } from '../options';
import type { Output } from '../output';
import { checkStack } from '../stack-check';
import { describeCredentials, finish, type DoctorDeps } from './doctor';

/**
 * debug-task doctor --stack: the deployment end to end, no task, nothing started. Here: the
 * credentials, the stack through CloudFormation (the caller's view: status, outputs, state machine)
 * and the API (a signed POST /doctor); the plan function checks the rest from inside
 * (lib/api/stack-doctor.ts). Exit 0 when nothing failed, else the first failure's exit code.
 */
export async function stackDoctorCommand(
  flags: DoctorFlags,
  output: Output,
  deps: DoctorDeps = {},
): Promise<number> {
  const checks: DoctorCheck[] = [];

  let identity: AwsCredentialIdentity;
  try {
    identity = await (deps.credentials ?? cliCredentials(flags))();
    checks.push({ name: 'credentials', status: 'ok', detail: describeCredentials(identity) });
  } catch (error) {
    checks.push(failedCheck('credentials', error));
    return finish(output, [
      ...checks,
      ...skippedAfter('credentials', ['stack', 'api', ...STACK_SERVER_CHECKS]),
    ]);
  }

  const given = flags.apiUrl ?? process.env.DEBUG_TASK_API_URL;
  const stack = await checkStack(flags, identity, given, deps.cloudFormation);
  checks.push(stack.check);
  const apiUrl = given ?? stack.apiUrl;
  if (apiUrl === undefined) {
    return finish(output, [...checks, ...skippedAfter('stack', ['api', ...STACK_SERVER_CHECKS])]);
  }

  const withUrl: DoctorFlags = { ...flags, apiUrl };
  let client: DebugTaskClient | undefined;
  let report: DoctorReport;
  try {
    client = await (deps.client ?? ((f, c) => clientFor(f, undefined, c)))(withUrl, identity);
    report = await client.stackDoctor(flags.cluster !== undefined ? { cluster: flags.cluster } : {});
  } catch (error) {
    // The API answered and refused the request itself: that is bad input, not a broken API.
    if (error instanceof DebugTaskError && error.exitCode === EXIT.BAD_INPUT) throw error;
    checks.push(failedCheck('api', error));
    return finish(output, [...checks, ...skippedAfter('api', STACK_SERVER_CHECKS)]);
  }
  checks.push({ name: 'api', status: 'ok', detail: `${client.apiUrl} accepted a signed POST /doctor` });
  return finish(output, [...checks, ...report.checks]);
}
