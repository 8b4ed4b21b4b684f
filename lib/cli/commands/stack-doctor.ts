import { STACK_SERVER_CHECKS, skippedAfter, type DoctorCheck } from '../../domain/doctor';
import { clientFor } from '../api-discovery';
import type { DoctorFlags } from '../options';
import type { Output } from '../output';
import { checkStack } from '../stack-check';
import { apiCheck, credentialsCheck, finish, type DoctorDeps } from './doctor';

/**
 * debug-task doctor --stack: the deployment end to end, no task, nothing started. Here: the
 * credentials, the stack through CloudFormation (the caller's view: status, outputs, state machine)
 * and the API (a signed POST /doctor); the doctor function checks the rest from inside
 * (lib/api/stack-doctor.ts). Exit 0 when nothing failed, else the first failure's exit code.
 */
export async function stackDoctorCommand(
  flags: DoctorFlags,
  output: Output,
  deps: DoctorDeps = {},
): Promise<number> {
  const checks: DoctorCheck[] = [];

  const credentials = await credentialsCheck(flags, deps);
  checks.push(credentials.check);
  if (!credentials.identity) {
    return finish(output, [
      ...checks,
      ...skippedAfter('credentials', ['stack', 'api', ...STACK_SERVER_CHECKS]),
    ]);
  }
  const identity = credentials.identity;

  const given = flags.apiUrl ?? process.env.DEBUG_TASK_API_URL;
  const stack = await checkStack(flags, identity, given, deps.cloudFormation);
  checks.push(stack.check);
  const apiUrl = given ?? stack.apiUrl;
  if (apiUrl === undefined) {
    return finish(output, [...checks, ...skippedAfter('stack', ['api', ...STACK_SERVER_CHECKS])]);
  }

  const withUrl: DoctorFlags = { ...flags, apiUrl };
  const api = await apiCheck(
    () => (deps.client ?? ((f, c) => clientFor(f, undefined, c)))(withUrl, identity),
    (client) => client.stackDoctor(flags.cluster !== undefined ? { cluster: flags.cluster } : {}),
  );
  checks.push(api.check);
  if (!api.report) return finish(output, [...checks, ...skippedAfter('api', STACK_SERVER_CHECKS)]);
  return finish(output, [...checks, ...api.report.checks]);
}
