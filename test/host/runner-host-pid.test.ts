import { gunzipSync } from 'node:zlib';
import { runHostRunner } from '../../lib/host/local-runner';
import { ensureLocalToolboxImage } from '../../lib/sandbox/local-image';
import { requireDocker } from '../support/docker';
import {
  containersLabelled,
  HostTestRun,
  runValues,
  startHostNamespaceTarget,
  startUploadReceiver,
  type UploadReceiver,
} from './runner-fixtures';

/**
 * A target in the host's pid namespace (docker run --pid host, as ECS pidMode host), on the real
 * engine: refused unless allowHostPid=true, and then the toolbox sees the host's processes.
 */

jest.setTimeout(90_000);

const run = new HostTestRun('hostpid');
const { runId, newSession, leftovers } = run;
let image: string;
let targetId: string;
let receiver: UploadReceiver;
let home: string;

beforeAll(async () => {
  requireDocker(); // fails (never skips) without an engine
  ({ image } = await ensureLocalToolboxImage());
  targetId = await startHostNamespaceTarget('pid', image, runId);
  receiver = await startUploadReceiver();
  home = await run.open();
});

afterAll(async () => {
  await receiver?.close();
  await run.close();
});

describe('host runner next to a container in the host pid namespace', () => {
  it('refuses it with HOST_PID_NOT_ALLOWED (exit 3) by default, starting nothing and leaving nothing', async () => {
    const sessionId = newSession();

    const result = await runHostRunner(
      runValues({ sessionId, containerId: targetId, image }, { tool: 'snapshot', durationSeconds: '2' }),
      { home },
    );

    expect(result.exitCode).toBe(3);
    expect(result.manifest).toMatchObject({
      sessionId,
      status: 'FAILED',
      error: { code: 'HOST_PID_NOT_ALLOWED' },
    });
    expect(result.manifest!.error!.message).toContain('--allow-host-pid');
    expect(result.stderr).not.toContain('watchdog armed'); // refused before anything started
    expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
    expect(await containersLabelled(`debug-task.session=${sessionId}`)).toEqual([]);
  });

  it('with allowHostPid=true, runs next to it and sees the host’s processes', async () => {
    const sessionId = newSession();
    const key = `sessions/${sessionId}/artifact.txt.gz`;

    const result = await runHostRunner(
      runValues(
        { sessionId, containerId: targetId, image },
        { tool: 'snapshot', durationSeconds: '2', allowHostPid: 'true', uploadUrl: receiver.url(key) },
      ),
      { home },
    );

    expect(result.exitCode).toBe(0);
    expect(result.manifest).toMatchObject({ status: 'OK' });
    expect(result.stderr).toContain("shares the host's pid namespace and allowHostPid is true");
    // The host's own processes: the engine that runs the containers.
    expect(gunzipSync(receiver.uploads.get(`/bucket/${key}`)!).toString()).toContain('dockerd');
    expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
  });
});
