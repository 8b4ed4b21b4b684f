import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoTarget, type DemoTarget } from '../../lib/sandbox/demo-target';
import { ensureLocalToolboxImage } from '../../lib/sandbox/local-image';
import { startSandbox, type Sandbox } from '../../lib/sandbox/sandbox';
import { runCli } from '../support/cli';
import { containersWithLabel, requireDocker } from '../support/docker';

jest.setTimeout(240_000);

/**
 * "No lost capture" through the real CLI, API, state machine and runner on the local sandbox: S3
 * refuses the host's upload (503 SlowDown on every try), the session ends UPLOAD_FAILED with the
 * artifact kept on the host, and `debug-task fetch` re-uploads it with a fresh URL, downloads it
 * and checks both sha256s; nothing is left on the host; a second fetch downloads it again.
 */
describe('fetch after UPLOAD_FAILED on the local sandbox', () => {
  let sandbox: Sandbox;
  let target: DemoTarget;
  let workdir: string;

  beforeAll(async () => {
    requireDocker();
    workdir = mkdtempSync(join(tmpdir(), 'debug-task-e2e-reupload-'));
    const { image } = await ensureLocalToolboxImage();
    target = await startDemoTarget(image);
    sandbox = await startSandbox({ toolboxImage: image });
  });
  afterAll(async () => {
    await target?.stop();
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
      timeoutMs: 180_000,
    });

  it('re-uploads the kept artifact, verifies it and leaves nothing on the host', async () => {
    sandbox.refuseUploads(true);
    const failed = await cli([
      target.taskArn,
      '--container',
      target.containerName,
      '--tool',
      'snapshot',
      '--duration',
      '1s',
      '--output',
      join(workdir, 'never.txt'),
    ]);
    sandbox.refuseUploads(false);

    expect(failed.code).toBe(4);
    const { error } = failed.json() as {
      error: { code: string; message: string; hint: string; details: Record<string, string> };
    };
    expect(error.code).toBe('UPLOAD_FAILED');
    expect(error.message).toContain('503');
    expect(error.hint).toMatch(/debug-task fetch dt-/);
    const sessionId = /debug-task fetch (dt-[a-z0-9-]+)/.exec(error.hint)![1];
    const hostPath = error.details.hostPath;
    expect(hostPath).toBe(join(sandbox.home, sessionId, 'artifact.txt.gz'));
    const kept = readFileSync(hostPath);

    const fetched = await cli(['fetch', sessionId, '--output', join(workdir, 'snapshot.txt')]);

    expect(fetched.code).toBe(0);
    const outcome = fetched.json();
    expect(outcome).toMatchObject({
      sessionId,
      status: 'SUCCEEDED',
      tool: { name: 'snapshot' },
      artifact: {
        path: join(workdir, 'snapshot.txt'),
        s3Uri: `s3://${sandbox.bucket}/sessions/${sessionId}/artifact.txt.gz`,
        format: 'text',
      },
      reupload: { instanceId: error.details.instanceId, hostPath },
    });
    const artifact = readFileSync(join(workdir, 'snapshot.txt'));
    expect(createHash('sha256').update(artifact).digest('hex')).toBe(outcome.artifact.sha256);
    expect(artifact.toString()).toContain('=== ');
    expect(kept.length).toBeGreaterThan(0);
    expect(fetched.stderr).toContain('uploading again the artifact kept on');
    expect(existsSync(join(sandbox.home, sessionId))).toBe(false);
    expect(containersWithLabel(`debug-task.session=${sessionId}`)).toEqual([]);
    const sent = sandbox.calls().filter((c) => c.service === 'ssm' && c.action === 'SendCommand');
    expect(sent.length).toBeGreaterThanOrEqual(2);

    // Again: the record says it was re-uploaded; nothing is sent to the host, the download is the same.
    const before = sandbox.calls().filter((c) => c.action === 'SendCommand').length;
    const again = await cli(['fetch', sessionId, '--output', join(workdir, 'again.txt')]);
    expect(again.code).toBe(0);
    expect(again.json().artifact.sha256).toBe(outcome.artifact.sha256);
    expect(sandbox.calls().filter((c) => c.action === 'SendCommand').length).toBe(before);
  });
});
