import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from './nag';

/** Every object of a session lives under this prefix (`sessionKeys` in lib/domain/session.ts). */
export const SESSIONS_PREFIX = 'sessions/';

export interface ArtifactBucketProps {
  /** Days after which a session's objects (artifact, manifest, cancel marker) are deleted. */
  readonly retentionDays: number;
}

/**
 * Where hosts upload captures (through presigned URLs) and where the CLI downloads them from.
 *
 * Captures can hold payloads of production traffic, so: private, TLS only, encrypted, and short-lived.
 */
export class ArtifactBucket extends Construct {
  public readonly bucket: Bucket;

  constructor(scope: Construct, id: string, props: ArtifactBucketProps) {
    super(scope, id);

    this.bucket = new Bucket(this, 'Resource', {
      // SSE-S3: presigned PUTs from hosts need no KMS permission and no extra headers.
      encryption: BucketEncryption.S3_MANAGED,
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
