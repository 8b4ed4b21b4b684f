import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_SERVICE, startDemoTarget, type DemoTarget } from '../../lib/sandbox/demo-target';
import { ensureLocalToolboxImage } from '../../lib/sandbox/local-image';
import { SANDBOX_CLUSTER, startSandbox, type Sandbox } from '../../lib/sandbox/sandbox';
import { runCli } from '../support/cli';
import { containersWithLabel, requireDocker } from '../support/docker';

jest.setTimeout(300_000);

/**
 * One path, so every child can do what a session can: a service-wide session whose second child's
 * upload S3 refuses ends with that child UPLOAD_FAILED (its artifact kept on its host) and the
 * other captured; `debug-task fetch <session>` then uploads the kept one again through the same
 * state machine and downloads both, each sha256 checked; nothing is left on the host.
 */
describe('fetch of a service session with a child whose upload failed (local sandbox)', () => {
  let sandbox: Sandbox;
  const targets: DemoTarget[] = [];
  let workdir: string;

  beforeAll(async () => {
    requireDocker();
    workdir = mkdtempSync(join(tmpdir(), 'debug-task-e2e-fleet-reupload-'));
    const { image } = await ensureLocalToolboxImage();
    for (let i = 0; i < 2; i++) targets.push(await startDemoTarget(image, { service: DEMO_SERVICE }));
    sandbox = await startSandbox({ toolboxImage: image });
  });
  afterAll(async () => {
    await Promise.all(targets.map((t) => t.stop()));
    await sandbox?.stop();
    rmSync(workdir, { recursive: true, force: true });
  });

  const cli = (args: string[]) =>
    runCli([...args, '--api-url', sandbox.apiUrl, '--region', sandbox.region, '--json'], {
      env: {
        AWS_ACCESS_KEY_ID: sandbox.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: sandbox.credentials.secretAccessKey,
        AWS_REGION: sandbox.region,
      },
      cwd: workdir,
      timeoutMs: 240_000,
    });

  it('re-uploads the failed child, downloads both and leaves nothing on the host', async () => {
    // The second child of whatever session comes next: its uploads (artifact, manifest) are refused.
    sandbox.refuseUploads(true, '-0001/');
    const first = await cli([
      '--service',
      DEMO_SERVICE,
      '--cluster',
      SANDBOX_CLUSTER,
      '--container',
      'web',
      '--tool',
      'snapshot',
      '--duration',
      '1s',
      '--yes',
      '--output',
      join(workdir, 'first'),
    ]);
    sandbox.refuseUploads(false);

    // Some child failed: exit 4, and the outcome says which, with the command that fetches it.
    expect(first.code).toBe(4);
    const outcome = first.json();
    const sessionId = outcome.sessionId as string;
    const byStatus = Object.fromEntries(
      (outcome.children as Array<{ sessionId: string; status: string; error?: { code: string } }>).map(
        (c) => [c.sessionId, c],
      ),
    );
    expect(byStatus[`${sessionId}-0000`].status).toBe('SUCCEEDED');
    expect(byStatus[`${sessionId}-0001`]).toMatchObject({
      status: 'FAILED',
      error: { code: 'UPLOAD_FAILED' },
    });
    const kept = join(sandbox.home, `${sessionId}-0001`);
    expect(existsSync(kept)).toBe(true);

    const fetched = await cli(['fetch', sessionId, '--output', join(workdir, 'fetched')]);

    expect({
      code: fetched.code,
      stderr: fetched.stderr.slice(-3000),
      out: fetched.stdout.slice(-2000),
    }).toMatchObject({ code: 0 });
    expect(fetched.stderr).toContain('uploading again');
    const complete = fetched.json();
    expect(complete.children).toHaveLength(2);
    for (const child of complete.children as Array<{ status: string; path: string; sha256: string }>) {
      expect(child.status).toBe('SUCCEEDED');
      const bytes = readFileSync(child.path);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(child.sha256);
      expect(bytes.toString()).toContain('=== ');
    }
    expect(existsSync(kept)).toBe(false);
    expect(containersWithLabel(`debug-task.session=${sessionId}-0001`)).toEqual([]);
    expect(containersWithLabel(`debug-task.session=${sessionId}-0000`)).toEqual([]);

    // And one child on its own: already uploaded again, so its fetch just downloads it.
    const child = await cli(['fetch', `${sessionId}-0001`, '--output', join(workdir, 'child.txt')]);
    expect(child.code).toBe(0);
    expect(child.json()).toMatchObject({ sessionId: `${sessionId}-0001`, status: 'SUCCEEDED' });
  });
});
