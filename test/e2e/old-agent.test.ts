import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { sessionKeys } from '../../lib/domain/session';
import { tcpdumpLines } from '../support/pcap';
import { runCli } from '../support/cli';
import { containersOfSession } from '../support/docker';
import { pwnedFiles } from '../support/hostile';
import { useSandboxWithTarget } from '../support/sandbox-with-target';

/**
 * A host whose SSM agent is 3.2.0.0 (Flatcar's stable 4152.2.1 carried it): no ENV_VAR
 * interpolation, so the sandbox's SSM stand-in writes each parameter into the bootstrap's text, as
 * that agent does. A whole session through the real CLI, API, state machine and runner: a verified
 * capture, its manifest saying `paramMode: text`, and values full of what a shell reads specially
 * (all admitted by their patterns) arriving on the host exactly as sent, running nothing.
 */

jest.setTimeout(240_000);

describe('a session on a host whose SSM agent is 3.2.0.0 (the document’s text mode)', () => {
  const e2e = useSandboxWithTarget('old-agent', { agentVersion: '3.2.0.0' });

  it('gets a verified capture, and a filter and reason full of shell syntax reach the host as written', async () => {
    const pwnedBefore = pwnedFiles();
    // Valid BPF that matches the demo's HTTP traffic; every character admitted by the filter pattern.
    const filter = '(tcp port 80) && !(port 22) && (len > 0 || tcp[13] & 2 != 0)';
    const reason = 'incident #42 (rm -rf /) a=b+c, @oncall: see /runbook';
    const output = join(e2e.workdir, 'old-agent.pcap');

    const run = await runCli(
      e2e.captureArgs('--duration', '3s', '--filter', filter, '--reason', reason, '-o', output, '--json'),
      { env: e2e.cliEnv() },
    );

    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    const result = run.json();
    expect(result).toMatchObject({ status: 'SUCCEEDED', artifact: { format: 'pcap' } });
    expect(createHash('sha256').update(readFileSync(output)).digest('hex')).toBe(result.artifact.sha256);
    const packets = tcpdumpLines(output);
    expect(packets.length).toBeGreaterThan(5);
    expect(packets.every((line) => /\.80[ :]/.test(line))).toBe(true);

    // The child's manifest, as the runner put it in S3: the mode that ran, and the reason as sent.
    const s3 = new S3Client({
      region: e2e.sandbox.region,
      endpoint: process.env.AWS_ENDPOINT_URL_S3,
      forcePathStyle: true,
    });
    try {
      const child = `${result.sessionId}-0000`;
      const object = await s3.send(
        new GetObjectCommand({ Bucket: e2e.sandbox.bucket, Key: sessionKeys.childManifest(child) }),
      );
      const manifest = JSON.parse(await object.Body!.transformToString());
      expect(manifest).toMatchObject({
        sessionId: child,
        status: 'OK',
        paramMode: 'text',
        audit: { reason },
      });
    } finally {
      s3.destroy();
    }
    expect(containersOfSession(result.sessionId)).toEqual([]);
    expect(pwnedFiles()).toEqual(pwnedBefore);
  });
});
