import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './proc';
import type { SuiteContext } from './context';

/** The built CLI (`npm run build`): what a user installs, not tsx. */
export const ROOT = join(__dirname, '..', '..');
export const BUILT_CLI = join(ROOT, 'bin', 'debug-task.cjs');
/** What BUILT_CLI runs: the CLI's start bundled by `npm run build` (scripts/bundle-cli.cjs). */
const BUNDLED_CLI = join(ROOT, 'dist', 'cli', 'debug-task.js');

/**
 * What `npm run build` makes the CLI from besides the .ts sources under bin/ and lib/: the bundler's
 * script, the compiler's settings, and the packages bundled into it (their versions).
 */
const BUILD_INPUTS = [
  'scripts/bundle-cli.cjs',
  'tsconfig.json',
  'tsconfig.build.json',
  'package.json',
  'package-lock.json',
];

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** The mtime of the newest input of the CLI's build under `root` (0 when there is none). */
export function newestBuildInput(root = ROOT): number {
  const inputs = BUILD_INPUTS.map((file) => join(root, file)).filter((path) => existsSync(path));
  return Math.max(
    newestSource(join(root, 'bin')),
    newestSource(join(root, 'lib')),
    ...inputs.map((path) => statSync(path).mtimeMs),
  );
}

let built: Promise<void> | undefined;

/** Runs `npm run build` (tsc, then the CLI's bundle) when dist/ is missing or older than an input. */
export function ensureBuiltCli(ctx: SuiteContext): Promise<void> {
  built ??= (async () => {
    if (existsSync(BUNDLED_CLI) && statSync(BUNDLED_CLI).mtimeMs >= newestBuildInput()) return;
    ctx.log('  building the CLI (npm run build)...');
    const result = await run('npx', ['--no-install', 'tsc', '-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      timeoutMs: 300_000,
      allowFailure: true,
    });
    // tsc emits even with type errors (someone else's work in progress); only a missing CLI is fatal.
    if (result.code !== 0)
      ctx.log(`  warning: tsc reported errors; measuring what it emitted:\n${result.stdout.slice(-800)}`);
    const bundle = await run(process.execPath, [join(ROOT, 'scripts', 'bundle-cli.cjs')], {
      cwd: ROOT,
      timeoutMs: 120_000,
      allowFailure: true,
    });
    if (bundle.code !== 0 || !existsSync(BUNDLED_CLI))
      throw new Error(
        `npm run build produced no ${BUNDLED_CLI}:\n${result.stdout.slice(-2000)}${bundle.stderr.slice(-2000)}`,
      );
  })();
  return built;
}

/**
 * The built CLI's environment against a sandbox: it signs as the sandbox API's owner principal
 * (process.env holds the key the stand-ins accept, which the API does not know: it would answer 403).
 */
export function sandboxCliEnv(credentials: {
  accessKeyId: string;
  secretAccessKey: string;
}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}
