import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { ErrorBody } from '../../lib/domain/errors';
import type {
  ChildResult,
  ReuploadView,
  SessionResult,
  SessionView,
  SkippedTask,
  TargetsPreview,
} from '../../lib/domain/session';

/**
 * A stand-in for the API of a service session (no SigV4 check, no state machine): the routes of
 * lib/domain/routes.ts under /clusters/<cluster> (preview, start, get, cancel, re-upload and its
 * status), GET /sessions?id=, and GET /artifacts/<child> serving real gzipped pcaps with the
 * sha256s a host would report. Enough to drive the CLI's fleet flow.
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
  /** The upload failed: the child ends UPLOAD_FAILED until a re-upload puts its artifact in S3. */
  uploadFailed?: boolean;
  /** Packets of the child's pcap: [seconds, microseconds] each. */
  packets?: Array<[number, number]>;
  linkType?: number;
}

export interface FakeFleetApi {
  url: string;
  calls: string[];
  /** The request bodies of POST /sessions and /sessions/preview. */
  bodies: unknown[];
  /** Children uploaded again (POST /sessions/{id}/reupload). */
  reuploaded: string[];
  stop(): Promise<void>;
}

export const CLUSTER_ARN = `arn:aws:ecs:xx-test-1:123456789012:cluster/${CLUSTER}`;
export const taskArn = (taskId: string) => `arn:aws:ecs:xx-test-1:123456789012:task/${CLUSTER}/${taskId}`;
const REUPLOAD_ID = 'r1';

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
  skipped?: SkippedTask[];
  listed?: number;
  /** GETs answered RUNNING before the result (default 2). */
  runningPolls?: number;
  /** Stay RUNNING until cancelled or stopped (a stop then ends it SUCCEEDED, every capture kept early). */
  hang?: boolean;
  /** The whole fleet fails with this error. */
  fleetError?: ErrorBody;
  /** GETs after a stop still RUNNING (default 2); 0: the stop has ended the session when it answers. */
  stopEndsAfterPolls?: number;
  /** How long POST .../stop takes to answer (a second Ctrl-C can come meanwhile). */
  stopAnswerDelayMs?: number;
}): Promise<FakeFleetApi> {
  const calls: string[] = [];
  const bodies: unknown[] = [];
  const reuploaded: string[] = [];
  let reuploadPolls = 0;
  let polls = 0;
  let cancelled = false;
  let stopped = false;
  /** GETs after the stop still RUNNING: a real stop takes a poll and an upload. */
  let pollsSinceStop = 0;
  const objects = new Map<string, Buffer>();
  /** Artifacts the hosts kept after a failed upload, by child id. */
  const kept = new Map<string, Buffer>();
  let base = '';

  /** Each child as it ends once its artifact is in S3 (`succeeded`), and as the session first reports it. */
  const made = options.children.map((c, index) => {
    const sessionId = `${SESSION_ID}-${String(index).padStart(4, '0')}`;
    const common = {
      index,
      sessionId,
      taskArn: taskArn(c.taskId),
      clusterArn: CLUSTER_ARN,
      container: 'app',
      instanceId: 'i-0123456789abcdef0',
    };
    if (c.fail)
      return { succeeded: undefined, first: { ...common, status: 'FAILED', error: c.fail } as ChildResult };
    const pcap = pcapOf(c.packets ?? [[1000 + index, 0]], c.linkType);
    const gz = gzipSync(pcap);
    const key = `sessions/${SESSION_ID}/children/${sessionId}/artifact.pcap.gz`;
    const succeeded: ChildResult = {
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
        s3Uri: `s3://bucket/${key}`,
        bucket: 'bucket',
        key,
      },
    };
    const stored = c.tamper ? gzipSync(Buffer.concat([pcap, Buffer.from('x')])) : gz;
    if (!c.uploadFailed) objects.set(sessionId, stored);
    else kept.set(sessionId, stored);
    const first: ChildResult = c.uploadFailed
      ? {
          ...common,
          status: 'FAILED',
          error: {
            code: 'UPLOAD_FAILED',
            message: `The upload failed. It is kept on i-0123456789abcdef0 at /var/lib/debug-task/${sessionId}/artifact.pcap.gz.`,
            hint: `\`debug-task fetch ${sessionId}\` uploads it again.`,
          },
        }
      : succeeded;
    return { succeeded, first };
  });
  const children = made.map((m) => m.first);
  const skipped = options.skipped ?? [];
  const listed = options.listed ?? children.length + skipped.length;
  const preview: TargetsPreview = {
    target: { cluster: CLUSTER, service: SERVICE },
    targets: children.map((c) => ({ taskArn: c.taskArn, container: c.container, instanceId: c.instanceId })),
    skipped,
    listed,
    maxTasks: 100,
    leftOut: listed - children.length - skipped.length,
    instances: 1,
  };
  const failed = children.filter((c) => c.status === 'FAILED').length;
  const result: SessionResult = {
    kind: 'service',
    sessionId: SESSION_ID,
    status: 'SUCCEEDED',
    target: { cluster: CLUSTER, clusterArn: CLUSTER_ARN, service: SERVICE },
    tool: 'tcpdump',
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
    recordUri: `s3://bucket/sessions/${SESSION_ID}/manifest.json`,
    timings: { requestedAt: '2026-11-25T12:00:00.000Z', collectedAt: '2026-11-25T12:02:00.000Z' },
  };
  const downloadUrls = (ids: string[]) =>
    Object.fromEntries(ids.map((id) => [id, `${base}/artifacts/${id}?X-Amz-Signature=x`]));

  /** The re-upload: RUNNING once, then the kept artifacts are in S3 and their children succeeded. */
  const reuploadView = (): ReuploadView => {
    if (reuploadPolls++ < 1)
      return { sessionId: SESSION_ID, reuploadId: REUPLOAD_ID, status: 'RUNNING', phase: 'Poll' };
    for (const [id, bytes] of kept) objects.set(id, bytes);
    const again = made.map((m) => (m.succeeded && kept.has(m.first.sessionId) ? m.succeeded : m.first));
    return {
      sessionId: SESSION_ID,
      reuploadId: REUPLOAD_ID,
      status: 'SUCCEEDED',
      result: { ...result, children: again },
      downloadUrls: downloadUrls([...kept.keys()]),
    };
  };

  const view = (): SessionView => {
    if (cancelled) {
      return {
        sessionId: SESSION_ID,
        status: 'FAILED',
        error: { code: 'CANCELLED', message: 'cancelled', hint: 'h' },
      };
    }
    if (stopped && !options.fleetError && pollsSinceStop++ >= (options.stopEndsAfterPolls ?? 2)) {
      // Each capture ran 42 s of the 300 asked for, and says it was stopped early.
      const early = result.children.map((c) =>
        c.status === 'SUCCEEDED'
          ? {
              ...c,
              stoppedEarly: true as const,
              timings: { captureStartedAt: 1_000_000, captureEndedAt: 1_042_000 },
            }
          : c,
      );
      return {
        sessionId: SESSION_ID,
        status: 'SUCCEEDED',
        input: { spec: { durationSeconds: 300 } } as SessionView['input'],
        result: { ...result, children: early },
        downloadUrls: downloadUrls(children.filter((c) => c.status === 'SUCCEEDED').map((c) => c.sessionId)),
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
      downloadUrls: downloadUrls(children.filter((c) => c.status === 'SUCCEEDED').map((c) => c.sessionId)),
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
    // The routes of lib/domain/routes.ts, by the part after the cluster (and the tool).
    const route = /^\/clusters\/[^/]+(?:\/tools\/[^/]+)?(\/.*)$/.exec(path)?.[1];
    if (req.method === 'POST' && route === '/preview') return send(200, preview);
    if (req.method === 'POST' && route === '/sessions')
      return send(202, { sessionId: SESSION_ID, status: 'RUNNING' });
    if (req.method === 'GET' && path === '/sessions') {
      // GET /sessions?id=: where a session is, for a client that did not start it.
      return send(200, { sessions: [{ sessionId: SESSION_ID, status: 'RUNNING', cluster: CLUSTER }] });
    }
    if (req.method === 'GET' && route === `/sessions/${SESSION_ID}`) return send(200, view());
    if (req.method === 'DELETE' && route === `/sessions/${SESSION_ID}`) {
      // As the API: a session that has ended gets no cancel marker, and answers its status.
      if (stopped && pollsSinceStop >= (options.stopEndsAfterPolls ?? 2)) {
        return send(200, { sessionId: SESSION_ID, status: 'SUCCEEDED' });
      }
      cancelled = true;
      return send(202, { sessionId: SESSION_ID, status: 'CANCELLING' });
    }
    if (req.method === 'POST' && route === `/sessions/${SESSION_ID}/stop`) {
      stopped = true;
      if (options.stopAnswerDelayMs) await new Promise((r) => setTimeout(r, options.stopAnswerDelayMs));
      return send(202, { sessionId: SESSION_ID, status: 'STOPPING' });
    }
    if (req.method === 'POST' && route === `/sessions/${SESSION_ID}/reupload`) {
      const ids = [...kept.keys()];
      reuploaded.push(...ids);
      return send(202, { sessionId: SESSION_ID, reuploadId: REUPLOAD_ID, children: ids, status: 'RUNNING' });
    }
    if (req.method === 'GET' && route === `/sessions/${SESSION_ID}/reupload/${REUPLOAD_ID}`) {
      return send(200, reuploadView());
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
    reuploaded,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text || '{}';
}
