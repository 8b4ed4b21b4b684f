/**
 * A bounded UDP flood, run as its own process so the benchmark's event loop does not pace it:
 *
 *   node --import tsx bench/flood.ts <address> <port> <packetsPerSecond> <seconds> <payloadBytes>
 *
 * Sends to one address only (the benchmark passes a container it created, or loopback), at most
 * rate x seconds packets and for at most seconds + 1 s, then exits by itself. Payloads are slices of
 * a random buffer (incompressible, so a capture of them is a realistic upload). Prints one JSON line:
 * {"sent", "seconds", "pps", "errors"}: `sent` counts only the datagrams the kernel took. (On a
 * connected UDP socket a pending ICMP "port unreachable" fails the next send, whose datagram then
 * never leaves; the target answers a few of those, rate-limited.)
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';

const MAX_PPS = 2_000_000;
const MAX_SECONDS = 30;
/** Sends not yet completed: past this, the generator waits (the kernel queue is full). */
const MAX_IN_FLIGHT = 512;

export interface FloodArgs {
  address: string;
  port: number;
  pps: number;
  seconds: number;
  payloadBytes: number;
}

export function parseFloodArgs(argv: string[]): FloodArgs {
  const [address, port, pps, seconds, payloadBytes] = argv;
  const args = {
    address,
    port: Number(port),
    pps: Number(pps),
    seconds: Number(seconds),
    payloadBytes: Number(payloadBytes ?? 64),
  };
  if (!isIP(args.address)) throw new Error(`flood: "${address}" is not an IP address`);
  if (!Number.isInteger(args.port) || args.port < 1 || args.port > 65535) throw new Error('flood: bad port');
  if (!(args.pps > 0 && args.pps <= MAX_PPS)) throw new Error(`flood: rate must be 1..${MAX_PPS} pps`);
  if (!(args.seconds > 0 && args.seconds <= MAX_SECONDS))
    throw new Error(`flood: 0 < seconds <= ${MAX_SECONDS}`);
  if (!(args.payloadBytes >= 1 && args.payloadBytes <= 1472)) throw new Error('flood: payload 1..1472 bytes');
  return args;
}

export async function flood(
  args: FloodArgs,
): Promise<{ sent: number; seconds: number; pps: number; errors: number }> {
  const socket = createSocket(isIP(args.address) === 6 ? 'udp6' : 'udp4');
  socket.connect(args.port, args.address);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined); // ICMP unreachable answers surface here; they are expected
  const pool = randomBytes(1 << 20);
  const total = Math.round(args.pps * args.seconds);
  const hardStop = Date.now() + (args.seconds + 1) * 1000;
  let sent = 0;
  let errors = 0;
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const onSent = (error: Error | null) => {
    inFlight--;
    if (error) errors++;
    if (drained && inFlight < MAX_IN_FLIGHT / 2) {
      const wake = drained;
      drained = undefined;
      wake();
    }
  };
  const start = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - start) / 1e9;
  while (sent < total && Date.now() < hardStop) {
    // Send what the schedule says should be out by now, then yield for about a millisecond.
    const due = Math.min(total, Math.floor(elapsed() * args.pps) + 1);
    while (sent < due) {
      if (inFlight >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => (drained = resolve));
      const offset = (sent * 7919) % (pool.length - args.payloadBytes);
      inFlight++;
      socket.send(pool.subarray(offset, offset + args.payloadBytes), onSent);
      sent++;
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const seconds = elapsed();
  while (inFlight > 0) await new Promise<void>((resolve) => setImmediate(resolve));
  socket.close();
  const delivered = sent - errors;
  return { sent: delivered, seconds, pps: Math.round(delivered / Math.max(seconds, 1e-3)), errors };
}

if (require.main === module) {
  flood(parseFloodArgs(process.argv.slice(2))).then(
    (result) => console.log(JSON.stringify(result)),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exitCode = 1;
    },
  );
}
