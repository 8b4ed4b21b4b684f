import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from './nag';

/** Every object of a session lives under this prefix (`sessionKeys` in lib/domain/session.ts). */
export const SESSIONS_PREFIX = 'sessions/';

export interface ArtifactBucketProps {
  /** Days after which a session's objects (artifact, manifest, cancel marker) are deleted. */
  readonly retentionDays: number;
  /**
   * The stack's artifact key (lib/infra/stack-keys.ts): every object is encrypted with it by default,
   * so only the roles its key policy names can read one, whatever their S3 permissions.
   */
  readonly encryptionKey: IKey;
}

/**
 * Where hosts upload captures (through presigned URLs) and where the CLI downloads them from.
 *
 * Captures can hold payloads of production traffic, so: private, TLS only, encrypted with a key only
 * the stack's roles may use, and short-lived (the audit log keeps who did what for longer).
 */
export class ArtifactBucket extends Construct {
  public readonly bucket: Bucket;

  constructor(scope: Construct, id: string, props: ArtifactBucketProps) {
    super(scope, id);

    this.bucket = new Bucket(this, 'Resource', {
      // SSE-KMS by default: the hosts' presigned PUTs send no encryption header and are still
      // encrypted with the stack's key (the signer, the upload role's session, needs
      // kms:GenerateDataKey: lib/domain/upload.ts). Plans, manifests and records likewise.
      encryption: BucketEncryption.KMS,
      encryptionKey: props.encryptionKey,
      // S3 Bucket Key: S3 asks KMS for a bucket-level key now and then instead of a data key per
      // object (KMS request costs and throttling of a large fleet's uploads).
      bucketKeyEnabled: true,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Each key is written once per session; old versions would only outlive the retention.
      versioned: false,
      lifecycleRules: [
        { id: 'expire-sessions', prefix: SESSIONS_PREFIX, expiration: Duration.days(props.retentionDays) },
        // A host that dies mid-upload leaves parts that are billed and never listed.
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      // RETAIN: a capture may be evidence of an incident; deleting the stack must not delete it.
      // The lifecycle rule empties the bucket within the retention anyway.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    acknowledge(
      this.bucket,
      'Objects are written only through presigned PUTs minted by launch and read through presigned ' +
        'GETs minted by api, each tied to a session whose StartExecution and SendCommand CloudTrail ' +
        'records; object-level audit, if required, belongs in CloudTrail S3 data events, not a log bucket.',
      'AwsSolutions-S1',
    );
  }
}
