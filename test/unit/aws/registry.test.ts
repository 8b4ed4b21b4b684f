import { ECSClient } from '@aws-sdk/client-ecs';
import { S3Client } from '@aws-sdk/client-s3';
import { STSClient } from '@aws-sdk/client-sts';
import { ecsClient } from '../../../lib/aws/ecs';
import { resetAwsClients, setAwsClients, sharedClient } from '../../../lib/aws/registry';
import { presigningS3Client, s3Client } from '../../../lib/aws/s3';
import { sfnClient } from '../../../lib/aws/sfn';
import { ssmClient } from '../../../lib/aws/ssm';
import { stsClient } from '../../../lib/aws/sts';
import { useAwsMocks } from '../../support/aws';

useAwsMocks();

describe('the client registry', () => {
  it('creates each client once, on first use, and reuses it', () => {
    const make = jest.fn(() => new ECSClient({}));

    const first = sharedClient('ecs', make);
    const second = sharedClient('ecs', make);

    expect(first).toBe(second);
    expect(make).toHaveBeenCalledTimes(1);
    expect(ecsClient()).toBe(ecsClient());
    expect(ssmClient()).toBe(ssmClient());
    expect(s3Client()).toBe(s3Client());
    expect(stsClient()).toBe(stsClient());
    expect(sfnClient()).toBe(sfnClient());
  });

  it('uses injected clients instead of creating its own, and makes the others as usual', () => {
    const ecs = new ECSClient({ region: 'xx-test-1' });
    const s3 = new S3Client({ region: 'xx-test-1' });
    const sts = new STSClient({ region: 'xx-test-1' });

    setAwsClients({ ecs, s3, sts });

    expect(ecsClient()).toBe(ecs);
    expect(s3Client()).toBe(s3);
    expect(stsClient()).toBe(sts);
    expect(ssmClient()).not.toBe(ecs);
  });

  it('forgets every client on reset, so the next one reads the environment of that moment', () => {
    const before = s3Client();
    expect(before.config.forcePathStyle).toBe(false);

    process.env.AWS_S3_FORCE_PATH_STYLE = 'true';
    resetAwsClients();

    expect(s3Client()).not.toBe(before);
    expect(s3Client().config.forcePathStyle).toBe(true);
  });

  it('takes the region from the standard environment', async () => {
    await expect(ecsClient().config.region()).resolves.toBe('xx-test-1');
    await expect(sfnClient().config.region()).resolves.toBe('xx-test-1');
  });

  it('computes S3 request checksums only when required, so presigned PUTs carry no empty-body CRC32', async () => {
    await expect(s3Client().config.requestChecksumCalculation()).resolves.toBe('WHEN_REQUIRED');
  });
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
