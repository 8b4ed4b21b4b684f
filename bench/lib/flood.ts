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

export async function runFlood(
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
      String(pps),
      String(seconds),
      String(payloadBytes),
    ],
    { timeoutMs: (seconds + 15) * 1000 },
  );
  return JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as FloodResult;
}
