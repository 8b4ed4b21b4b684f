import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { ErrorBody } from '../../lib/domain/errors';
import type { FleetChild, FleetPreview, FleetResult, FleetSkipped } from '../../lib/domain/host-plan';
import type { SessionView } from '../../lib/domain/session';

/**
 * A stand-in for the fleet routes of the API (no SigV4 check, no state machine): POST
 * /sessions/preview, POST /sessions, GET and DELETE /sessions/{id}, and GET /artifacts/<child> serving
 * real gzipped pcaps with the sha256s a host would report. Enough to drive the CLI's fleet flow.
 */

export const SESSION_ID = 'dt-20261125120000-abc123';
export const CLUSTER = 'prod';
export const SERVICE = 'web';

export interface FakeChild {
  taskId: string;
  /** Default SUCCEEDED with a pcap. */
  fail?: ErrorBody;
  /** Serve other bytes than the facts say (a tampered object). */
  tamper?: boolean;
  /** Packets of the child's pcap: [seconds, microseconds] each. */
  packets?: Array<[number, number]>;
  linkType?: number;
}

export interface FakeFleetApi {
  url: string;
  calls: string[];
  /** The request bodies of POST /sessions and /sessions/preview. */
  bodies: unknown[];
  stop(): Promise<void>;
}

export const taskArn = (taskId: string) => `arn:aws:ecs:xx-test-1:123456789012:task/${CLUSTER}/${taskId}`;

/** A classic little-endian µs pcap of UDP frames at the given times. */
export function pcapOf(packets: Array<[number, number]>, linkType = 1): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(linkType, 20);
  const parts: Buffer[] = [header];
  for (const [sec, usec] of packets) {
    const frame = Buffer.from(
      '0200000000020200000000010800' +
        '4500002200000000401100000a0000010a000002' +
        '13881770000e0000' +
        '68656c6c6f21',
      'hex',
    );
    const record = Buffer.alloc(16);
    record.writeUInt32LE(sec, 0);
    record.writeUInt32LE(usec, 4);
    record.writeUInt32LE(frame.length, 8);
    record.writeUInt32LE(frame.length, 12);
    parts.push(record, frame);
  }
  return Buffer.concat(parts);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export async function startFakeFleetApi(options: {
  children: FakeChild[];
  skipped?: FleetSkipped[];
  listed?: number;
  /** GETs answered RUNNING before the result (default 2). */
  runningPolls?: number;
  /** Stay RUNNING until cancelled. */
  hang?: boolean;
  /** The whole fleet fails with this error. */
  fleetError?: ErrorBody;
}): Promise<FakeFleetApi> {
  const calls: string[] = [];
  const bodies: unknown[] = [];
  let polls = 0;
  let cancelled = false;
  const objects = new Map<string, Buffer>();
  let base = '';

  const children: FleetChild[] = options.children.map((c, index) => {
    const sessionId = `${SESSION_ID}-${String(index).padStart(4, '0')}`;
    const common = {
      index,
      sessionId,
      taskArn: taskArn(c.taskId),
      container: 'app',
      instanceId: 'i-0123456789abcdef0',
    };
    if (c.fail) return { ...common, status: 'FAILED', error: c.fail };
    const pcap = pcapOf(c.packets ?? [[1000 + index, 0]], c.linkType);
    const gz = gzipSync(pcap);
    objects.set(sessionId, c.tamper ? gzipSync(Buffer.concat([pcap, Buffer.from('x')])) : gz);
    return {
      ...common,
      status: 'SUCCEEDED',
      tool: { name: 'tcpdump', exitCode: 0, packets: (c.packets ?? [0]).length, dropped: 0 },
      artifact: {
        format: 'pcap',
        compression: 'gzip',
        bytes: pcap.length,
        sha256: sha(pcap),
        objectBytes: gz.length,
        objectSha256: sha(gz),
        linkType: 'EN10MB',
        truncated: false,
        s3Uri: `s3://bucket/sessions/${SESSION_ID}/children/${sessionId}/artifact.pcap.gz`,
        bucket: 'bucket',
        key: `sessions/${SESSION_ID}/children/${sessionId}/artifact.pcap.gz`,
      },
    };
  });
  const skipped = options.skipped ?? [];
  const listed = options.listed ?? children.length + skipped.length;
  const preview: FleetPreview = {
    target: { cluster: CLUSTER, service: SERVICE },
    targets: children.map((c) => ({ taskArn: c.taskArn, container: c.container, instanceId: c.instanceId })),
    skipped,
    listed,
    maxTasks: 100,
    leftOut: listed - children.length - skipped.length,
    instances: 1,
  };
  const failed = children.filter((c) => c.status === 'FAILED').length;
  const result: FleetResult = {
    kind: 'fleet',
    sessionId: SESSION_ID,
    status: 'SUCCEEDED',
    target: { cluster: CLUSTER, service: SERVICE },
    counts: {
      listed,
      targets: children.length,
      succeeded: children.length - failed,
      failed,
      skipped: skipped.length,
      leftOut: preview.leftOut,
    },
    startAt: 1000,
    children,
    skipped,
    manifestUri: `s3://bucket/sessions/${SESSION_ID}/manifest.json`,
  };

  const view = (): SessionView => {
    if (cancelled) {
      return {
        sessionId: SESSION_ID,
        status: 'FAILED',
        error: { code: 'CANCELLED', message: 'cancelled', hint: 'h' },
      };
    }
    if (options.hang || polls++ < (options.runningPolls ?? 2)) {
      return { sessionId: SESSION_ID, status: 'RUNNING', phase: 'Wait' };
    }
    if (options.fleetError) return { sessionId: SESSION_ID, status: 'FAILED', error: options.fleetError };
    return {
      sessionId: SESSION_ID,
      status: 'SUCCEEDED',
      result,
      downloadUrls: Object.fromEntries(
        [...objects.keys()].map((id) => [id, `${base}/artifacts/${id}?X-Amz-Signature=x`]),
      ),
    };
  };

  const server: Server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    calls.push(`${req.method} ${path}`);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'POST') bodies.push(JSON.parse(await readBody(req)));
    if (req.method === 'POST' && path === '/sessions/preview') return send(200, preview);
    if (req.method === 'POST' && path === '/sessions')
      return send(202, { sessionId: SESSION_ID, status: 'RUNNING' });
    if (req.method === 'GET' && path === `/sessions/${SESSION_ID}`) return send(200, view());
    if (req.method === 'DELETE' && path === `/sessions/${SESSION_ID}`) {
      cancelled = true;
      return send(202, { sessionId: SESSION_ID, status: 'CANCELLING' });
    }
    const object = path.startsWith('/artifacts/') ? objects.get(path.slice('/artifacts/'.length)) : undefined;
    if (req.method === 'GET' && object) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      return res.end(object);
    }
    send(404, { message: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    calls,
    bodies,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text || '{}';
}
