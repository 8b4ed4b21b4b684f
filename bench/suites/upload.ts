import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { newSessionId } from '../../lib/domain/session';
import { runHostRunner } from '../../lib/host/local-runner';
import { startS3 } from '../../lib/sandbox/s3';
import { removeSessionContainers, type BenchTarget } from '../lib/containers';
import { runFlood } from '../lib/flood';
import { run, waitForFileText } from '../lib/proc';
import { median, nowMs, ratio, round } from '../lib/stats';
import type { SuiteContext } from '../lib/context';

/**
 * Upload throughput: the runner's upload of its artifact (a capture of incompressible packets, so
 * the gzip is about as large as the pcap) to S3 through a presigned PUT, against a bare `curl -T`
 * of the same file to the same S3 (s3rver). The runner's upload is timed from the arrival of its
 * "artifact: ..." progress line (printed once the gzip is hashed) to its "uploaded to" line.
 *
 * Each runner upload (~0.4 s) is sandwiched between two bare ones: the previous round's object just
 * before the runner starts, this round's just after it ends, so that neither side always goes first
 * or always gets the quieter machine (a `sync` and a pause before the bare upload alone, as before,
 * gave the baseline alone a settled machine). 7 rounds; medians of each side.
 */

export interface UploadResult {
  uploadThroughputRatio: number | null;
  raw: {
    runnerMBps: number | null;
    bareCurlMBps: number | null;
    objectMB: number | null;
    reps: number;
    /** Bare `curl -T` uploads timed: two per round but the first (see above). */
    bareUploads: number;
  };
}

const CREDENTIALS = { accessKeyId: 'AKIABENCH00000000000', secretAccessKey: 'bench-not-a-secret' };

export async function uploadThroughput(ctx: SuiteContext, target: BenchTarget): Promise<UploadResult> {
  const reps = ctx.quick ? 1 : 7;
  const flood = ctx.quick ? { pps: 5_000, seconds: 1 } : { pps: 20_000, seconds: 2 };
  const s3 = await startS3({ bucket: 'debug-task-bench' });
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: 'xx-bench-1',
    credentials: CREDENTIALS,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  const presignPut = (key: string) =>
    getSignedUrl(client, new PutObjectCommand({ Bucket: s3.bucket, Key: key }), { expiresIn: 900 });
  const runner: number[] = [];
  const bare: number[] = [];
  const sizes: number[] = [];
  // The previous round's object (a copy of what its runner uploaded), uploaded bare before this
  // round's runner starts.
  const copies = await mkdtemp(join(ctx.tmp, 'upload-copies-'));
  const bareUpload = async (file: string, bytes: number, key: string): Promise<number> => {
    const curl = await run('curl', ['-sS', '-T', file, await presignPut(key)], { timeoutMs: 120_000 });
    bare.push(bytes / 1e6 / (curl.ms / 1000));
    return curl.ms;
  };
  let previous: { file: string; bytes: number; key: string } | undefined;
  try {
    for (let rep = 0; rep < reps; rep++) {
      const home = await mkdtemp(join(ctx.tmp, 'upload-'));
      const sessionId = newSessionId();
      const key = `bench/${sessionId}/artifact.pcap.gz`;
      try {
        const before = previous && {
          ms: await bareUpload(previous.file, previous.bytes, `${previous.key}.before`),
          bytes: previous.bytes,
        };
        let packagedAt = Number.NaN;
        let uploadedAt = Number.NaN;
        const running = runHostRunner(
          {
            action: 'run',
            sessionId,
            containerId: target.id,
            tool: 'tcpdump',
            durationSeconds: String(flood.seconds + 2),
            maxBytes: '500000000',
            maxSessions: '99',
            image: ctx.image,
            uploadUrl: await presignPut(key),
            expiresAt: String(Math.floor(Date.now() / 1000) + 120),
          },
          {
            home,
            onStderr: (line) => {
              if (/: artifact: \d+ bytes/.test(line)) packagedAt = nowMs();
              else if (/: uploaded to /.test(line)) uploadedAt = nowMs();
            },
          },
        );
        await waitForFileText(join(home, sessionId, 'out', 'tool.err'), 'listening on', 30_000);
        await runFlood(target.address, flood.pps, flood.seconds, 1400);
        const result = await running;
        const objectBytes = result.manifest?.artifact?.objectBytes;
        if (result.manifest?.status !== 'OK' || !result.manifest.artifact?.uploaded || !objectBytes) {
          throw new Error(
            `the runner did not upload: ${result.manifest?.error?.message ?? result.stderr.slice(-600)}`,
          );
        }
        const runnerMs = uploadedAt - packagedAt;
        if (!(runnerMs > 0))
          throw new Error('the runner printed no "artifact:" / "uploaded to" progress lines');

        // The same bytes, with a bare curl, to another key of the same bucket.
        const file = join(copies, `${rep}.gz`);
        const object = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
        await pipeline(object.Body as Readable, createWriteStream(file));
        const after = await bareUpload(file, objectBytes, `${key}.bare`);
        if (previous) await rm(previous.file, { force: true });
        previous = { file, bytes: objectBytes, key };
        runner.push(objectBytes / 1e6 / (runnerMs / 1000));
        sizes.push(objectBytes / 1e6);
        ctx.log(
          `  upload ${rep + 1}/${reps}: ${(objectBytes / 1e6).toFixed(1)} MB, runner ${runnerMs.toFixed(0)} ms, bare curl ${before ? `${before.ms.toFixed(0)} ms before (${(before.bytes / 1e6).toFixed(1)} MB), ` : ''}${after.toFixed(0)} ms after`,
        );
      } finally {
        await removeSessionContainers(sessionId);
        await rm(home, { recursive: true, force: true });
      }
    }
  } finally {
    client.destroy();
    await s3.stop();
    await rm(copies, { recursive: true, force: true });
  }
  return {
    uploadThroughputRatio: round(ratio(median(runner), median(bare))),
    raw: {
      runnerMBps: round(median(runner), 1),
      bareCurlMBps: round(median(bare), 1),
      objectMB: round(median(sizes), 1),
      reps,
      bareUploads: bare.length,
    },
  };
}
