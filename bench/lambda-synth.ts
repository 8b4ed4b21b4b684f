/**
 * Synthesizes the real DebugTask stack WITH bundling into `outdir`, so each function's bundle is
 * exactly what `cdk deploy` would upload (the stack's own esbuild options, whatever they are).
 * Run as a child process by bench/suites/lambda.ts (esbuild's progress goes to its stderr):
 *
 *   node --import tsx bench/lambda-synth.ts <outdir>
 *
 * Last stdout line: {"<handler>": "<path of its index.js>", ...}, keyed by the functions'
 * `debug-task:handler` metadata.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const HANDLER_METADATA_KEY = 'debug-task:handler';

interface Resource {
  Type: string;
  Properties?: { Code?: { S3Key?: unknown } };
  Metadata?: Record<string, unknown>;
}

function main(outdir: string): void {
  /* eslint-disable @typescript-eslint/no-require-imports -- aws-cdk-lib loads in seconds: only here */
  const { App } = require('aws-cdk-lib') as typeof import('aws-cdk-lib');
  const { DebugTaskStack } =
    require('../lib/infra/debug-task-stack') as typeof import('../lib/infra/debug-task-stack');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const app = new App({ outdir });
  const stack = new DebugTaskStack(app, 'DebugTask', {});
  const assembly = app.synth();
  const template = assembly.getStackArtifact(stack.artifactId).template as {
    Resources: Record<string, Resource>;
  };
  const bundles: Record<string, string> = {};
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const handler = resource.Metadata?.[HANDLER_METADATA_KEY];
    const key = resource.Properties?.Code?.S3Key;
    if (typeof handler !== 'string' || typeof key !== 'string') continue;
    const file = join(outdir, `asset.${key.replace(/\.zip$/, '')}`, 'index.js');
    if (!existsSync(file)) throw new Error(`no bundle for ${handler} at ${file}`);
    bundles[handler] = file;
  }
  if (Object.keys(bundles).length === 0) throw new Error('the synthesized stack has no bundled function');
  process.stdout.write(`${JSON.stringify(bundles)}\n`);
}

main(process.argv[2] ?? '');
