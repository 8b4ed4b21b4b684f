import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoTarget, type DemoTarget } from '../../lib/sandbox/demo-target';
import { ensureSandboxImages } from '../../lib/sandbox/sandbox-images';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../lib/sandbox/sandbox';
import { requireDocker } from './docker';

/** What an e2e file works with: the sandbox, one demo task with traffic, a scratch directory. */
export interface SandboxWithTarget {
  readonly sandbox: Sandbox;
  readonly target: DemoTarget;
  /** A directory of this file's own, for the CLI's downloads; removed after the file. */
  readonly workdir: string;
  /** The sandbox's fake keys, found by the CLI's ordinary credential chain (environment first). */
  cliEnv(): Record<string, string>;
  /**
   * The CLI's arguments for a tcpdump of the demo task through the sandbox's API, then `more`
   * (duration, output, flags of the test's own).
   */
  captureArgs(...more: string[]): string[];
}

/**
 * Starts the sandbox (with `options`, e.g. an older SSM agent) and one demo task before the file's
 * tests (failing, never skipping, without Docker) and stops both after them. Call at the top of a
 * `describe`.
 */
export function useSandboxWithTarget(
  name: string,
  options: Omit<SandboxOptions, 'toolboxImage'> = {},
): SandboxWithTarget {
  let sandbox: Sandbox | undefined;
  let target: DemoTarget | undefined;
  let workdir: string | undefined;

  beforeAll(async () => {
    requireDocker();
    workdir = mkdtempSync(join(tmpdir(), `debug-task-e2e-${name}-`));
    const images = await ensureSandboxImages();
    target = await startDemoTarget(images.target);
    sandbox = await startSandbox({ ...options, toolboxImage: images.toolbox });
  });
  afterAll(async () => {
    await target?.stop();
    await sandbox?.stop();
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`The ${what} is not started: use it inside a test.`);
    return value;
  };
  return {
    get sandbox() {
      return started(sandbox, 'sandbox');
    },
    get target() {
      return started(target, 'demo task');
    },
    get workdir() {
      return started(workdir, 'scratch directory');
    },
    cliEnv() {
      const box = started(sandbox, 'sandbox');
      return {
        AWS_ACCESS_KEY_ID: box.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: box.credentials.secretAccessKey,
        AWS_REGION: box.region,
      };
    },
    captureArgs(...more) {
      const task = started(target, 'demo task');
      const box = started(sandbox, 'sandbox');
      return [
        task.taskArn,
        '--container',
        task.containerName,
        '--tool',
        'tcpdump',
        '--api-url',
        box.apiUrl,
        ...more,
      ];
    },
  };
}
