// npm's `prepare`: builds dist/ with TypeScript, then the CLI's entry (scripts/bundle-cli.cjs), after
// `npm ci` in a clone and before `npm pack`.
//
// npm also runs it when `npx debug-task` links this folder into its cache, which can happen before
// `npm ci`, with no TypeScript installed. A failing prepare there leaves npx's cache entry for the
// name broken (every later `npx debug-task` then fails with ENOENT on its package.json), so without
// TypeScript this says so and succeeds: the CLI's entry (bin/debug-task.cjs) then tells what to run.
'use strict';
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..');
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
} catch {
  console.error('debug-task: TypeScript is not installed yet, so nothing was built; run `npm ci` to build.');
  process.exit(0);
}
const build = spawnSync(process.execPath, [tsc, '-b', join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
});
if (build.status !== 0) process.exit(build.status ?? 1);
// The CLI's start as one file (esbuild, installed with TypeScript): what bin/debug-task.cjs runs.
const bundle = spawnSync(process.execPath, [join(__dirname, 'bundle-cli.cjs')], { stdio: 'inherit' });
process.exit(bundle.status ?? 1);
