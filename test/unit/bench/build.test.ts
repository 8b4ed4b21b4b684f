import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { newestBuildInput } from '../../../bench/lib/build';

describe('newestBuildInput', () => {
  let root: string;
  const at = (path: string, seconds: number) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), '');
    utimesSync(join(root, path), seconds, seconds);
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'debug-task-build-'));
    at('bin/debug-task.ts', 1000);
    at('lib/cli/main.ts', 2000);
    at('lib/host/runner/main.sh', 9000); // not a .ts: tsc and the bundler never read it
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('is the newest .ts source under bin/ and lib/', () => {
    expect(newestBuildInput(root)).toBe(2000_000);
  });

  it.each([
    'scripts/bundle-cli.cjs',
    'tsconfig.json',
    'tsconfig.build.json',
    'package.json',
    'package-lock.json',
  ])('counts %s, which the build reads as well', (file) => {
    at(file, 3000);
    expect(newestBuildInput(root)).toBe(3000_000);
  });
});
