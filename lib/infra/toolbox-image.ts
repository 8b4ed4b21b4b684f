import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { Construct } from 'constructs';
import type { DebugTaskSettings } from './stack-props';

export interface ToolboxImageProps {
  readonly toolbox: DebugTaskSettings['toolbox'];
}

/**
 * The toolbox image reference given to hosts (`TOOLBOX_IMAGE`): either the pinned image of the
 * props, or a Docker image asset built from the toolbox Dockerfile.
 *
 * Synthesis only copies the build context into the cloud assembly and hashes it; `cdk deploy`
 * builds and pushes it. So `cdk synth` needs no Docker engine, and the tag is the content hash:
 * a changed Dockerfile is a new tag, an unchanged one is the same image.
 */
export class ToolboxImage extends Construct {
  public readonly imageUri: string;

  constructor(scope: Construct, id: string, props: ToolboxImageProps) {
    super(scope, id);
    const { toolbox } = props;

    if ('image' in toolbox) {
      this.imageUri = toolbox.image;
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
    this.imageUri = asset.imageUri;
  }
}
