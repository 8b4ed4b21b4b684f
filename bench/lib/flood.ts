import { join } from 'node:path';
import { run } from './proc';

/** Runs bench/flood.ts in its own process (see there); resolves when the flood is over. */
export interface FloodResult {
  sent: number;
  seconds: number;
  pps: number;
  errors: number;
}

export const FLOOD_PORT = 9999;

/**
 * One generator process sends ~110-125k packets/s here (BENCHMARKS.md): a higher rate is split
 * over several processes, each a share of it, so the ladder can climb past one process's ceiling to
 * where the host's own tcpdump starts dropping.
 */
export const PPS_PER_GENERATOR = 100_000;

export async function runFlood(
  address: string,
  pps: number,
  seconds: number,
  payloadBytes: number,
): Promise<FloodResult> {
  const generators = Math.max(1, Math.ceil(pps / PPS_PER_GENERATOR));
  const shares = await Promise.all(
    Array.from({ length: generators }, () => oneFlood(address, pps / generators, seconds, payloadBytes)),
  );
  const sent = shares.reduce((sum, r) => sum + r.sent, 0);
  const longest = Math.max(...shares.map((r) => r.seconds));
  return {
    sent,
    seconds: longest,
    // Over the longest share: the rate every generator together kept up.
    pps: Math.round(sent / Math.max(longest, 1e-3)),
    errors: shares.reduce((sum, r) => sum + r.errors, 0),
  };
}

async function oneFlood(
  address: string,
  pps: number,
  seconds: number,
  payloadBytes: number,
): Promise<FloodResult> {
  const result = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      join(__dirname, '..', 'flood.ts'),
      address,
      String(FLOOD_PORT),
      String(Math.round(pps)),
      String(seconds),
      String(payloadBytes),
    ],
    // Generous: on a loaded machine several generators starting at once take seconds to load tsx.
    { timeoutMs: (seconds + 45) * 1000 },
  );
  return JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as FloodResult;
}
