#!/usr/bin/env node
// The CLI's entry as npm links it (package.json "bin"): plain CommonJS, committed with its executable
// bit, so neither `npx debug-task` nor a global install depends on what a build left behind. It runs
// the compiled CLI (dist/, built by `npm ci` in a clone, shipped in the package): its start bundled
// into one file (scripts/bundle-cli.cjs), the commands as tsc built them. Before a build it says
// what to run instead of failing somewhere inside npx.
'use strict';
const { existsSync } = require('node:fs');
const module_ = require('node:module');
const { join } = require('node:path');

// Node 22.1+ keeps the compiled code of what it loads in a cache on disk (in the OS's temp dir), so
// a later start skips compiling it again; Node 20 has no such cache, and this does nothing there.
module_.enableCompileCache?.();

const root = join(__dirname, '..');
const entry = join(root, 'dist', 'cli', 'debug-task.js');
if (!existsSync(entry)) {
  process.stderr.write(
    `debug-task is not built yet: run \`npm ci\` in ${root} first (it installs the dependencies and builds dist/).\n`,
  );
  process.exit(1);
}
require(entry);
