import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Fn, Stack, Token } from 'aws-cdk-lib';
import type { ILogGroup } from 'aws-cdk-lib/aws-logs';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import { AwsCustomResource, AwsCustomResourcePolicy, PhysicalResourceId } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { regexLiteral } from '../domain/params';
import type { ToolboxImagePattern } from './command-document';
import type { DebugTaskSettings } from './stack-props';

export interface ToolboxImageProps {
  readonly toolbox: DebugTaskSettings['toolbox'];
  /** Role of the deploy-time read of the asset's digest (the custom resources' function). */
  readonly role: IRole;
  /** Log group of the custom resources' function (encrypted, retained like the others). */
  readonly logGroup: ILogGroup;
}

/**
 * The toolbox image given to hosts (`TOOLBOX_IMAGE`), always by digest: either the pinned image of
 * the props, or a Docker image asset built from the toolbox Dockerfile, whose digest is read from
 * ECR once `cdk deploy` has pushed it.
 *
 * Synthesis only copies the build context into the cloud assembly and hashes it; `cdk deploy`
 * builds and pushes it. So `cdk synth` needs no Docker engine. The asset's tag is its content
 * hash; hosts get the digest the registry gave that tag, so what they run cannot change under a tag.
 */
export class ToolboxImage extends Construct {
  /** `<repository>@sha256:<digest>`. */
  public readonly imageUri: string;
  /** What the SSM document's `image` pattern admits: this repository at this digest. */
  public readonly pattern: ToolboxImagePattern;
  /**
   * The ECR repository of the image, when it is one of this stack's account and region (the asset's,
   * or a pinned image there): `doctor --stack` looks the digest up in it. Undefined otherwise.
   */
  public readonly repositoryArn?: string;

  constructor(scope: Construct, id: string, props: ToolboxImageProps) {
    super(scope, id);
    const { toolbox } = props;

    if ('image' in toolbox) {
      this.imageUri = toolbox.image;
      this.pattern = splitReference(toolbox.image);
      this.repositoryArn = ecrRepositoryArn(Stack.of(this), toolbox.image);
      return;
    }
    if (!existsSync(join(toolbox.directory, 'Dockerfile'))) {
      throw new Error(
        `toolboxImage is not set and there is no Dockerfile in ${toolbox.directory}; set toolboxImage ` +
          "to an image pinned by digest, or point toolboxDirectory at the toolbox's Docker build context.",
      );
    }
    const asset = new DockerImageAsset(this, 'Asset', {
      directory: toolbox.directory,
      platform: toolbox.platform === 'linux/arm64' ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
      displayName: 'debug-task toolbox',
    });
    // The digest of the pushed asset, read from ECR at deploy time (the tag is the asset's hash, so
    // a new image is a new tag and a new read).
    const digest = new AwsCustomResource(this, 'Digest', {
      onUpdate: {
        service: 'ECR',
        action: 'describeImages',
        parameters: {
          repositoryName: asset.repository.repositoryName,
          imageIds: [{ imageTag: asset.imageTag }],
        },
        physicalResourceId: PhysicalResourceId.of(asset.imageTag),
        outputPaths: ['imageDetails.0.imageDigest'],
      },
      policy: AwsCustomResourcePolicy.fromSdkCalls({ resources: [asset.repository.repositoryArn] }),
      role: props.role,
      logGroup: props.logGroup,
      installLatestAwsSdk: false,
    }).getResponseField('imageDetails.0.imageDigest');
    this.imageUri = `${asset.repository.repositoryUri}@${digest}`;
    this.repositoryArn = asset.repository.repositoryArn;
    this.pattern = { repository: escapeDots(asset.repository.repositoryUri), digest };
  }
}

/**
 * The repository ARN of a pinned ECR image of the stack's own account and region (when the stack's
 * environment is not known at synth, an ECR image is taken to be in it: the grant is then on a
 * repository of the stack's account, harmless if the image is elsewhere). Undefined for any other.
 */
function ecrRepositoryArn(stack: Stack, image: string): string | undefined {
  if (Token.isUnresolved(image)) return undefined;
  const ecr = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([a-z0-9._/-]+)[@:]/.exec(image);
  if (!ecr) return undefined;
  const [, account, region, repository] = ecr;
  const mine = (value: string, stacks: string) => Token.isUnresolved(stacks) || value === stacks;
  if (!mine(account, stack.account) || !mine(region, stack.region)) return undefined;
  return stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: repository });
}

/** `repo@sha256:...` split into the pattern's parts; a deploy-time value is split by CloudFormation. */
function splitReference(image: string): ToolboxImagePattern {
  if (!Token.isUnresolved(image)) {
    const at = image.lastIndexOf('@');
    return { repository: regexLiteral(image.slice(0, at)), digest: image.slice(at + 1) };
  }
  const parts = Fn.split('@', image, 2);
  return { repository: escapeDots(Fn.select(0, parts)), digest: Fn.select(1, parts) };
}

/** Image repositories hold no regex character but the dot (ECR: [a-z0-9._/-], hosts, ports). */
function escapeDots(value: string): string {
  return Fn.join('\\.', Fn.split('.', value));
}
