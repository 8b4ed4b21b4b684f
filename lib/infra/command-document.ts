import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aws, Fn, Stack, Stage, Token } from 'aws-cdk-lib';
import type { ILogGroup } from 'aws-cdk-lib/aws-logs';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { CfnDocument } from 'aws-cdk-lib/aws-ssm';
import { AwsCustomResource, AwsCustomResourcePolicy, PhysicalResourceId } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { createHash } from 'node:crypto';
import { deploymentImagePattern, deploymentUrlPattern, regexLiteral } from '../domain/params';
import { buildCommandDocument, buildRunnerScript, runnerSha256 } from '../host/runner-script';
import type { SandboxHost } from './stack-props';

/** The toolbox image the document admits: a repository (regular expression) at a digest. */
export interface ToolboxImagePattern {
  /** The repository as a regular expression (CloudFormation functions where it holds tokens). */
  readonly repository: string;
  /** `sha256:<64 hex>`, possibly a token resolved at deploy time. */
  readonly digest: string;
}

export interface CommandDocumentProps {
  /** Role of the deploy-time read of the version (the custom resources' function). */
  readonly role: IRole;
  /** Log group of the custom resources' function (encrypted, retained like the others). */
  readonly logGroup: ILogGroup;
  /** The artifact bucket: uploadUrl, manifestUrl, planUrl and chunkUrl admit only its endpoint. */
  readonly bucket: IBucket;
  /** The toolbox image: `image` admits only it. */
  readonly toolbox: ToolboxImagePattern;
  /** The local sandbox's loopback endpoint and image, admitted instead (the sandbox only). */
  readonly sandboxHost?: SandboxHost;
}

/**
 * Our SSM command document: a short bootstrap that fetches the runner file (shipped as an S3
 * asset of the stack), checks its sha256, caches it on the host and runs it
 * (lib/host/runner-script.ts builds it), with the parameters of lib/domain/params.ts narrowed to
 * this deployment: the toolbox image by digest, URLs to this deployment's buckets over HTTPS.
 *
 * A narrow document of our own instead of AWS-RunShellScript: SendCommand is granted on this
 * document only, so the functions can run the runner as root on a host and nothing else. Every
 * SendCommand names the version (and hash) this deployment created (`version`, `hash`).
 */
export class CommandDocument extends Construct {
  /** The document's name (CloudFormation generates it): `DOCUMENT_NAME` of the functions. */
  public readonly documentName: string;
  /** `arn:<partition>:ssm:<region>:<account>:document/<name>`, for IAM. */
  public readonly documentArn: string;
  /** The version this deployment created (`DOCUMENT_VERSION`), read back right after it was made. */
  public readonly version: string;
  /** Its sha256, as SSM computed it (`DOCUMENT_HASH`). */
  public readonly hash: string;
  /** The runner file the document names by sha256: `RUNNER_BUCKET`/`RUNNER_KEY` of the functions. */
  public readonly runner: RunnerFile;

  constructor(scope: Construct, id: string, props: CommandDocumentProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.runner = new RunnerFile(this, 'Runner');

    const sandbox = props.sandboxHost;
    const artifactEndpoint = sandbox
      ? regexLiteral(`${sandbox.s3Endpoint}/${sandbox.bucket}/`)
      : `https://${s3Host(props.bucket.bucketName)}/`;
    const runnerEndpoint = sandbox
      ? regexLiteral(`${sandbox.s3Endpoint}/${sandbox.bucket}/`)
      : `https://${s3Host(this.runner.bucketName)}/${regexLiteral(this.runner.objectKey)}\\?`;
    const content = buildCommandDocument({
      runnerSha256: this.runner.sha256,
      fetchProtocols: sandbox ? 'http' : 'https',
      patterns: {
        image: sandbox
          ? deploymentImagePattern({ exactImage: regexLiteral(sandbox.toolboxImage) })
          : deploymentImagePattern(props.toolbox),
        uploadUrl: deploymentUrlPattern([artifactEndpoint]),
        manifestUrl: deploymentUrlPattern([artifactEndpoint]),
        planUrl: deploymentUrlPattern([artifactEndpoint]),
        chunkUrl: deploymentUrlPattern([artifactEndpoint]),
        runnerUrl: deploymentUrlPattern([runnerEndpoint]),
      },
    });

    const document = new CfnDocument(this, 'Resource', {
      documentType: 'Command',
      documentFormat: 'JSON',
      content,
      // Add a version instead of replacing (the default): the name, hence DOCUMENT_NAME and the IAM
      // grants, stays the same across runner changes, and commands already running keep their
      // version. Which version runs is not left to $DEFAULT or $LATEST: see `pin` below.
      updateMethod: 'NewVersion',
    });

    this.documentName = document.ref;
    this.documentArn = stack.formatArn({
      service: 'ssm',
      resource: 'document',
      resourceName: document.ref,
    });

    // The version CloudFormation just created, and its hash, read once per change of the content
    // (the physical id carries the content's fingerprint, so a new content is a new read) and
    // handed to the functions: a version added later by hand is never run.
    const pin = new AwsCustomResource(this, 'PinnedVersion', {
      onUpdate: {
        service: 'SSM',
        action: 'describeDocument',
        parameters: { Name: document.ref, DocumentVersion: '$LATEST' },
        // Values resolved at deploy time (the image's digest, the buckets) change the content
        // without changing its template form: they are part of the id too.
        physicalResourceId: PhysicalResourceId.of(
          [
            contentFingerprint(stack, content),
            sandbox ? 'sandbox' : props.toolbox.digest,
            props.bucket.bucketName,
            this.runner.objectKey,
          ].join('|'),
        ),
        outputPaths: ['Document.DocumentVersion', 'Document.Hash'],
      },
      policy: AwsCustomResourcePolicy.fromSdkCalls({ resources: [this.documentArn] }),
      role: props.role,
      logGroup: props.logGroup,
      installLatestAwsSdk: false,
    });
    pin.node.addDependency(document);
    this.version = pin.getResponseField('Document.DocumentVersion');
    this.hash = pin.getResponseField('Document.Hash');
  }
}

/**
 * The runner file as hosts run it, shipped as an S3 asset of the stack (the CDK bootstrap's asset
 * bucket; `cdk deploy` uploads it). Its sha256 is written in the document.
 */
export class RunnerFile extends Construct {
  public readonly asset: Asset;
  public readonly sha256: string;
  public readonly bucketName: string;
  public readonly objectKey: string;
  /** The one object the senders may read (to presign the runner's URL). */
  public readonly objectArn: string;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const script = buildRunnerScript();
    this.sha256 = runnerSha256(script);
    // A directory per hash: the asset's content (and so its hash and key) is the runner alone. It
    // is made inside the cloud assembly's folder, so it goes with it (a temporary folder outlived
    // every synth, the demo's included).
    const dir = join(Stage.of(this)?.outdir ?? tmpdir(), `debug-task-runner-${this.sha256}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'debug-task-runner.sh'), script);
    this.asset = new Asset(this, 'Asset', {
      path: join(dir, 'debug-task-runner.sh'),
      displayName: 'debug-task host runner',
    });
    this.bucketName = this.asset.s3BucketName;
    this.objectKey = this.asset.s3ObjectKey;
    this.objectArn = Stack.of(this).formatArn({
      service: 's3',
      region: '',
      account: '',
      resource: this.bucketName,
      resourceName: this.objectKey,
    });
  }
}

/**
 * `<bucket>.s3.<region>.<url suffix>` as a regular expression, the host of the presigned URLs the
 * SDK makes for a bucket (virtual-hosted style). Names known only at deploy time are escaped by
 * CloudFormation itself (split at dots, joined with `\.`).
 */
function s3Host(bucketName: string): string {
  return [escapeDots(bucketName), 's3', escapeDots(Aws.REGION), escapeDots(Aws.URL_SUFFIX)].join('\\.');
}

function escapeDots(value: string): string {
  if (!Token.isUnresolved(value)) return regexLiteral(value);
  return Fn.join('\\.', Fn.split('.', value));
}

/** A fingerprint of the document's content, tokens included (their CloudFormation form). */
function contentFingerprint(stack: Stack, content: unknown): string {
  const resolved = JSON.stringify(stack.resolve(content));
  return `debug-task-document-${createHash('sha256').update(resolved).digest('hex').slice(0, 32)}`;
}
