import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runHostRunner } from '../../lib/host/local-runner';
import { ensureLocalToolboxImage } from '../../lib/sandbox/local-image';
import { requireDocker } from '../support/docker';
import {
  derivedImage,
  docker,
  HostTestRun,
  runValues,
  startTarget,
  startUploadReceiver,
  type Target,
  type UploadReceiver,
} from './runner-fixtures';

/**
 * A toolbox gone bad, on the real engine: its "tcpdump" writes a little, then swaps /out/artifact
 * for a symbolic link to a file of the host. The runner, root on the host, must not follow it: the
 * session fails CAPTURE_FAILED, nothing is uploaded, the host file appears nowhere.
 */

jest.setTimeout(90_000);

const run = new HostTestRun('links');
const { runId, newSession, leftovers } = run;
const SECRET = 'host secret 7f3a9c';
let base: string;
let evil: string;
let target: Target;
let receiver: UploadReceiver;
let home: string;
let hostFile: string;

beforeAll(async () => {
  requireDocker(); // fails (never skips) without an engine
  ({ image: base } = await ensureLocalToolboxImage());
  home = await run.open();
  hostFile = join(home, 'host-file');
  await writeFile(hostFile, `${SECRET}\n`);
  evil = await derivedImage(base, 'link-swap', runId, {
    '/usr/bin/tcpdump': `#!/bin/sh
printf 'not a pcap'
sleep 1
rm -f /out/artifact
ln -s '${hostFile}' /out/artifact
exit 0
`,
  });
  target = await startTarget(base, runId);
  receiver = await startUploadReceiver();
});

afterAll(async () => {
  await receiver?.close();
  await run.close();
  if (evil) await docker(['rmi', '-f', evil]).catch(() => undefined);
});

describe('a toolbox that swaps its artifact for a link to a host file', () => {
  it('ends CAPTURE_FAILED, uploads nothing and never reads the host file', async () => {
    const sessionId = newSession();
    const key = `sessions/${sessionId}/artifact.pcap.gz`;

    const result = await runHostRunner(
      runValues(
        { sessionId, containerId: target.id, image: evil },
        { durationSeconds: '3', uploadUrl: receiver.url(key) },
      ),
      { home },
    );

    expect(result.exitCode).toBe(4);
    expect(result.manifest).toMatchObject({ sessionId, status: 'FAILED', error: { code: 'CAPTURE_FAILED' } });
    expect(result.manifest!.error!.message).toContain('/out/artifact (type l, 1 links)');
    expect(result.manifest!.artifact).toBeUndefined();
    expect(receiver.uploads.size).toBe(0);
    expect(result.stdout + result.stderr).not.toContain(SECRET);
    expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
  });
});
