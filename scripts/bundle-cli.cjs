// The CLI's start as one file: dist/cli/debug-task.js, which bin/debug-task.cjs runs. Part of
// `npm run build` and of `prepare` (after tsc has built dist/).
//
// Why: every start pays for what `--help` loads before any command runs. As tsc emits it, that is
// 14 modules, each resolved and read on its own (commander's 7, the CLI's 5), and commander's
// `require('node:child_process')` at its top, which loads node's child_process, net and stream
// internals (~5-7 ms of CPU here) for the executable subcommands debug-task does not have.
//
// What is bundled: the entry, the command declarations (lib/cli/main.ts, lib/cli/options.ts) and
// commander, whose child_process is required on first use instead. Everything else stays the module
// tsc built in dist/lib, required from there: the commands keep their lazy `import()` (a session's
// start pays for none of `--help`'s choices, `--help` for no command), and a module the commands
// share with the entry (output.ts, domain/errors.ts: DebugTaskError's `instanceof`) exists once.
'use strict';
const { dirname, join, relative, resolve } = require('node:path');

const root = join(__dirname, '..');
const outfile = join(root, 'dist', 'cli', 'debug-task.js');
/** Sources bundled into the entry; any other relative import is the module tsc built. */
const BUNDLED = new Set(['bin/debug-task.ts', 'lib/cli/main.ts', 'lib/cli/options.ts']);

/** Relative imports outside BUNDLED: required from dist/ at run time, as tsc built them. */
const builtModules = {
  name: 'built-modules',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (/[\\/]node_modules[\\/]/.test(args.importer)) return undefined; // commander's own files
      const source = relative(root, resolve(args.resolveDir, args.path));
      if (BUNDLED.has(`${source}.ts`)) return undefined;
      const built = relative(dirname(outfile), join(root, 'dist', `${source}.js`));
      return { path: built.startsWith('.') ? built : `./${built}`, external: true };
    });
  },
};

/** commander's child_process, loaded when it is first used (only for executable subcommands). */
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(build) {
    build.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer)
        ? { path: 'child_process', namespace: 'lazy-child-process' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-child-process' }, () => ({
      contents: [
        'let loaded;',
        'module.exports = new Proxy({}, {',
        "  get: (_target, key) => (loaded ??= require('node:child_process'))[key],",
        '});',
      ].join('\n'),
      loader: 'js',
    }));
  },
};

async function main() {
  const esbuild = require('esbuild');
  await esbuild.build({
    entryPoints: [join(root, 'bin', 'debug-task.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // A command's `import()` becomes a require of the module tsc built: node's ESM loader stays unloaded.
    supported: { 'dynamic-import': false },
    plugins: [builtModules, lazyChildProcess],
    logLevel: 'warning',
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
