import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { DebugTaskClient } from '../../client/api-client';
import {
  DEPLOYMENT_CHECKS,
  POLICY_CHECKS,
  TARGET_CHECKS,
  doctorExitCode,
  doctorReport,
  failedCheck,
  skippedAfter,
  type DoctorCheck,
  type DoctorReport,
  type DoctorRequest,
} from '../../domain/doctor';
import { DebugTaskError, EXIT } from '../../domain/errors';
import { clientFor } from '../api-discovery';
import { cliCredentials } from '../aws-config';
import type { DoctorFlags } from '../options';
import { printDoctorReport, type Output } from '../output';
import { buildSessionRequest } from '../request';

/** What the doctor checks with; tests replace them. */
export interface DoctorDeps {
  /** The credential chain to check and sign with; default: the one every command signs with. */
  credentials?: AwsCredentialIdentityProvider;
  /** Builds the API client from the flags and the resolved credentials; default: `clientFor`. */
  client?: (flags: DoctorFlags, credentials: AwsCredentialIdentity) => Promise<DebugTaskClient>;
  /** `doctor --stack`: the CloudFormation client of the `stack` check; default: one signed with the credentials. */
  cloudFormation?: (region: string) => CloudFormationClient;
}

const REMOTE_CHECKS = [...TARGET_CHECKS, ...POLICY_CHECKS, ...DEPLOYMENT_CHECKS];

/**
 * `debug-task doctor <task>` or `debug-task doctor --stack`: one or the other, never both, never
 * neither (bad input, exit 2, before any check).
 */
export async function doctorMain(
  task: string | undefined,
  flags: DoctorFlags,
  output: Output,
  deps: DoctorDeps = {},
): Promise<number> {
  const usage =
    'Run `debug-task doctor TASK` (a session on that task) or `debug-task doctor --stack` (the deployment).';
  if (flags.stack) {
    if (task !== undefined) {
      throw new DebugTaskError('INVALID_ARGUMENT', 'doctor takes a task or --stack, not both.', {
        hint: usage,
      });
    }
    const taskOnly = (['container', 'tool'] as const).filter((flag) => flags[flag] !== undefined);
    if (taskOnly.length > 0) {
      throw new DebugTaskError(
        'INVALID_ARGUMENT',
        `--${taskOnly[0]} is about a task: doctor --stack checks the deployment.`,
        { hint: usage },
      );
    }
    return (await import('./stack-doctor')).stackDoctorCommand(flags, output, deps);
  }
  if (task === undefined) {
    throw new DebugTaskError('INVALID_ARGUMENT', 'doctor needs a task, or --stack.', { hint: usage });
  }
  return doctorCommand(task, flags, output, deps);
}

/**
 * debug-task doctor <task>: the credentials and the API are checked here (they are ours), the
 * target and the deployment by POST /doctor, which runs Resolve's own code. Nothing is started.
 * Exit 0 when nothing failed (warnings included), else the exit code of the first failure's error.
 */
export async function doctorCommand(
  task: string,
  flags: DoctorFlags,
  output: Output,
  deps: DoctorDeps = {},
): Promise<number> {
  // Bad input is exit 2 before any check, as for a session.
  const request = doctorRequest(task, flags);
  const checks: DoctorCheck[] = [];

  const credentials = await credentialsCheck(flags, deps);
  checks.push(credentials.check);
  if (!credentials.identity) {
    return finish(output, [...checks, ...skippedAfter('credentials', ['api', ...REMOTE_CHECKS])]);
  }
  const identity = credentials.identity;

  const api = await apiCheck(
    () => (deps.client ?? ((f, c) => clientFor(f, task, c)))(flags, identity),
    (client) => client.doctor(request),
  );
  checks.push(api.check);
  if (!api.report) return finish(output, [...checks, ...skippedAfter('api', REMOTE_CHECKS)]);
  return finish(output, [...checks, ...api.report.checks]);
}

/** The `credentials` check of both doctors: the CLI's credential chain resolved, or why not. */
export async function credentialsCheck(
  flags: DoctorFlags,
  deps: DoctorDeps,
): Promise<{ check: DoctorCheck; identity?: AwsCredentialIdentity }> {
  try {
    const identity = await (deps.credentials ?? cliCredentials(flags))();
    return { check: { name: 'credentials', status: 'ok', detail: describeCredentials(identity) }, identity };
  } catch (error) {
    return { check: failedCheck('credentials', error) };
  }
}

/**
 * The `api` check of both doctors: a signed POST /doctor (`call`) answered, with the report of the
 * checks made from inside; or why it failed. The API refusing the request itself is bad input
 * (exit 2), not a broken API: thrown.
 */
export async function apiCheck(
  makeClient: () => Promise<DebugTaskClient>,
  call: (client: DebugTaskClient) => Promise<DoctorReport>,
): Promise<{ check: DoctorCheck; report?: DoctorReport }> {
  try {
    const client = await makeClient();
    const report = await call(client);
    return {
      check: { name: 'api', status: 'ok', detail: `${client.apiUrl} accepted a signed POST /doctor` },
      report,
    };
  } catch (error) {
    if (error instanceof DebugTaskError && error.exitCode === EXIT.BAD_INPUT) throw error;
    return { check: failedCheck('api', error) };
  }
}

function doctorRequest(task: string, flags: DoctorFlags): DoctorRequest {
  const target = {
    task,
    ...(flags.cluster !== undefined && { cluster: flags.cluster }),
    ...(flags.container !== undefined && { container: flags.container }),
  };
  buildSessionRequest(target, { tool: flags.tool ?? 'tcpdump' });
  return { target, ...(flags.tool !== undefined && { tool: flags.tool }) };
}

/** Enough to recognise the identity, never the secret: the key id's last four characters. */
export function describeCredentials(identity: AwsCredentialIdentity): string {
  const key = `access key …${identity.accessKeyId.slice(-4)}`;
  if (!identity.sessionToken) return `${key} (long-term)`;
  const expires = identity.expiration ? `, expires ${identity.expiration.toISOString()}` : '';
  return `${key} (temporary${expires})`;
}

export function finish(output: Output, checks: DoctorCheck[]): number {
  printDoctorReport(output, doctorReport(checks));
  return doctorExitCode(checks);
}
