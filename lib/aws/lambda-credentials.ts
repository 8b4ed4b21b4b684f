import { fromEnv } from '@aws-sdk/credential-provider-env';

/**
 * The credential provider the functions' bundles use in place of the SDK's default chain
 * (lib/infra/debug-function.ts aliases `@aws-sdk/credential-provider-node` to this module when it
 * bundles a handler).
 *
 * In Lambda the runtime puts the function role's credentials in the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), and the default chain's first link
 * reads them there. The rest of the chain (profiles, SSO, web identity, the container and instance
 * metadata services, and the STS and SSO clients they bring) never runs in a function, yet weighs
 * ~100 KB of every bundle and its module init (BENCHMARKS.md, Lambda bundles). The CLI, the sandbox
 * and the tests are not bundled this way: they keep the whole chain.
 */
export const defaultProvider = (init?: Parameters<typeof fromEnv>[0]) => fromEnv(init);
