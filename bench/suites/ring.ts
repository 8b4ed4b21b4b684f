import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { newSessionId } from '../../lib/domain/session';
import { runHostRunner } from '../../lib/host/local-runner';
import {
  containerPid,
  floodRunValues,
  removeSessionContainers,
  sampleCgroup,
  type BenchTarget,
} from '../lib/containers';
import { ringFilesBytes } from '../lib/ring-files';
import { FLOOD_PORT, runFlood, type FloodResult } from '../lib/flood';
import { waitForFileText } from '../lib/proc';
import { round, sleep } from '../lib/stats';
import type { SuiteContext } from '../lib/context';

/**
 * The ring buffer's host footprint under a flood (issue 13): a size ring and a time ring (bounded
 * by maxBytes) capture a UDP flood of large packets from this host to the target container, while
 * the ring's files in the capture's work dir are summed every 100 ms; the toolbox's cgroup gives
 * its memory. What a host pays for a ring left running through an incident: its disk stays at the
 * bound plus one file, its memory at tcpdump's own.
 */

export interface RingTrial {
  kind: 'size' | 'time';
  /** The ring's bound: its size, or a time ring's maxBytes. */
  boundBytes: number;
  /** tcpdump's largest file (-C, whole megabytes). */
  fileBytes: number;
  /** The most the ring's files held on disk at one sample. */
  mostOnDiskBytes: number;
  samples: number;
  artifactBytes: number | null;
  /** A time ring: the span its artifact keeps (first packet to the end of the capture). */
  keptSeconds: number | null;
  capturedPackets: number | null;
  memoryPeakMiB: number | null;
  flood: FloodResult;
}

const FLOOD_SECONDS = 10;
const FLOOD_PPS = 40_000;
const PAYLOAD_BYTES = 1200;
const BOUND_BYTES = 16_000_000;

async function ringTrial(
  ctx: SuiteContext,
  target: BenchTarget,
  kind: RingTrial['kind'],
): Promise<RingTrial> {
  const home = await mkdtemp(join(ctx.tmp, 'ring-'));
  const sessionId = newSessionId();
  try {
    const running = runHostRunner(
      floodRunValues(target, ctx.image, sessionId, FLOOD_SECONDS, {
        maxBytes: String(BOUND_BYTES),
        ...(kind === 'size' ? { ringBytes: String(BOUND_BYTES) } : { ringSeconds: '5' }),
        filter: `udp port ${FLOOD_PORT}`,
      }),
      { home },
    );
    const out = join(home, sessionId, 'out');
    await waitForFileText(join(out, 'tool.err'), 'listening on', 30_000);
    const pid = await containerPid(`debug-task-${sessionId}`);
    let most = 0;
    let samples = 0;
    let flooding = true;
    const sampling = (async () => {
      while (flooding) {
        most = Math.max(most, await ringFilesBytes(out));
        samples++;
        await sleep(100);
      }
    })();
    const flood = await runFlood(target.address, FLOOD_PPS, FLOOD_SECONDS, PAYLOAD_BYTES);
    const cgroup = await sampleCgroup(pid).catch(() => null);
    flooding = false;
    await sampling;
    const result = await running;
    const manifest = result.manifest;
    if (manifest?.status !== 'OK') {
      throw new Error(`the ${kind} ring failed: ${manifest?.error?.message ?? result.stderr.slice(-600)}`);
    }
    const ring = manifest.ring;
    const ended = manifest.timings.captureEndedAt;
    const peak = cgroup?.memoryPeakBytes ?? cgroup?.memoryBytes ?? null;
    return {
      kind,
      boundBytes: BOUND_BYTES,
      fileBytes: Math.max(1, Math.floor(BOUND_BYTES / 8_000_000)) * 1_000_000,
      mostOnDiskBytes: most,
      samples,
      artifactBytes: manifest.artifact?.bytes ?? null,
      keptSeconds:
        kind === 'time' && ring?.firstPacketAt !== undefined && ended !== undefined
          ? round((ended - ring.firstPacketAt) / 1000, 2)
          : null,
      capturedPackets: ring?.capturedPackets ?? null,
      memoryPeakMiB: peak === null || !Number.isFinite(peak) ? null : round(peak / 2 ** 20, 1),
      flood,
    };
  } finally {
    await removeSessionContainers(sessionId);
    await rm(home, { recursive: true, force: true });
  }
}

export async function ringFootprint(ctx: SuiteContext, target: BenchTarget): Promise<RingTrial[]> {
  const trials: RingTrial[] = [];
  for (const kind of ['size', 'time'] as const) {
    const trial = await ringTrial(ctx, target, kind);
    ctx.log(
      `bench: ring (${kind}): at most ${trial.mostOnDiskBytes} bytes on disk (bound ${trial.boundBytes}), ` +
        `memory peak ${trial.memoryPeakMiB} MiB, flood ${trial.flood.pps} pps x ${PAYLOAD_BYTES} B`,
    );
    trials.push(trial);
  }
  return trials;
}
