import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { SessionView } from '../../../lib/domain/session';
import { pcapOf } from '../../support/fake-fleet-api';

/**
 * `debug-task fetch <session> -o -`: the real CLI (bin through tsx) against a stand-in of GET
 * /sessions?id=, GET /clusters/{cluster}/sessions/{id} and of S3's presigned download, with its stdout kept as bytes.
 */

jest.setTimeout(60_000);

const ROOT = join(__dirname, '..', '..', '..');
const SESSION = 'dt-20261125120000-abc123';
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** A finished session whose artifact is `pcap`; `tamper` serves other bytes than the facts say. */
async function startApi(pcap: Buffer, tamper = false): Promise<{ url: string; server: Server }> {
  const gz = gzipSync(pcap);
  const served = tamper ? gzipSync(Buffer.concat([pcap, Buffer.from('x')])) : gz;
  let base = '';
  const view = (): SessionView => ({
    sessionId: SESSION,
    status: 'SUCCEEDED',
    downloadUrls: { [`${SESSION}-0000`]: `${base}/artifact` },
    result: {
      sessionId: SESSION,
      status: 'SUCCEEDED',
      kind: 'task',
      target: {
        cluster: 'prod',
        clusterArn: 'arn:aws:ecs:xx-test-1:123456789012:cluster/prod',
        task: 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef',
      },
      tool: 'tcpdump',
      counts: { listed: 1, targets: 1, succeeded: 1, failed: 0, skipped: 0, leftOut: 0 },
      children: [
        {
          index: 0,
          sessionId: `${SESSION}-0000`,
          taskArn: 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef',
          clusterArn: 'arn:aws:ecs:xx-test-1:123456789012:cluster/prod',
          container: 'web',
          instanceId: 'i-0123456789abcdef0',
          status: 'SUCCEEDED',
          tool: { name: 'tcpdump', exitCode: 0, packets: 3, dropped: 0 },
          artifact: {
            format: 'pcap',
            compression: 'gzip',
            bytes: pcap.length,
            sha256: sha(pcap),
            objectBytes: gz.length,
            objectSha256: sha(gz),
            linkType: 'EN10MB',
            truncated: false,
            s3Uri: `s3://bucket/sessions/${SESSION}/children/${SESSION}-0000/artifact.pcap.gz`,
            bucket: 'bucket',
            key: `sessions/${SESSION}/children/${SESSION}-0000/artifact.pcap.gz`,
          },
          timings: { captureStartedAt: 1000, captureEndedAt: 6000 },
        },
      ],
      skipped: [],
      recordUri: `s3://bucket/sessions/${SESSION}/manifest.json`,
      timings: { requestedAt: '2026-11-25T12:00:00.000Z', collectedAt: '2026-11-25T12:00:07.000Z' },
    },
  });
  const server = createServer((req, res) => {
    // Where the session is (GET /sessions?id=), then its view in that cluster.
    if (req.url === `/sessions?id=${SESSION}`)
      res.end(JSON.stringify({ sessions: [{ sessionId: SESSION, cluster: 'prod' }] }));
    else if (req.url === `/clusters/prod/sessions/${SESSION}`) res.end(JSON.stringify(view()));
    else if (req.url === '/artifact') res.end(served);
    else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url: base, server };
}

/** The CLI with its stdout as bytes; `readBytes` closes the pipe after that many (a `| head -c`). */
function fetchCli(apiUrl: string, extra: string[] = [], readBytes?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      join(ROOT, 'node_modules', '.bin', 'tsx'),
      [join(ROOT, 'bin', 'debug-task.ts'), 'fetch', SESSION, '--api-url', apiUrl, '-o', '-', ...extra],
      // This test's environment (fake credentials and region, test/setup-env.ts) for the signer.
      { stdio: ['ignore', 'pipe', 'pipe'], env: process.env },
    );
    const out: Buffer[] = [];
    let received = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      if (readBytes !== undefined && received >= readBytes) return;
      out.push(chunk);
      received += chunk.length;
      if (readBytes !== undefined && received >= readBytes) child.stdout.destroy();
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
  });
}

describe('debug-task fetch <session> -o - (the artifact on stdout, for a pipe)', () => {
  let server: Server | undefined;
  afterEach(async () => {
    const running = server;
    server = undefined;
    if (running) await new Promise((resolve) => running.close(resolve));
  });

  it('writes exactly the verified artifact to stdout, and the summary to stderr', async () => {
    const pcap = pcapOf([
      [1000, 0],
      [1001, 5],
      [1002, 9],
    ]);
    const api = await startApi(pcap);
    server = api.server;

    const run = await fetchCli(api.url);

    expect(run.code).toBe(0);
    expect(run.stdout.equals(pcap)).toBe(true);
    expect(run.stderr).toContain(`session   ${SESSION}  SUCCEEDED`);
    expect(run.stderr).toContain(`artifact  -\n`);
    expect(run.stderr).toContain(`sha256 ${sha(pcap)} verified`);
    // A real reader of pcaps takes it from the pipe.
    const read = spawnSync('tcpdump', ['-nn', '-r', '-'], { input: run.stdout, encoding: 'utf8' });
    expect(read.stdout.trim().split('\n')).toHaveLength(3);
  });

  it('writes nothing to stdout when the download does not match what the host computed', async () => {
    const api = await startApi(pcapOf([[1000, 0]]), true);
    server = api.server;

    const run = await fetchCli(api.url);

    expect(run.code).toBe(4);
    expect(run.stdout.length).toBe(0);
    expect(run.stderr).toContain('error UPLOAD_FAILED: The object does not match what the host computed');
  });

  it('ends quietly, exit 0, when the reader stops early (| head)', async () => {
    // A few MB, so the pipe fills and the CLI is still writing when the reader goes away.
    const pcap = pcapOf(Array.from({ length: 60_000 }, (_, i): [number, number] => [1000 + i, 0]));
    const api = await startApi(pcap);
    server = api.server;

    const run = await fetchCli(api.url, [], 1000);

    expect(run.code).toBe(0);
    expect(run.stdout.subarray(0, 24).equals(pcap.subarray(0, 24))).toBe(true);
    expect(run.stderr).not.toContain('error');
  });

  it('refuses --json with -o - (both would be stdout) with INVALID_ARGUMENT, exit 2, before any request', async () => {
    const run = await fetchCli('http://127.0.0.1:9/', ['--json']);

    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout.toString().trim())).toMatchObject({
      error: { code: 'INVALID_ARGUMENT', message: '--json and -o - both write to stdout.' },
    });
  });
});
