import { readdirSync, readlinkSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { decodeChunkForm, encodeChunkForm } from '../../lib/domain/follow';
import { childSessionId, sessionKeys } from '../../lib/domain/session';
import { useFollowChunks } from '../support/follow-chunks';
import { closedPort, sha256, useHostTarget, waitFor } from './runner-fixtures';

/**
 * --follow against the real engine and the sandbox's S3 (s3rver): the runner uploads what tcpdump
 * wrote every followSeconds by the presigned POST Launch signs, while the capture runs; the chunks
 * joined are the artifact byte for byte; a chunk that cannot be uploaded does not stop the capture;
 * and nothing of the loop outlives its runner.
 */

jest.setTimeout(120_000);

const host = useHostTarget('follow');
const store = useFollowChunks('follow-test');

/** A child id of a fresh session, and its chunk form signed as Launch signs it. */
async function followedChild(): Promise<{ childId: string; chunkUrl: string }> {
  const childId = childSessionId(host.run.newSession(), 0);
  return { childId, chunkUrl: await store.chunkForm(childId) };
}

/** Processes that hold a file under the test's work root open: a follow loop that outlived its runner would. */
function holdersOfWorkRoot(): string[] {
  const holders: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^[0-9]+$/.test(name))) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(host.home)) holders.push(pid);
      } catch {
        // gone meanwhile
      }
    }
  }
  return holders;
}

test('streams the capture in chunks while it runs, and the chunks joined are the artifact byte for byte', async () => {
  const { childId, chunkUrl } = await followedChild();
  const artifactPath = `/bucket/${childId}/artifact.pcap.gz`;
  const running = host.runCapture(childId, {
    durationSeconds: '8',
    filter: 'tcp port 80',
    uploadUrl: host.receiver.url(`${childId}/artifact.pcap.gz`),
    chunkUrl,
    followSeconds: '1',
  });
  await host.toolboxStarted(childId, 30_000);
  const traffic = host.traffic({ pauseMs: 50, maxRequests: 400 });
  // The first chunk holding a packet (more than the 24 bytes of the pcap header), as it is seen.
  const firstPacketChunkAt = await waitFor(
    'a chunk with packets',
    async () => ((await store.listed(childId)).some((c) => c.size > 24) ? Date.now() : undefined),
    30_000,
  );
  const result = await running;
  await traffic.stop();

  expect(result.manifest).toMatchObject({ status: 'OK', artifact: { uploaded: true } });
  const manifest = result.manifest!;
  // Seen while tcpdump still ran: before the capture's end as the runner recorded it.
  expect(firstPacketChunkAt).toBeLessThan(manifest.timings.captureEndedAt!);
  const chunks = await store.listed(childId);
  expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
  expect(chunks.length).toBeGreaterThan(2);
  expect(manifest.follow).toEqual({
    chunks: chunks.length,
    failedChunks: 0,
    bytes: manifest.artifact!.bytes,
    intervalSeconds: 1,
  });
  const joined = (await store.read(childId)).bytes;
  expect(sha256(joined)).toBe(manifest.artifact!.sha256);
  expect(joined.equals(gunzipSync(host.receiver.uploads.get(artifactPath)!))).toBe(true);
  expect(manifest.tool.packets).toBeGreaterThan(0);
  expect(await host.run.leftovers(childId)).toEqual({ containers: [], workDir: false });
  expect(holdersOfWorkRoot()).toEqual([]);
});

test('a chunk that cannot be uploaded is logged and skipped: the capture and its artifact go on', async () => {
  const { childId, chunkUrl } = await followedChild();
  const port = await closedPort();
  // The same form, sent to an endpoint where nothing listens: every chunk upload fails.
  const { fields } = decodeChunkForm(chunkUrl);
  const deadForm = encodeChunkForm(
    { url: `http://127.0.0.1:${port}/${store.s3.bucket}`, fields },
    sessionKeys.childChunks(childId),
  );
  const result = await host.runCapture(childId, {
    durationSeconds: '3',
    uploadUrl: host.receiver.url(`${childId}/artifact.pcap.gz`),
    chunkUrl: deadForm,
    followSeconds: '1',
  });
  expect(result.manifest).toMatchObject({ status: 'OK', artifact: { uploaded: true } });
  expect(result.manifest!.follow).toMatchObject({ chunks: 0 });
  expect(result.manifest!.follow!.failedChunks).toBeGreaterThan(0);
  expect(result.stderr).toMatch(/chunk 0 could not be uploaded/);
  expect(holdersOfWorkRoot()).toEqual([]);
});

test('a cancelled run (SIGTERM) leaves no follow loop, container or work dir behind', async () => {
  const { childId, chunkUrl } = await followedChild();
  const abort = new AbortController();
  const running = host.runCapture(
    childId,
    {
      durationSeconds: '60',
      uploadUrl: host.receiver.url(`${childId}/artifact.pcap.gz`),
      chunkUrl,
      followSeconds: '1',
    },
    { signal: abort.signal },
  );
  await host.toolboxStarted(childId, 30_000);
  // tcpdump writes nothing, not even its file header, before its first packet.
  const traffic = host.traffic({ pauseMs: 100, maxRequests: 300 });
  await waitFor(
    'a first chunk',
    async () => ((await store.listed(childId)).length > 0 ? true : undefined),
    30_000,
  );
  abort.abort();
  const result = await running;
  await traffic.stop();
  expect(result.manifest).toMatchObject({ status: 'FAILED', error: { code: 'CANCELLED' } });
  expect(await host.run.leftovers(childId)).toEqual({ containers: [], workDir: false });
  expect(holdersOfWorkRoot()).toEqual([]);
});
