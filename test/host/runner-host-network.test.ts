import { rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { runHostRunner } from '../../lib/host/local-runner';
import { ensureSandboxImages } from '../../lib/sandbox/sandbox-images';
import { requireDocker } from '../support/docker';
import {
  readPcap,
  runValues,
  startHostNamespaceTarget,
  startTraffic,
  startUploadReceiver,
  type UploadReceiver,
  HostTestRun,
} from './runner-fixtures';

/**
 * A target in the host's network mode, on the real engine: refused unless allowHostNetwork=true,
 * captured when it is. The capture runs on loopback only (-i lo), and the only traffic is this
 * test's own, to a server of its own on 127.0.0.1.
 */

jest.setTimeout(90_000);

const run = new HostTestRun('hostnet');
const { runId, newSession, leftovers } = run;
let image: string;
/** The image of the target containers (busybox httpd); the toolbox image itself where that has busybox. */
let targetImage: string;
let targetId: string;
let receiver: UploadReceiver;
let server: Server;
let port: number;
let home: string;

beforeAll(async () => {
  requireDocker(); // fails (never skips) without an engine, in CI and out of it
  ({ toolbox: image, target: targetImage } = await ensureSandboxImages());
  targetId = await startHostNamespaceTarget('network', targetImage, runId);
  receiver = await startUploadReceiver();
  server = createServer((_req, res) => res.end('debug-task host network test\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  ({ port } = server.address() as AddressInfo);
  home = await run.open();
});

afterAll(async () => {
  await receiver?.close();
  if (server) await new Promise((resolve) => server.close(resolve));
  await run.close();
});

describe('host runner next to a container in the host network mode', () => {
  it('refuses it with HOST_NETWORK_NOT_ALLOWED (exit 3) by default, starting nothing and leaving nothing', async () => {
    const sessionId = newSession();

    const result = await runHostRunner(
      runValues({ sessionId, containerId: targetId, image }, { iface: 'lo' }),
      { home },
    );

    expect(result.exitCode).toBe(3);
    expect(result.manifest).toMatchObject({
      sessionId,
      status: 'FAILED',
      error: { code: 'HOST_NETWORK_NOT_ALLOWED' },
    });
    const message = result.manifest!.error!.message;
    expect(message).toContain(targetId);
    expect(message).toContain("uses the host's network (NetworkMode host)");
    expect(message).toContain("re-run with --allow-host-network if capturing the host's traffic is intended");
    expect(result.manifest!.artifact).toBeUndefined();
    expect(result.manifest!.timings.captureStartedAt).toBeUndefined();
    expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
  });

  it('refuses it with allowHostNetwork=false given explicitly, too', async () => {
    const sessionId = newSession();

    const result = await runHostRunner(
      runValues({ sessionId, containerId: targetId, image }, { allowHostNetwork: 'false' }),
      { home },
    );

    expect(result.exitCode).toBe(3);
    expect(result.manifest?.error?.code).toBe('HOST_NETWORK_NOT_ALLOWED');
    expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
  });

  it('captures the host’s loopback traffic with allowHostNetwork=true, and leaves nothing behind', async () => {
    const sessionId = newSession();
    const key = `sessions/${sessionId}/artifact.pcap.gz`;
    const traffic = startTraffic('127.0.0.1', { port, pauseMs: 150 });

    const result = await runHostRunner(
      runValues(
        { sessionId, containerId: targetId, image },
        {
          allowHostNetwork: 'true',
          iface: 'lo',
          filter: `tcp port ${port}`,
          durationSeconds: '3',
          uploadUrl: receiver.url(key),
        },
      ),
      { home },
    );
    await traffic.stop();

    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain("uses the host's network and allowHostNetwork is true");
    expect(result.stderr).toContain('(capture on lo)');
    const manifest = result.manifest!;
    expect(manifest).toMatchObject({
      sessionId,
      status: 'OK',
      tool: { name: 'tcpdump', exitCode: 0 },
      artifact: { format: 'pcap', linkType: 'EN10MB', uploaded: true },
    });
    expect(manifest.tool.packets).toBeGreaterThan(0);
    const file = join(home, `${sessionId}.pcap`);
    await writeFile(file, gunzipSync(receiver.uploads.get(`/bucket/${key}`)!));
    const read = readPcap(file, ['-A']);
    expect(read.clean).toBe(true);
    expect(read.text).toContain(`127.0.0.1.${port}`);
    expect(read.text).toContain('debug-task host network test');
    await rm(file);
    expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
  });
});
