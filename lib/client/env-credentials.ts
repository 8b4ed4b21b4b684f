import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

/**
 * The first link of the SDK's default credential chain (`@aws-sdk/credential-provider-node`), read
 * without loading the chain: when no profile is named (`profile`, else AWS_PROFILE) and
 * AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are both set, the chain returns exactly these
 * (`@aws-sdk/credential-provider-env`'s fromEnv) and looks no further. Loading the chain to get
 * them costs a CLI start its credential modules and the parts of `@aws-sdk/core` and
 * `@smithy/core` they require (14 of the 24 files it loaded before its first request, 37-58 ms on
 * a 2-core machine: BENCHMARKS.md, "The session's edges"); the signer needs only the keys.
 * Undefined otherwise: the caller then asks the chain, which decides as always (a profile wins over
 * the keys; SSO, files, process, container and instance credentials).
 */
export function environmentCredentials(
  profile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): AwsCredentialIdentity | undefined {
  // The chain's own test: any non-empty profile name (the flag's, else AWS_PROFILE) skips the keys.
  if (profile || env.AWS_PROFILE) return undefined;
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) return undefined;
  const sessionToken = env.AWS_SESSION_TOKEN;
  const expiry = env.AWS_CREDENTIAL_EXPIRATION;
  const credentialScope = env.AWS_CREDENTIAL_SCOPE;
  const accountId = env.AWS_ACCOUNT_ID;
  return {
    accessKeyId,
    secretAccessKey,
    ...(sessionToken && { sessionToken }),
    ...(expiry && { expiration: new Date(expiry) }),
    ...(credentialScope && { credentialScope }),
    ...(accountId && { accountId }),
    // What fromEnv records (setCredentialFeature) for the SDK clients' user agent.
    $source: { CREDENTIALS_ENV_VARS: 'g' },
  } as AwsCredentialIdentity;
}

/**
 * A provider that answers from the environment's keys when the chain would (environmentCredentials),
 * and otherwise loads the SDK's default chain once, for `profile` when one is given. The chain's
 * failure (no credentials, an expired SSO token) is thrown as `asError(cause)`: each caller words
 * it for its user (the CLI names the profile; the typed client speaks to a library's user).
 */
export function chainCredentials(
  profile: string | undefined,
  asError: (cause: unknown) => Error,
): AwsCredentialIdentityProvider {
  let provider: AwsCredentialIdentityProvider | undefined;
  return async () => {
    const fromEnvironment = environmentCredentials(profile);
    if (fromEnvironment) return fromEnvironment;
    try {
      if (!provider) {
        const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
        provider = defaultProvider(profile ? { profile } : {});
      }
      return await provider();
    } catch (cause) {
      throw asError(cause);
    }
  };
}
