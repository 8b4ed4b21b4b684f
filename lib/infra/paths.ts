import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The package root (the directory holding package.json), found from this file's location so that
 * the stack resolves `lambda/` and `toolbox/` the same way whether it runs from `lib/infra` (tsx,
 * jest) or from `dist/lib/infra`, and whatever the current working directory is.
 */
function findProjectRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(
        `debug-task: no package.json above ${start}; the stack must run from inside the package.`,
      );
    }
    dir = parent;
  }
  return dir;
}

export const PROJECT_ROOT = findProjectRoot(__dirname);

/** `dist/lib/infra` has no sources next to it: handlers and the Dockerfile are read from the package root. */
export const LAMBDA_DIR = join(PROJECT_ROOT, 'lambda');
/**
 * The handlers bundled when the package is packed (scripts/bundle-lambdas.ts), one `<name>/index.js`
 * each: what an installed package deploys, as it ships no handler sources to bundle.
 */
export const BUNDLES_DIR = join(PROJECT_ROOT, 'dist', 'bundles');
export const TOOLBOX_DIR = join(PROJECT_ROOT, 'toolbox');
export const LOCK_FILE = join(PROJECT_ROOT, 'package-lock.json');
