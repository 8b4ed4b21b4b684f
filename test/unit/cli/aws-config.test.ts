import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliCredentials, requireRegion, resolveRegion } from '../../../lib/cli/aws-config';
import { useAwsConfigFiles } from '../../support/aws-config-files';

const ARN = 'arn:aws:ecs:xx-arn-1:123456789012:task/prod/0123456789abcdef0123456789abcdef';

/** The AWS CLI's order: --region, the task ARN, AWS_REGION, AWS_DEFAULT_REGION, the profile's config. */
describe('resolveRegion', () => {
  const files = useAwsConfigFiles(
    '[default]\nregion = xx-default-1\n[profile oncall]\nregion = xx-profile-1\naws_access_key_id = AKIAONCALL\naws_secret_access_key = not-a-secret\n',
    [
      'AWS_REGION',
      'AWS_DEFAULT_REGION',
      'AWS_PROFILE',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
    ],
  );

  it('takes --region first', async () => {
    process.env.AWS_REGION = 'xx-env-1';
    expect(await resolveRegion({ region: 'xx-flag-1' }, ARN)).toBe('xx-flag-1');
  });

  it('takes the task ARN’s region over the environment', async () => {
    process.env.AWS_REGION = 'xx-env-1';
    expect(await resolveRegion({}, ARN)).toBe('xx-arn-1');
  });

  it('takes AWS_REGION, then AWS_DEFAULT_REGION (the AWS CLI’s), for a task id', async () => {
    process.env.AWS_DEFAULT_REGION = 'xx-default-env-1';
    expect(await resolveRegion({}, '0123456789abcdef0123456789abcdef')).toBe('xx-default-env-1');
    process.env.AWS_REGION = 'xx-env-1';
    expect(await resolveRegion({}, '0123456789abcdef0123456789abcdef')).toBe('xx-env-1');
  });

  it('takes the region of --profile from ~/.aws/config last, else the default profile’s', async () => {
    expect(await resolveRegion({ profile: 'oncall' })).toBe('xx-profile-1');
    expect(await resolveRegion({})).toBe('xx-default-1');
  });

  it('says how to give a region when none is found', async () => {
    writeFileSync(join(files.dir(), 'config'), '');
    await expect(requireRegion({ profile: 'oncall' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      hint: expect.stringContaining('aws configure set region REGION --profile oncall'),
    });
  });
});

describe('cliCredentials', () => {
  useAwsConfigFiles(
    '[profile oncall]\nregion = xx-profile-1\naws_access_key_id = AKIAONCALL\naws_secret_access_key = not-a-secret\n',
    ['AWS_PROFILE'],
  );
  beforeEach(() => {
    // Keys in the environment: --profile must win over them, as in the AWS CLI.
    process.env.AWS_ACCESS_KEY_ID = 'AKIAENVIRONMENT';
    process.env.AWS_SECRET_ACCESS_KEY = 'not-a-secret-either';
  });

  it('signs with the profile given by --profile, not the environment’s keys', async () => {
    expect((await cliCredentials({ profile: 'oncall' })()).accessKeyId).toBe('AKIAONCALL');
  });

  it('names a profile that gives no credentials and suggests aws sso login for it', async () => {
    await expect(cliCredentials({ profile: 'nosuch' })()).rejects.toMatchObject({
      code: 'AWS_ERROR',
      message: expect.stringContaining('No AWS credentials for profile "nosuch"'),
      hint: expect.stringContaining('aws sso login --profile nosuch'),
    });
  });
});
