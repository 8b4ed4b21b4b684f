import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { chunkSeqOf } from '../../lib/domain/follow';
import { sessionKeys } from '../../lib/domain/session';
import { startS3, type S3StandIn } from '../../lib/sandbox/s3';
import { uploadPresigner } from '../../lib/session/upload';

/** What `useFollowChunks` gives a test file: the sandbox's S3 and a child's --follow chunks in it. */
export interface FollowChunks {
  readonly s3: S3StandIn;
  /** The child's chunk form (presigned POST), signed as Launch signs it. */
  chunkForm(childId: string): Promise<string>;
  /** The child's chunks as listed (key order is seq order): key, seq, size. */
  listed(childId: string): Promise<{ key: string; seq: number; size: number }[]>;
  /** The child's chunks read back: their seqs, their sizes as read, and their bytes joined. */
  read(childId: string): Promise<{ seqs: number[]; sizes: number[]; bytes: Buffer }>;
}

/**
 * The sandbox's S3 (s3rver, on loopback) for --follow tests: started before the file's tests with
 * `bucket`, the presigner pointed at it (AWS_ENDPOINT_URL_S3), stopped after them. Call at the top
 * level of a test file.
 */
export function useFollowChunks(bucket: string): FollowChunks {
  let s3: S3StandIn | undefined;
  let client: S3Client | undefined;
  beforeAll(async () => {
    s3 = await startS3({ bucket });
    process.env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
    process.env.AWS_S3_FORCE_PATH_STYLE = 'true';
    client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true });
  });
  afterAll(async () => {
    client?.destroy();
    await s3?.stop();
    delete process.env.AWS_ENDPOINT_URL_S3;
    delete process.env.AWS_S3_FORCE_PATH_STYLE;
  });

  const started = () => {
    if (!s3 || !client) throw new Error('The S3 stand-in is not started: use it inside a test.');
    return { s3, client };
  };
  const listed: FollowChunks['listed'] = async (childId) => {
    const { s3: store, client: s3Client } = started();
    const prefix = sessionKeys.childChunks(childId);
    const listing = await s3Client.send(new ListObjectsV2Command({ Bucket: store.bucket, Prefix: prefix }));
    return (listing.Contents ?? []).map((o) => ({
      key: o.Key!,
      seq: chunkSeqOf(prefix, o.Key!)!,
      size: o.Size ?? 0,
    }));
  };
  return {
    get s3() {
      return started().s3;
    },
    async chunkForm(childId) {
      const presigner = uploadPresigner({
        accessKeyId: 'AKIATESTFOLLOW000000',
        secretAccessKey: 'not-checked',
        sessionToken: 'session-token-of-the-upload-role',
        expiration: new Date(Date.now() + 3_600_000),
      });
      try {
        return await presigner.presignChunks(started().s3.bucket, sessionKeys.childChunks(childId), 900);
      } finally {
        presigner.destroy();
      }
    },
    listed,
    async read(childId) {
      const { s3: store, client: s3Client } = started();
      const chunks = await listed(childId);
      const parts: Buffer[] = [];
      for (const { key } of chunks) {
        const got = await s3Client.send(new GetObjectCommand({ Bucket: store.bucket, Key: key }));
        parts.push(Buffer.from(await got.Body!.transformToByteArray()));
      }
      return {
        seqs: chunks.map((c) => c.seq),
        sizes: parts.map((p) => p.length),
        bytes: Buffer.concat(parts),
      };
    },
  };
}
