import { readdirSync, readlinkSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { chunkSeqOf, decodeChunkForm, encodeChunkForm } from '../../lib/domain/follow';
import { childSessionId, sessionKeys } from '../../lib/domain/session';
import { runHostRunner } from '../../lib/host/local-runner';
import { startS3, type S3StandIn } from '../../lib/sandbox/s3';
import { uploadPresigner } from '../../lib/session/upload';
import {
  closedPort,
  runValues,
  sha256,
  startTraffic,
  toolboxRunning,
  useHostTarget,
  waitFor,
} from './runner-fixtures';

/**
 * --follow against the real engine and the sandbox's S3 (s3rver): the runner uploads what tcpdump
 * wrote every followSeconds by the presigned POST Launch signs, while the capture runs; the chunks
 * joined are the artifact byte for byte; a chunk that cannot be uploaded does not stop the capture;
 * and nothing of the loop outlives its runner.
 */

jest.setTimeout(120_000);

const host = useHostTarget('follow');
let s3: S3StandIn;
let client: S3Client;

beforeAll(async () => {
  s3 = await startS3({ bucket: 'follow-test' });
  process.env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
  process.env.AWS_S3_FORCE_PATH_STYLE = 'true';
  client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true });
});

afterAll(async () => {
  client?.destroy();
  await s3?.stop();
  delete process.env.AWS_ENDPOINT_URL_S3;
  delete process.env.AWS_S3_FORCE_PATH_STYLE;
});

/** A child id of a fresh session, and its chunk form signed as Launch signs it. */
async function followedChild(): Promise<{ childId: string; prefix: string; chunkUrl: string }> {
  const childId = childSessionId(host.run.newSession(), 0);
  const prefix = sessionKeys.childChunks(childId);
  const presigner = uploadPresigner({
    accessKeyId: 'AKIATESTFOLLOW000000',
    secretAccessKey: 'not-checked',
    sessionToken: 'session-token-of-the-upload-role',
    expiration: new Date(Date.now() + 3_600_000),
  });
  try {
    return { childId, prefix, chunkUrl: await presigner.presignChunks(s3.bucket, prefix, 900) };
  } finally {
    presigner.destroy();
  }
}

async function chunkKeys(prefix: string): Promise<{ key: string; seq: number; size: number }[]> {
  const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => ({
    key: o.Key!,
    seq: chunkSeqOf(prefix, o.Key!)!,
    size: o.Size ?? 0,
  }));
}

async function joinedChunks(prefix: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const { key } of await chunkKeys(prefix)) {
    const object = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    parts.push(Buffer.from(await object.Body!.transformToByteArray()));
  }
  return Buffer.concat(parts);
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
  const { childId, prefix, chunkUrl } = await followedChild();
  const artifactPath = `/bucket/${childId}/artifact.pcap.gz`;
  const running = runHostRunner(
    runValues(
      { sessionId: childId, containerId: host.target.id, image: host.image },
      {
        durationSeconds: '8',
        filter: 'tcp port 80',
        uploadUrl: host.receiver.url(`${childId}/artifact.pcap.gz`),
        chunkUrl,
        followSeconds: '1',
      },
    ),
    { home: host.home },
  );
  await waitFor('the toolbox', () => toolboxRunning(childId), 30_000);
  const traffic = startTraffic(host.target.address, { pauseMs: 50, maxRequests: 400 });
  // The first chunk holding a packet (more than the 24 bytes of the pcap header), as it is seen.
  const firstPacketChunkAt = await waitFor(
    'a chunk with packets',
    async () => ((await chunkKeys(prefix)).some((c) => c.size > 24) ? Date.now() : undefined),
    30_000,
  );
  const result = await running;
  await traffic.stop();

  expect(result.manifest).toMatchObject({ status: 'OK', artifact: { uploaded: true } });
  const manifest = result.manifest!;
  // Seen while tcpdump still ran: before the capture's end as the runner recorded it.
  expect(firstPacketChunkAt).toBeLessThan(manifest.timings.captureEndedAt!);
  const chunks = await chunkKeys(prefix);
  expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
  expect(chunks.length).toBeGreaterThan(2);
  expect(manifest.follow).toEqual({
    chunks: chunks.length,
    failedChunks: 0,
    bytes: manifest.artifact!.bytes,
    intervalSeconds: 1,
  });
  const joined = await joinedChunks(prefix);
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
    { url: `http://127.0.0.1:${port}/${s3.bucket}`, fields },
    sessionKeys.childChunks(childId),
  );
  const result = await runHostRunner(
    runValues(
      { sessionId: childId, containerId: host.target.id, image: host.image },
      {
        durationSeconds: '3',
        uploadUrl: host.receiver.url(`${childId}/artifact.pcap.gz`),
        chunkUrl: deadForm,
        followSeconds: '1',
      },
    ),
    { home: host.home },
  );
  expect(result.manifest).toMatchObject({ status: 'OK', artifact: { uploaded: true } });
  expect(result.manifest!.follow).toMatchObject({ chunks: 0 });
  expect(result.manifest!.follow!.failedChunks).toBeGreaterThan(0);
  expect(result.stderr).toMatch(/chunk 0 could not be uploaded/);
  expect(holdersOfWorkRoot()).toEqual([]);
});

test('a cancelled run (SIGTERM) leaves no follow loop, container or work dir behind', async () => {
  const { childId, prefix, chunkUrl } = await followedChild();
  const abort = new AbortController();
  const running = runHostRunner(
    runValues(
      { sessionId: childId, containerId: host.target.id, image: host.image },
      {
        durationSeconds: '60',
        uploadUrl: host.receiver.url(`${childId}/artifact.pcap.gz`),
        chunkUrl,
        followSeconds: '1',
      },
    ),
    { home: host.home, signal: abort.signal },
  );
  await waitFor('the toolbox', () => toolboxRunning(childId), 30_000);
  // tcpdump writes nothing, not even its file header, before its first packet.
  const traffic = startTraffic(host.target.address, { pauseMs: 100, maxRequests: 300 });
  await waitFor(
    'a first chunk',
    async () => ((await chunkKeys(prefix)).length > 0 ? true : undefined),
    30_000,
  );
  abort.abort();
  const result = await running;
  await traffic.stop();
  expect(result.manifest).toMatchObject({ status: 'FAILED', error: { code: 'CANCELLED' } });
  expect(await host.run.leftovers(childId)).toEqual({ containers: [], workDir: false });
  expect(holdersOfWorkRoot()).toEqual([]);
});
