import { ECSClient } from '@aws-sdk/client-ecs';
import { S3Client } from '@aws-sdk/client-s3';
import { STSClient } from '@aws-sdk/client-sts';
import {
  ecsClient,
  presigningS3Client,
  resetStepClients,
  s3Client,
  setStepClients,
  ssmClient,
  stsClient,
} from '../../../lib/steps/clients';
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
    expect(stsClient()).toBe(stsClient());
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

  describe('presigningS3Client (the upload role session signs the host upload)', () => {
    const session = {
      accessKeyId: 'ASIAUPLOADSESSION001',
      secretAccessKey: 'upload-secret',
      sessionToken: 'upload-token',
      expiration: new Date('2030-01-01T00:00:00Z'),
    };

    it("signs with the given session, not the function's credentials", async () => {
      const client = presigningS3Client(session);
      try {
        await expect(client.config.credentials()).resolves.toMatchObject({
          accessKeyId: 'ASIAUPLOADSESSION001',
          sessionToken: 'upload-token',
        });
      } finally {
        client.destroy();
      }
    });

    it('is a new client each time, never the shared one, with the settings of the shared one', async () => {
      process.env.AWS_S3_FORCE_PATH_STYLE = 'true';
      const a = presigningS3Client(session);
      const b = presigningS3Client(session);
      try {
        expect(a).not.toBe(b);
        expect(a).not.toBe(s3Client());
        await expect(a.config.requestChecksumCalculation()).resolves.toBe('WHEN_REQUIRED');
        expect(a.config.forcePathStyle).toBe(true);
      } finally {
        a.destroy();
        b.destroy();
      }
    });
  });

  it('uses an injected STS client', () => {
    const sts = new STSClient({ region: 'xx-test-1' });

    setStepClients({ sts });

    expect(stsClient()).toBe(sts);
  });
});
