/**
 * Bundles one handler: `node --import tsx lib/infra/bundle-handler.ts <entry.ts> <outdir>` writes
 * `<outdir>/index.js`. Run as a child process by the stack's asset bundling (lib/infra/debug-function.ts):
 * CDK bundles synchronously, and esbuild runs plugins only in its asynchronous API.
 */
import { join } from 'node:path';
import { build } from 'esbuild';
import { handlerBuildOptions } from './handler-bundling';

async function main(entry: string | undefined, outdir: string | undefined): Promise<void> {
  if (!entry || !outdir) throw new Error('usage: bundle-handler.ts <entry.ts> <outdir>');
  await build(handlerBuildOptions(entry, join(outdir, 'index.js')));
}

main(process.argv[2], process.argv[3]).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
