/**
 * Run by `npm pack` (prepack): bundles every handler into dist/bundles/<name>/index.js, what an
 * installed package deploys (it ships no handler sources: lib/infra/debug-function.ts).
 *
 * The bundles are made by synthesizing the stack itself with bundling on and keeping each function's
 * asset: the same bundling (lib/infra/handler-bundling.ts) as `npx cdk deploy` from a clone, so the two cannot drift.
 * Usage: tsx scripts/bundle-lambdas.ts
 */
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { DebugTaskStack } from '../lib/infra/debug-task-stack';
import { HANDLER_METADATA_KEY, HANDLER_NAMES } from '../lib/infra/handlers';
import { BUNDLES_DIR, LAMBDA_DIR } from '../lib/infra/paths';

interface FunctionResource {
  Type: string;
  Metadata?: Record<string, unknown>;
  Properties?: { Code?: { S3Key?: unknown } };
}

function main(): void {
  if (!existsSync(LAMBDA_DIR)) throw new Error(`No handler sources in ${LAMBDA_DIR}: bundle from a clone.`);
  const outdir = mkdtempSync(join(tmpdir(), 'debug-task-bundles-'));
  try {
    const app = new App({ outdir });
    // A pinned image: the toolbox is not what is bundled here, and its asset would only be copied.
    const stack = new DebugTaskStack(app, 'DebugTask', {
      toolboxImage: `000000000000.dkr.ecr.xx-pack-1.amazonaws.com/toolbox@sha256:${'0'.repeat(64)}`,
    });
    const template = app.synth().getStackArtifact(stack.artifactId).template as {
      Resources: Record<string, FunctionResource>;
    };
    rmSync(BUNDLES_DIR, { recursive: true, force: true });
    const bundled: string[] = [];
    for (const resource of Object.values(template.Resources)) {
      const handler = resource.Metadata?.[HANDLER_METADATA_KEY];
      if (resource.Type !== 'AWS::Lambda::Function' || typeof handler !== 'string') continue;
      const key = resource.Properties?.Code?.S3Key;
      const hash = typeof key === 'string' ? /^([0-9a-f]{64})\.zip$/.exec(key)?.[1] : undefined;
      const asset = hash && join(outdir, `asset.${hash}`);
      if (!asset || !existsSync(join(asset, 'index.js'))) {
        throw new Error(`The ${handler} function has no bundled asset (Code.S3Key ${JSON.stringify(key)}).`);
      }
      cpSync(asset, join(BUNDLES_DIR, handler), { recursive: true });
      bundled.push(handler);
    }
    const missing = HANDLER_NAMES.filter((name) => !bundled.includes(name));
    if (missing.length > 0) throw new Error(`No bundle for ${missing.join(', ')}.`);
    console.error(`bundled ${bundled.length} handlers into ${BUNDLES_DIR}`);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

main();
