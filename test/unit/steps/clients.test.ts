import { ECSClient } from '@aws-sdk/client-ecs';
import { S3Client } from '@aws-sdk/client-s3';
import { ecsClient, resetStepClients, s3Client, setStepClients, ssmClient } from '../../../lib/steps/clients';
import { withEnv } from './fixtures';

let restoreEnv: () => void;

beforeEach(() => {
  resetStepClients();
  restoreEnv = withEnv({ AWS_S3_FORCE_PATH_STYLE: undefined });
});

afterEach(() => {
  resetStepClients();
  restoreEnv();
});

describe('step clients', () => {
  it('creates each client once and reuses it', () => {
    expect(ecsClient()).toBe(ecsClient());
    expect(ssmClient()).toBe(ssmClient());
    expect(s3Client()).toBe(s3Client());
  });

  it('computes S3 request checksums only when required, so presigned PUTs carry no empty-body CRC32', async () => {
    await expect(s3Client().config.requestChecksumCalculation()).resolves.toBe('WHEN_REQUIRED');
  });

  it('uses path-style S3 URLs only when AWS_S3_FORCE_PATH_STYLE is true', () => {
    expect(s3Client().config.forcePathStyle).toBe(false);
    resetStepClients();
    process.env.AWS_S3_FORCE_PATH_STYLE = 'true';

    expect(s3Client().config.forcePathStyle).toBe(true);
  });

  it('takes the region from the standard environment', async () => {
    await expect(ecsClient().config.region()).resolves.toBe('xx-test-1');
  });

  it('uses injected clients instead of creating its own', () => {
    const ecs = new ECSClient({ region: 'xx-test-1' });
    const s3 = new S3Client({ region: 'xx-test-1' });

    setStepClients({ ecs, s3 });

    expect(ecsClient()).toBe(ecs);
    expect(s3Client()).toBe(s3);
  });
});
