import { createSocket } from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ringFilesBytes } from '../../bench/lib/ring-files';
import { runHostRunner } from '../../lib/host/local-runner';
import { closedPort, readPcap, useHostTarget } from './runner-fixtures';

/**
 * The ring buffer (ringSeconds, ringBytes) against the real engine: a time ring keeps the last
 * window before its stop, a size ring keeps the last bytes, and under a flood the ring's files on
 * the host never hold more than the ring's bound; a kept ring keeps its facts for its re-upload.
 */

jest.setTimeout(120_000);

const host = useHostTarget('ring');
const { newSession, leftovers } = host.run;

/** The uploaded pcap, unpacked, read by the host's tcpdump with epoch timestamps (-tt). */
async function uploadedPcap(key: string, name: string) {
  const object = host.receiver.uploads.get(`/bucket/${key}`);
  expect(object).toBeDefined();
  const file = join(host.home, `${name}.pcap`);
  await writeFile(file, gunzipSync(object!));
  const read = readPcap(file, ['-tt']);
  const times = read.text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => Math.round(Number(line.split(' ')[0]) * 1000));
  return { ...read, times, bytes: gunzipSync(object!).length };
}

/** Bytes of the ring's files in the capture's /out on the host, now. */
const ringBytesOnDisk = (sessionId: string) => ringFilesBytes(join(host.home, sessionId, 'out'));

/**
 * UDP datagrams of `size` bytes to a container this test started, as fast as this process sends them
 * (in batches, so that the sampler keeps running), until stop().
 */
function startFlood(address: string, size = 1200) {
  const socket = createSocket('udp4');
  const payload = Buffer.alloc(size, 0x61);
  let sent = 0;
  let stopped = false;
  const done = new Promise<void>((resolve) => {
    const batch = () => {
      if (stopped) return resolve();
      for (let i = 0; i < 200; i++) socket.send(payload, 9, address);
      sent += 200;
      setImmediate(batch);
    };
    batch();
  });
  return {
    sent: () => sent,
    stop: async () => {
      stopped = true;
      await done;
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

describe('a ring buffer on a real engine', () => {
  it('keeps only the last window of a time ring, in order, up to its stop', async () => {
    const sessionId = newSession();
    const key = `sessions/${sessionId}/artifact.pcap.gz`;
    const traffic = host.traffic({ pauseMs: 50, maxRequests: 100_000 });
    const running = host.runCapture(sessionId, {
      durationSeconds: '60',
      ringSeconds: '4',
      filter: 'tcp port 80',
      uploadUrl: host.receiver.url(key),
    });
    await host.toolboxStarted(sessionId);
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    const stopped = await host.stop(sessionId);
    const result = await running;
    await traffic.stop();

    expect(stopped.exitCode).toBe(0);
    expect(result.exitCode).toBe(0);
    const manifest = result.manifest!;
    expect(manifest).toMatchObject({
      status: 'OK',
      stoppedEarly: true,
      artifact: { format: 'pcap', uploaded: true, truncated: false },
      ring: { windowSeconds: 4, wrapped: true },
    });
    // 12 s of one-second files, 4 s kept: most were rotated out, and the count moved to the ring.
    expect(manifest.ring!.rotatedOut).toBeGreaterThanOrEqual(5);
    expect(manifest.tool.packets ?? null).toBeNull();
    const pcap = await uploadedPcap(key, sessionId);
    expect(pcap.clean).toBe(true);
    expect(manifest.ring!.capturedPackets).toBeGreaterThan(pcap.times.length);
    const end = manifest.timings.captureEndedAt!;
    const first = pcap.times[0];
    // The window (4 s) and at most one file (1 s) more, plus the pruner's second (it compares whole
    // seconds) and the last prune's own run: `end` is the toolbox's `ended` mark, written after that
    // prune's stat/sed/sort under the toolbox's 0.5 CPU (up to ~1 s on a loaded machine: 6.54 s was
    // seen against a 6.5 s bound); and not much less than the window: the traffic filled it.
    expect(first).toBeGreaterThanOrEqual(end - (4 + 1 + 1 + 1) * 1000);
    expect(first).toBeLessThanOrEqual(end - 3500);
    expect(first).toBeGreaterThan(manifest.timings.captureStartedAt! + 5000);
    // The runner reads the first packet's time from the file itself (to the millisecond).
    expect(Math.abs(manifest.ring!.firstPacketAt! - first)).toBeLessThanOrEqual(1);
    expect(pcap.times).toEqual([...pcap.times].sort((a, b) => a - b));
    expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
  });

  it('holds a size ring to its bound on the host under a flood, and keeps its last bytes', async () => {
    const sessionId = newSession();
    const key = `sessions/${sessionId}/artifact.pcap.gz`;
    const ringBytes = 2_000_000;
    const running = host.runCapture(sessionId, {
      durationSeconds: '8',
      ringBytes: String(ringBytes),
      filter: 'udp port 9',
      uploadUrl: host.receiver.url(key),
    });
    await host.toolboxStarted(sessionId);
    const flood = startFlood(host.target.address);
    let most = 0;
    let samples = 0;
    const sampling = (async () => {
      while (!(await leftovers(sessionId).then((l) => l.containers.length === 0))) {
        most = Math.max(most, await ringBytesOnDisk(sessionId));
        samples++;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const result = await running;
    await flood.stop();
    await sampling;

    expect(result.exitCode).toBe(0);
    const manifest = result.manifest!;
    expect(manifest).toMatchObject({
      status: 'OK',
      artifact: { format: 'pcap', uploaded: true, truncated: false },
      ring: { windowBytes: ringBytes, wrapped: true },
    });
    // tcpdump -C 1 -W 3: three files of 1 MB, each closed once past it (by at most one packet).
    const bound = 3 * (1_000_000 + 1300);
    expect(samples).toBeGreaterThan(10);
    expect(most).toBeGreaterThan(ringBytes);
    expect(most).toBeLessThanOrEqual(bound);
    expect(flood.sent() * 1200).toBeGreaterThan(10 * bound); // a flood: the ring went round many times
    const pcap = await uploadedPcap(key, sessionId);
    expect(pcap.clean).toBe(true);
    expect(pcap.bytes).toBeGreaterThanOrEqual(ringBytes);
    expect(pcap.bytes).toBeLessThanOrEqual(bound);
    expect(pcap.times).toEqual([...pcap.times].sort((a, b) => a - b));
    expect(manifest.ring!.capturedPackets).toBeGreaterThan(pcap.times.length);
    expect(await leftovers(sessionId)).toEqual({ containers: [], workDir: false });
  });

  it('keeps its ring facts with an artifact whose upload failed, and its re-upload reports the same window', async () => {
    const sessionId = newSession();
    const deadUrl = `http://127.0.0.1:${await closedPort()}/bucket/sessions/${sessionId}/artifact.pcap.gz?X-Amz-Signature=x`;
    const traffic = host.traffic({ pauseMs: 50, maxRequests: 100_000 });
    const failed = await host.runCapture(
      sessionId,
      { durationSeconds: '6', ringSeconds: '2', filter: 'tcp port 80', uploadUrl: deadUrl },
      { env: { DEBUG_TASK_UPLOAD_TRIES: '1' } },
    );
    await traffic.stop();
    expect(failed.manifest).toMatchObject({
      status: 'UPLOAD_FAILED',
      ring: { windowSeconds: 2, wrapped: true },
    });

    const key = `sessions/${sessionId}/artifact.pcap.gz`;
    const reupload = await runHostRunner(
      { action: 'reupload', sessionId, uploadUrl: host.receiver.url(key) },
      { home: host.home },
    );

    expect(reupload.exitCode).toBe(0);
    expect(reupload.manifest).toMatchObject({
      status: 'OK',
      action: 'reupload',
      artifact: { uploaded: true },
    });
    expect(reupload.manifest!.ring).toEqual(failed.manifest!.ring);
    expect((await uploadedPcap(key, sessionId)).clean).toBe(true);
  });

  it('refuses a ring for a tool that is not tcpdump, and both windows at once, before it starts anything', async () => {
    for (const [overrides, message] of [
      [{ tool: 'strace', ringSeconds: '5' }, /strace takes no ring buffer/],
      [{ ringSeconds: '5', ringBytes: '2000000' }, /either ringSeconds or ringBytes, not both/],
    ] as const) {
      const sessionId = newSession();
      const result = await host.runCapture(sessionId, overrides);
      expect(result.exitCode).toBe(2);
      expect(result.manifest).toMatchObject({ status: 'FAILED', error: { code: 'INVALID_ARGUMENT' } });
      expect(result.manifest!.error!.message).toMatch(message);
      expect((await leftovers(sessionId)).containers).toEqual([]);
    }
  });
});
