import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Each test of the enclosing describe reads an AWS config of its own: `config` as AWS_CONFIG_FILE
 * and an empty shared credentials file, in a fresh directory, with `cleared` unset; after each test
 * the environment is restored and the directory removed. Call at the top of a describe; `dir()`
 * gives the current test's directory (to rewrite its config).
 */
export function useAwsConfigFiles(config: string, cleared: readonly string[]): { dir(): string } {
  const saved = { ...process.env };
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'debug-task-aws-config-'));
    writeFileSync(join(dir, 'config'), config);
    writeFileSync(join(dir, 'credentials'), '');
    for (const name of cleared) delete process.env[name];
    process.env.AWS_CONFIG_FILE = join(dir, 'config');
    process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'credentials');
  });
  afterEach(() => {
    process.env = { ...saved };
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir: () => dir };
}
