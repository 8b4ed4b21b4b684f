import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../support/cli';
import { containersWithLabel } from '../support/docker';
import { useSandboxWithTarget } from '../support/sandbox-with-target';

jest.setTimeout(240_000);

/**
 * "No lost capture" through the real CLI, API, state machine and runner on the local sandbox: S3
 * refuses the host's upload (503 SlowDown on every try), the session ends UPLOAD_FAILED with the
 * artifact kept on the host, and `debug-task fetch` re-uploads it with a fresh URL, downloads it
 * and checks both sha256s; nothing is left on the host; a second fetch downloads it again.
 */
describe('fetch after UPLOAD_FAILED on the local sandbox', () => {
  const e2e = useSandboxWithTarget('reupload');

  const cli = (args: string[]) =>
    runCli([...args, '--api-url', e2e.sandbox.apiUrl, '--region', e2e.sandbox.region, '--json'], {
      env: e2e.cliEnv(),
      timeoutMs: 180_000,
    });

  it('re-uploads the kept artifact, verifies it and leaves nothing on the host', async () => {
    e2e.sandbox.refuseUploads(true);
    const failed = await cli([
      e2e.target.taskArn,
      '--container',
      e2e.target.containerName,
      '--tool',
      'snapshot',
      '--duration',
      '1s',
      '--output',
      join(e2e.workdir, 'never.txt'),
    ]);
    e2e.sandbox.refuseUploads(false);

    expect(failed.code).toBe(4);
    const { error } = failed.json() as {
      error: { code: string; message: string; hint: string; details: Record<string, string> };
    };
    expect(error.code).toBe('UPLOAD_FAILED');
    expect(error.message).toContain('503');
    expect(error.hint).toMatch(/debug-task fetch dt-/);
    const sessionId = /debug-task fetch (dt-[a-z0-9-]+)/.exec(error.hint)![1];
    const hostPath = error.details.hostPath;
    // A one-task session's child is <session>-0000: its work dir keeps the artifact.
    expect(hostPath).toBe(join(e2e.sandbox.home, `${sessionId}-0000`, 'artifact.txt.gz'));
    const kept = readFileSync(hostPath);

    const fetched = await cli(['fetch', sessionId, '--output', join(e2e.workdir, 'snapshot.txt')]);

    expect(fetched.code).toBe(0);
    const outcome = fetched.json();
    expect(outcome).toMatchObject({
      sessionId,
      status: 'SUCCEEDED',
      tool: { name: 'snapshot' },
      artifact: {
        path: join(e2e.workdir, 'snapshot.txt'),
        s3Uri: `s3://${e2e.sandbox.bucket}/sessions/${sessionId}/children/${sessionId}-0000/artifact.txt.gz`,
        format: 'text',
      },
      reupload: { instanceId: error.details.instanceId, hostPath },
    });
    const artifact = readFileSync(join(e2e.workdir, 'snapshot.txt'));
    expect(createHash('sha256').update(artifact).digest('hex')).toBe(outcome.artifact.sha256);
    expect(artifact.toString()).toContain('=== ');
    expect(kept.length).toBeGreaterThan(0);
    expect(fetched.stderr).toContain('uploading again the artifact kept on');
    expect(existsSync(join(e2e.sandbox.home, `${sessionId}-0000`))).toBe(false);
    expect(containersWithLabel(`debug-task.session=${sessionId}-0000`)).toEqual([]);
    const sent = e2e.sandbox.calls().filter((c) => c.service === 'ssm' && c.action === 'SendCommand');
    expect(sent.length).toBeGreaterThanOrEqual(2);

    // Again: the record says it was re-uploaded; nothing is sent to the host, the download is the same.
    const before = e2e.sandbox.calls().filter((c) => c.action === 'SendCommand').length;
    const again = await cli(['fetch', sessionId, '--output', join(e2e.workdir, 'again.txt')]);
    expect(again.code).toBe(0);
    expect(again.json().artifact.sha256).toBe(outcome.artifact.sha256);
    expect(e2e.sandbox.calls().filter((c) => c.action === 'SendCommand').length).toBe(before);
  });
});
