import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { parseTaskRef } from '../domain/arn';
import { chainCredentials } from '../client/env-credentials';
import { DebugTaskError, quoted } from '../domain/errors';

/**
 * The AWS CLI's conventions, so a user of `aws` finds what they expect: `--profile` on every
 * command that calls AWS, and the region from `--region`, then the task ARN (it names its region),
 * then AWS_REGION, AWS_DEFAULT_REGION, then the profile's `region` in ~/.aws/config.
 */
export interface AwsFlags {
  region?: string;
  profile?: string;
}

/** The region a command works in, or undefined when nothing names one. */
export async function resolveRegion(flags: AwsFlags, task?: string): Promise<string | undefined> {
  return (
    flags.region ??
    regionOfTask(task) ??
    nonEmpty(process.env.AWS_REGION) ??
    nonEmpty(process.env.AWS_DEFAULT_REGION) ??
    (await profileRegion(flags.profile))
  );
}

/** As resolveRegion, but a command that must call AWS cannot go on without one. */
export async function requireRegion(flags: AwsFlags, task?: string): Promise<string> {
  const region = await resolveRegion(flags, task);
  if (region) return region;
  const profile = profileName(flags);
  throw new DebugTaskError('INVALID_ARGUMENT', 'No AWS region was given, and none could be found.', {
    hint: `Give --region REGION (or a full task ARN, which names its region), set AWS_REGION, or \`aws configure set region REGION${profile ? ` --profile ${profile}` : ''}\`.`,
  });
}

function regionOfTask(task: string | undefined): string | undefined {
  if (task === undefined) return undefined;
  try {
    return parseTaskRef(task).region;
  } catch {
    return undefined; // not an ARN: the task's own checks say so
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value && value.trim() !== '' ? value.trim() : undefined;
}

/** The profile's `region`, read by the SDK's own loader (the same files and precedence as `aws`). */
async function profileRegion(profile: string | undefined): Promise<string | undefined> {
  const { CloudFormationClient } = await import('@aws-sdk/client-cloudformation');
  const client = new CloudFormationClient(profile ? { profile } : {});
  try {
    return nonEmpty(await client.config.region());
  } catch {
    return undefined; // "Region is missing": the caller says what to do
  } finally {
    client.destroy();
  }
}

/** --profile, else AWS_PROFILE: the name a credential error should show. */
export function profileName(flags: AwsFlags): string | undefined {
  return flags.profile ?? nonEmpty(process.env.AWS_PROFILE);
}

/**
 * The credential chain every AWS call of the CLI signs with: the SDK's default chain (its first
 * link, the environment's keys, read without loading it: chainCredentials), for the
 * profile when one is given (which then wins over the environment's keys, as in the AWS CLI). A
 * failure names the profile and the command that most often fixes it.
 */
export function cliCredentials(flags: AwsFlags): AwsCredentialIdentityProvider {
  return chainCredentials(flags.profile, (cause) => credentialError(flags, cause));
}

export function credentialError(flags: AwsFlags, cause: unknown): DebugTaskError {
  const profile = profileName(flags);
  const why = cause instanceof Error ? cause.message : String(cause);
  return new DebugTaskError(
    'AWS_ERROR',
    profile
      ? `No AWS credentials for profile ${quoted(profile)}: ${why}`
      : `No AWS credentials were found: ${why}`,
    {
      hint: profile
        ? `Sign in with \`aws sso login --profile ${profile}\` (or check it: \`aws configure list --profile ${profile}\`).`
        : 'Sign in with `aws sso login --profile NAME` and add --profile NAME, or set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).',
      cause,
      ...(profile && { details: { profile } }),
    },
  );
}

/** An SDK error that means "these credentials are missing, expired or refused". */
export function isCredentialError(error: unknown): boolean {
  const name = (error as { name?: string })?.name ?? '';
  return /CredentialsProviderError|ExpiredToken|InvalidClientTokenId|UnrecognizedClient|TokenProviderError|SSO/i.test(
    name,
  );
}
