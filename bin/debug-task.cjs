#!/usr/bin/env node
// The CLI's entry as npm links it (package.json "bin"): plain CommonJS, committed with its executable
// bit, so neither `npx debug-task` nor a global install depends on what a build left behind. It runs
// the compiled CLI (dist/, built by `npm ci` in a clone, shipped in the package); before a build it
// says what to run instead of failing somewhere inside npx.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const entry = join(root, 'dist', 'bin', 'debug-task.js');
if (!existsSync(entry)) {
  process.stderr.write(
    `debug-task is not built yet: run \`npm ci\` in ${root} first (it installs the dependencies and builds dist/).\n`,
  );
  process.exit(1);
}
require(entry);
