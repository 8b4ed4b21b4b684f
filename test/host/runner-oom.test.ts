import { gunzipSync } from 'node:zlib';
import { derivedImage, docker, sha256, useHostTarget } from './runner-fixtures';

/**
 * The toolbox's memory limit on the real engine: a "tcpdump" that allocates past it is OOM-killed,
 * and the session says so (CAPTURE_FAILED, the memory limit named), not as a tool that merely
 * failed. The runner's OOM inspect is skipped only when the toolbox's own memory mark proves a clean
 * end: a clean capture on this engine skips it; the OOM-killed one keeps it.
 */

jest.setTimeout(90_000);

const host = useHostTarget('oom');
const ASKED = 'asking the engine whether it was OOM-killed';
let hog: string;
let lingerer: string;

// After useHostTarget's own beforeAll (the engine, the images, the target, the receiver).
beforeAll(async () => {
  const { image, run } = host;
  // Listens (as the clock expects), then builds a string far past the 16 MiB limit in its shell.
  hog = await derivedImage(image, 'memory-hog', run.runId, {
    '/usr/bin/tcpdump': `#!/bin/sh
echo 'listening on eth0, link-type EN10MB (Ethernet), snapshot length 262144 bytes' >&2
x=$(head -c 200000000 /dev/zero | tr '\\0' a)
echo "$x" | wc -c
`,
  });
  // Leaves a writer that ignores every catchable signal, appending to the artifact as fast as it can.
  lingerer = await derivedImage(image, 'lingering-writer', run.runId, {
    '/usr/bin/tcpdump': `#!/bin/sh
echo 'listening on eth0, link-type EN10MB (Ethernet), snapshot length 262144 bytes' >&2
( trap '' INT TERM HUP; exec >>/out/artifact 2>&-; while :; do echo x; done ) &
exec sleep 30
`,
  });
});

afterAll(async () => {
  for (const image of [hog, lingerer]) if (image) await docker(['rmi', '-f', image]).catch(() => undefined);
});

describe('the toolbox memory limit', () => {
  it('reports a toolbox OOM-killed at its limit as CAPTURE_FAILED naming the limit, leaving nothing', async () => {
    const sessionId = host.run.newSession();

    const result = await host.runCapture(sessionId, {
      image: hog,
      durationSeconds: '3',
      memoryMb: '16',
      uploadUrl: host.receiver.url(`sessions/${sessionId}/a.pcap.gz`),
    });

    expect(result.manifest).toMatchObject({ sessionId, status: 'FAILED', error: { code: 'CAPTURE_FAILED' } });
    expect(result.manifest!.error!.message).toContain('killed at its memory limit (16 MiB)');
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain(ASKED);
    expect(host.receiver.uploads.size).toBe(0);
    expect(await host.run.leftovers(sessionId)).toEqual({ containers: [], workDir: false });
  });

  it('skips the OOM inspect for a clean capture: its memory mark proves no OOM kill', async () => {
    const sessionId = host.run.newSession();

    const result = await host.runCapture(sessionId, {
      durationSeconds: '1',
      memoryMb: '64',
      uploadUrl: host.receiver.url(`sessions/${sessionId}/a.pcap.gz`),
    });

    expect(result.manifest).toMatchObject({ sessionId, status: 'OK' });
    expect(result.stderr).not.toContain(ASKED);
    expect(await host.run.leftovers(sessionId)).toEqual({ containers: [], workDir: false });
  });
});

describe('the toolbox removal beside the packaging', () => {
  // The runner reads /out once docker wait returned, before the toolbox's container is removed: the
  // engine has killed every process of the toolbox by then (it shares the target's pid namespace, so
  // its main process's end alone would not end them). A process left writing would make the upload
  // differ from what the output guard listed and the manifest reports.
  it('uploads exactly what the manifest reports although a toolbox process ignored every signal', async () => {
    const sessionId = host.run.newSession();
    const key = `sessions/${sessionId}/a.pcap.gz`;

    const result = await host.runCapture(sessionId, {
      image: lingerer,
      durationSeconds: '1',
      maxBytes: '100000000',
      uploadUrl: host.receiver.url(key),
    });

    expect(result.manifest?.error).toBeUndefined();
    expect(result.manifest).toMatchObject({ sessionId, status: 'OK' });
    const uploaded = gunzipSync(host.receiver.uploads.get(`/bucket/${key}`)!);
    expect(uploaded.length).toBeGreaterThan(10_000); // the writer ran
    expect(uploaded.length).toBe(result.manifest!.artifact!.bytes);
    expect(sha256(uploaded)).toBe(result.manifest!.artifact!.sha256);
    expect(await host.run.leftovers(sessionId)).toEqual({ containers: [], workDir: false });
  });
});
