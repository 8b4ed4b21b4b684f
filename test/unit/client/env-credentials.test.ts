import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { chainCredentials, environmentCredentials } from '../../../lib/client/env-credentials';
import { useAwsConfigFiles } from '../../support/aws-config-files';

const KEYS = ['AWS_PROFILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'] as const;
const EXTRA = ['AWS_CREDENTIAL_EXPIRATION', 'AWS_CREDENTIAL_SCOPE', 'AWS_ACCOUNT_ID'] as const;

/** The SDK's own chain, for the same environment: what environmentCredentials must agree with. */
async function chainSays(profile?: string): Promise<string | undefined> {
  try {
    return (await defaultProvider(profile ? { profile } : {})()).accessKeyId;
  } catch {
    return undefined;
  }
}

describe('environmentCredentials: the default chain’s first link, without loading the chain', () => {
  useAwsConfigFiles(
    '[profile oncall]\naws_access_key_id = AKIAONCALL\naws_secret_access_key = not-a-secret\n[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = not-a-secret\n',
    [...KEYS, ...EXTRA],
  );
  beforeEach(() => {
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    jest.spyOn(console, 'warn').mockImplementation(() => undefined); // the chain's two-sources warning
  });
  afterEach(() => jest.restoreAllMocks());

  it('gives the environment’s keys, with every field the chain’s fromEnv gives', async () => {
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: 'AKIAENVIRONMENT',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_SESSION_TOKEN: 'token',
      AWS_CREDENTIAL_EXPIRATION: '2030-01-01T00:00:00Z',
      AWS_CREDENTIAL_SCOPE: 'xx-scope-1',
      AWS_ACCOUNT_ID: '123456789012',
    });
    const ours = environmentCredentials(undefined);
    expect(ours).toEqual(await defaultProvider()());
    expect(ours?.expiration?.toISOString()).toBe('2030-01-01T00:00:00.000Z');
  });

  it.each([
    [
      'keys, no profile',
      { AWS_ACCESS_KEY_ID: 'AKIAENVIRONMENT', AWS_SECRET_ACCESS_KEY: 's' },
      undefined,
      'AKIAENVIRONMENT',
    ],
    [
      'keys and AWS_PROFILE: the profile wins',
      { AWS_ACCESS_KEY_ID: 'AKIAENVIRONMENT', AWS_SECRET_ACCESS_KEY: 's', AWS_PROFILE: 'oncall' },
      undefined,
      'AKIAONCALL',
    ],
    [
      'keys and --profile: the profile wins',
      { AWS_ACCESS_KEY_ID: 'AKIAENVIRONMENT', AWS_SECRET_ACCESS_KEY: 's' },
      'oncall',
      'AKIAONCALL',
    ],
    [
      'keys and an empty AWS_PROFILE',
      { AWS_ACCESS_KEY_ID: 'AKIAENVIRONMENT', AWS_SECRET_ACCESS_KEY: 's', AWS_PROFILE: '' },
      undefined,
      'AKIAENVIRONMENT',
    ],
    [
      'an id without its secret: the files',
      { AWS_ACCESS_KEY_ID: 'AKIAENVIRONMENT' },
      undefined,
      'AKIADEFAULT',
    ],
    ['no keys: the files', {}, undefined, 'AKIADEFAULT'],
  ] as const)('agrees with the SDK’s chain: %s', async (_, env, profile, expected) => {
    Object.assign(process.env, env);
    expect(await chainSays(profile)).toBe(expected);
    expect(await chainCredentials(profile, (cause) => cause as Error)()).toMatchObject({
      accessKeyId: expected,
    });
    // Only where the chain stops at the keys does the fast path answer by itself.
    expect(environmentCredentials(profile)?.accessKeyId).toBe(
      expected === 'AKIAENVIRONMENT' ? expected : undefined,
    );
  });
});

describe('chainCredentials', () => {
  it('answers from the environment’s keys without loading the credential chain', async () => {
    const loaded: string[] = [];
    jest.isolateModules(() => {
      jest.doMock('@aws-sdk/credential-provider-node', () => {
        loaded.push('credential-provider-node');
        return { defaultProvider: () => () => Promise.reject(new Error('not this one')) };
      });
    });
    const env = { ...process.env };
    try {
      delete process.env.AWS_PROFILE;
      process.env.AWS_ACCESS_KEY_ID = 'AKIAENVIRONMENT';
      process.env.AWS_SECRET_ACCESS_KEY = 's';
      const provider = chainCredentials(
        undefined,
        (cause) => new Error(`worded by the caller: ${(cause as Error).message}`, { cause }),
      );
      expect(await provider()).toMatchObject({ accessKeyId: 'AKIAENVIRONMENT' });
      expect(loaded).toEqual([]);
      // Without the keys the chain is loaded and asked (here a stand-in that refuses); its refusal
      // comes as the caller's error.
      delete process.env.AWS_ACCESS_KEY_ID;
      await expect(provider()).rejects.toThrow('worded by the caller: not this one');
      expect(loaded).toEqual(['credential-provider-node']);
    } finally {
      process.env = env;
      jest.dontMock('@aws-sdk/credential-provider-node');
    }
  });
});
