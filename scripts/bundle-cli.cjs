// The CLI as a few files: its start, dist/cli/debug-task.js, which bin/debug-task.cjs runs, and the
// commands that talk to the API, dist/cli/commands/{run,sessions}.js, which the start requires when one
// of them is chosen. Part of `npm run build` and of `prepare` (after tsc has built dist/).
//
// Why: every start pays for what `--help` loads before any command runs. As tsc emits it, that is
// 14 modules, each resolved and read on its own (commander's 7, the CLI's 5), and commander's
// `require('node:child_process')` at its top, which loads node's child_process, net and stream
// internals (~5-7 ms of CPU here) for the executable subcommands debug-task does not have.
// And a session pays, before its first request, for ~150 files as tsc and npm ship them: 40 of the
// CLI's own, zod's CommonJS build with all of its ~50 locales (93 files), the signer's @smithy/core
// (BENCHMARKS.md, "The CLI's own share of a session").
//
// What the start bundles: the entry, the command declarations (lib/cli/main.ts, lib/cli/options.ts)
// and commander, whose child_process is required on first use instead. The commands keep their lazy
// `import()`: a session's start pays for none of `--help`'s choices, `--help` for no command.
//
// What a command's bundle holds: the command and everything it imports, packages included, from
// their ES module builds (`mainFields`: esbuild keeps only what is used: zod/mini with its English
// locale, the signer without the rest of @smithy/core), except
// - the modules the start already loaded (output.ts, domain/errors.ts, ...): required from dist/lib,
//   where the start required them, so each exists once (DebugTaskError's `instanceof`, which decides
//   the exit code, holds across the bundles);
// - what a command loads only when used (the SDK's credential chain, CloudFormation's client):
//   required from node_modules then, as before.
// Every other command (tools, doctor, local, demo, sandbox) stays the module tsc built in dist/lib: the
// sandbox's code never enters a bundle the session commands load.
'use strict';
const { basename, dirname, join, relative, resolve } = require('node:path');

const root = join(__dirname, '..');
const outfile = join(root, 'dist', 'cli', 'debug-task.js');
/** Sources bundled into the entry; any other relative import is the module tsc built, or a command's bundle. */
const BUNDLED = new Set(['bin/debug-task.ts', 'lib/cli/main.ts', 'lib/cli/options.ts']);
/** Commands bundled on their own (sources without .ts): what a session and its follow-ups run. */
const COMMANDS = ['lib/cli/commands/run', 'lib/cli/commands/sessions'];
/**
 * Packages a command loads only when used (`import()`), required from node_modules: CloudFormation's
 * client (the API's URL from the stack) and the SDK's credential chain. The chain loads each of its
 * links past the environment's keys (ini, sso, process, ...) from its own dependencies, which a bundle
 * could only require by name from the package's top level, where npm does not promise to put them
 * (bundling them all instead: a 930 KB run.js). Its first link, the environment's keys, is not
 * loaded at all when it would decide: lib/client/env-credentials.ts reads the keys itself.
 */
const LOADED_WHEN_USED = ['@aws-sdk/client-*', '@aws-sdk/credential-provider-node'];

/** Where every command's bundle goes, as `<name>.js`: one build writes them all. */
const commandsDir = join(root, 'dist', 'cli', 'commands');

function commandOutfile(source) {
  return join(commandsDir, `${basename(source)}.js`);
}

/** `target` as a require() from the file `from`. */
function requirePath(from, target) {
  const path = relative(dirname(from), target);
  return path.startsWith('.') ? path : `./${path}`;
}

/** A relative import of our own sources (not a package's own files), as a path under root without .ts. */
function ownSource(args) {
  if (/[\\/]node_modules[\\/]/.test(args.importer)) return undefined; // commander's own files, ...
  return relative(root, resolve(args.resolveDir, args.path));
}

/**
 * The entry's relative imports outside BUNDLED: a command with a bundle is required from it, anything
 * else from dist/ at run time, as tsc built it; those the entry loads at its start go into `shared`.
 */
function builtModules(shared) {
  return {
    name: 'built-modules',
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        const source = ownSource(args);
        if (source === undefined || BUNDLED.has(`${source}.ts`)) return undefined;
        if (COMMANDS.includes(source))
          return { path: requirePath(outfile, commandOutfile(source)), external: true };
        // What it loads at its start (a command it loads when chosen, in its own `import()`, is not).
        if (args.kind !== 'dynamic-import') shared.add(source);
        return { path: requirePath(outfile, join(root, 'dist', `${source}.js`)), external: true };
      });
    },
  };
}

/**
 * A command bundle's imports of a module the entry loaded (`shared`): required from dist/, as the
 * entry does (the same path from every bundle: they share commandsDir).
 */
function sharedWithEntry(shared) {
  const anyBundle = commandOutfile(COMMANDS[0]);
  return {
    name: 'shared-with-entry',
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        const source = ownSource(args);
        if (source === undefined || !shared.has(source)) return undefined;
        return { path: requirePath(anyBundle, join(root, 'dist', `${source}.js`)), external: true };
      });
    },
  };
}

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

const COMMON = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // An `import()` becomes a require (of the module tsc built, a command's bundle, a package): node's
  // ESM loader stays unloaded.
  supported: { 'dynamic-import': false },
  logLevel: 'warning',
};

async function main() {
  const esbuild = require('esbuild');
  const shared = new Set();
  await esbuild.build({
    ...COMMON,
    entryPoints: [join(root, 'bin', 'debug-task.ts')],
    outfile,
    plugins: [builtModules(shared), lazyChildProcess],
  });
  // With what those modules import in turn (they load it from dist/ too): each of those must stay
  // one module as well, not a second copy inside a command's bundle.
  const closure = await esbuild.build({
    entryPoints: [...shared].map((source) => join(root, `${source}.ts`)),
    absWorkingDir: root,
    outdir: join(root, 'dist', 'cli', 'shared-closure'), // nothing is written
    write: false,
    metafile: true,
    bundle: true,
    platform: 'node',
    packages: 'external',
    logLevel: 'warning',
  });
  for (const input of Object.keys(closure.metafile.inputs)) {
    if (input.endsWith('.ts')) shared.add(input.slice(0, -'.ts'.length));
  }
  // One build for all the commands: a bundle each (no splitting), named after its source.
  await esbuild.build({
    ...COMMON,
    entryPoints: COMMANDS.map((source) => ({ in: join(root, `${source}.ts`), out: basename(source) })),
    outdir: commandsDir,
    // The packages' ES module builds, which esbuild can trim to what is used (their CommonJS builds
    // cannot be: zod's would bring every locale).
    mainFields: ['module', 'main'],
    external: LOADED_WHEN_USED,
    plugins: [sharedWithEntry(shared)],
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
