import { DebugTaskError } from '../../../lib/domain/errors';
import type { HostSummary } from '../../../lib/domain/host-summary';
import { sessionKeys, type HostOutcome, type RunnerManifest } from '../../../lib/domain/session';
import {
  childVerdict,
  keptArtifactPath,
  localVerdict,
  parseManifest,
  readHostSummary,
  type ChildEvidence,
} from '../../../lib/session/verdict';
import {
  BUCKET,
  CHILD_ID,
  CLUSTER_ARN,
  INSTANCE_ID,
  SESSION_ID,
  TASK_ARN,
  hostSummary,
  manifest,
  planTarget,
} from '../../support/fixtures';

const KEY = sessionKeys.childArtifact(CHILD_ID, 'pcap');
const OBJECT_BYTES = manifest().artifact!.objectBytes;
const host = (
  summary: Partial<HostSummary> | string | undefined,
  extra: Partial<HostOutcome> = {},
): HostOutcome => ({
  instanceId: INSTANCE_ID,
  status: 'Success',
  responseCode: 0,
  ...(summary !== undefined && {
    summaryLine: typeof summary === 'string' ? summary : JSON.stringify(hostSummary(INSTANCE_ID, summary)),
  }),
  ...extra,
});

/** A child whose host ran it and wrote its manifest, and whose object S3 holds. */
function evidence(overrides: Partial<ChildEvidence> = {}): ChildEvidence {
  return {
    target: planTarget(0),
    bucket: BUCKET,
    key: KEY,
    manifest: manifest(),
    host: host({}),
    objectBytes: OBJECT_BYTES,
    fetchId: SESSION_ID,
    ...overrides,
  };
}

const base = {
  index: 0,
  sessionId: CHILD_ID,
  taskArn: TASK_ARN,
  clusterArn: CLUSTER_ARN,
  container: 'app',
  instanceId: INSTANCE_ID,
};

describe('childVerdict', () => {
  it('succeeds with the artifact facts and where S3 holds it, when S3 has an object of the size the runner uploaded', () => {
    const m = manifest();

    expect(childVerdict(evidence())).toEqual({
      ...base,
      status: 'SUCCEEDED',
      tool: m.tool,
      artifact: {
        s3Uri: `s3://${BUCKET}/${KEY}`,
        bucket: BUCKET,
        key: KEY,
        format: 'pcap',
        compression: 'gzip',
        bytes: 204800,
        sha256: 'a'.repeat(64),
        objectBytes: OBJECT_BYTES,
        objectSha256: 'b'.repeat(64),
        linkType: 'EN10MB',
        truncated: false,
      },
      timings: m.timings,
    });
  });

  it('reads null as absent in a manifest, as a bash runner may print it', () => {
    const m = manifest();
    const text = JSON.stringify({
      ...m,
      error: null,
      tool: { ...m.tool, packets: null, dropped: null },
      artifact: { ...m.artifact, linkType: null, hostPath: null },
      timings: { ...m.timings, captureStartedAt: null },
      extra: 'ignored',
    });

    const verdict = childVerdict(evidence({ manifest: parseManifest(text, CHILD_ID) }));

    expect(verdict.status).toBe('SUCCEEDED');
    expect(verdict.artifact).not.toHaveProperty('linkType');
    expect(verdict.timings).not.toHaveProperty('captureStartedAt');
    expect(verdict.tool).toEqual({ name: 'tcpdump', exitCode: 0, packets: null, dropped: null });
  });

  describe('a capture that failed on the host', () => {
    it("fails with the runner's own code and message (HOST_BUSY), keeping the tool and timings", () => {
      const busy = manifest({
        status: 'FAILED',
        error: { code: 'HOST_BUSY', message: `${INSTANCE_ID} already runs 2 debug sessions (the maximum).` },
        artifact: undefined,
      });

      const verdict = childVerdict(evidence({ manifest: busy, objectBytes: undefined }));

      expect(verdict).toMatchObject({
        ...base,
        status: 'FAILED',
        error: { code: 'HOST_BUSY', message: busy.error!.message, details: { instanceId: INSTANCE_ID } },
        tool: busy.tool,
        timings: busy.timings,
      });
      expect(verdict.artifact).toBeUndefined();
    });

    it('fails with CAPTURE_FAILED, keeping the host code in details, for an error code that is not ours', () => {
      const odd = manifest({
        status: 'FAILED',
        error: { code: 'E_WEIRD', message: 'tcpdump: bad interface' },
        artifact: undefined,
      });

      expect(childVerdict(evidence({ manifest: odd })).error).toMatchObject({
        code: 'CAPTURE_FAILED',
        message: 'tcpdump: bad interface',
        details: { hostCode: 'E_WEIRD', toolExitCode: 0 },
      });
    });

    it('fails with UPLOAD_FAILED saying where the artifact is kept and how to fetch it again', () => {
      const hostPath = `/var/lib/debug-task/${CHILD_ID}/artifact.pcap.gz`;
      const failed = manifest({
        status: 'UPLOAD_FAILED',
        error: { code: 'UPLOAD_FAILED', message: 'curl: (28) Operation timed out' },
        artifact: { ...manifest().artifact!, uploaded: false, hostPath },
      });

      const { error } = childVerdict(evidence({ manifest: failed, objectBytes: undefined }));

      expect(error).toMatchObject({
        code: 'UPLOAD_FAILED',
        details: {
          hostPath,
          instanceId: INSTANCE_ID,
          objectKey: KEY,
          taskArn: TASK_ARN,
          clusterArn: CLUSTER_ARN,
          container: 'app',
        },
      });
      expect(error?.message).toContain('curl: (28) Operation timed out');
      expect(error?.message).toContain(`kept on ${INSTANCE_ID} at ${hostPath}`);
      expect(error?.hint).toContain(`debug-task fetch ${SESSION_ID}`);
    });

    it("names the child's own id in the fetch hint when the session has several", () => {
      const failed = manifest({
        status: 'UPLOAD_FAILED',
        artifact: { ...manifest().artifact!, uploaded: false },
      });

      const { error } = childVerdict(evidence({ manifest: failed, fetchId: CHILD_ID }));

      expect(error?.hint).toContain(`debug-task fetch ${CHILD_ID}`);
    });

    it('fails with UPLOAD_FAILED when an OK manifest says its artifact was not uploaded', () => {
      const notUploaded = manifest({ artifact: { ...manifest().artifact!, uploaded: false } });

      expect(childVerdict(evidence({ manifest: notUploaded })).error?.code).toBe('UPLOAD_FAILED');
    });

    it('fails with CAPTURE_FAILED when an OK manifest describes no artifact', () => {
      expect(childVerdict(evidence({ manifest: manifest({ artifact: undefined }) })).error).toMatchObject({
        code: 'CAPTURE_FAILED',
        message: 'The host runner reported success but described no artifact.',
      });
    });
  });

  describe('the uploaded object', () => {
    it('fails with UPLOAD_FAILED when its size differs from what the runner uploaded', () => {
      const { error } = childVerdict(evidence({ objectBytes: 4096 }));

      expect(error).toMatchObject({
        code: 'UPLOAD_FAILED',
        message: `s3://${BUCKET}/${KEY} has 4096 bytes, but the runner uploaded ${OBJECT_BYTES}.`,
        details: { expectedBytes: OBJECT_BYTES, actualBytes: 4096 },
      });
    });

    it('fails with UPLOAD_FAILED when the object does not exist', () => {
      const { error } = childVerdict(evidence({ objectBytes: undefined }));

      expect(error).toMatchObject({ code: 'UPLOAD_FAILED', details: { bucket: BUCKET, key: KEY } });
      expect(error?.message).toContain('does not exist');
    });
  });

  describe('no manifest in S3: what the host said instead', () => {
    const noManifest = (overrides: Partial<ChildEvidence>) =>
      childVerdict(evidence({ manifest: undefined, ...overrides }));

    it('fails with CAPTURE_FAILED when no outcome of its host was recorded', () => {
      const { error } = noManifest({ host: undefined });

      expect(error).toMatchObject({ code: 'CAPTURE_FAILED', details: { instanceId: INSTANCE_ID } });
      expect(error?.message).toContain(`No outcome was recorded for host ${INSTANCE_ID}`);
    });

    it("fails with the error of a batch that could not be sent (SSM_AGENT_OFFLINE), naming the child's host", () => {
      const offline = new DebugTaskError('SSM_AGENT_OFFLINE', `SSM cannot send a command to 2 hosts.`, {
        hint: 'doctor',
        details: { instanceIds: [INSTANCE_ID, 'i-0000000000000000b'] },
      }).toJSON();

      expect(noManifest({ host: offline }).error).toEqual({
        code: 'SSM_AGENT_OFFLINE',
        message: offline.message,
        hint: 'doctor',
        details: { instanceIds: [INSTANCE_ID, 'i-0000000000000000b'], instanceId: INSTANCE_ID },
      });
    });

    it('fails with CAPTURE_FAILED, the end of stderr and the exit code, when the runner printed nothing', () => {
      const { error } = noManifest({
        host: host(undefined, {
          status: 'Failed',
          responseCode: 127,
          stderrTail: 'runner.sh: docker: command not found',
        }),
      });

      expect(error).toMatchObject({
        code: 'CAPTURE_FAILED',
        details: {
          ssmStatus: 'Failed',
          responseCode: 127,
          stderrTail: 'runner.sh: docker: command not found',
        },
      });
      expect(error?.message).toContain('exit code 127');
      expect(error?.message).toContain('docker: command not found');
    });

    it.each([
      ['DeliveryTimedOut', 'did not pick up the command'],
      ['Undeliverable', 'could not deliver the command'],
      ['ExecutionTimedOut', 'execution timeout'],
      ['Terminated', 'agent restarted'],
      ['GaveUp', 'past the session deadline'],
    ])('explains an SSM status that left no manifest (%s) in the hint', (status, hint) => {
      const { error } = noManifest({ host: host(undefined, { status, responseCode: -1 }) });

      expect(error).toMatchObject({ code: 'CAPTURE_FAILED', details: { ssmStatus: status } });
      expect(error?.hint).toContain(hint);
    });

    it('fails with CAPTURE_FAILED when the last line is not JSON', () => {
      const { error } = noManifest({
        host: host('Killed', { status: 'Failed', responseCode: 137, stderrTail: 'out of memory' }),
      });

      expect(error).toMatchObject({ code: 'CAPTURE_FAILED', details: { stderrTail: 'out of memory' } });
      expect(error?.message).toContain('not JSON ("Killed")');
      expect(error?.hint).toContain('redeploy');
    });

    it('fails with CAPTURE_FAILED naming the field when the summary does not match its schema', () => {
      const bad = JSON.stringify({ ...hostSummary(), children: 'lots' });

      const { error } = noManifest({ host: host(bad) });

      expect(error).toMatchObject({ code: 'CAPTURE_FAILED' });
      expect(error?.message).toContain('invalid at children');
    });

    it('fails with CAPTURE_FAILED for the summary of another session', () => {
      const { error } = noManifest({ host: host({ sessionId: 'dt-20240101000000-zzzzzz' }) });

      expect(error?.code).toBe('CAPTURE_FAILED');
      expect(error?.message).toContain('belongs to another session');
    });

    it('fails with UPLOAD_FAILED, the artifact kept on the host, when S3 refused both the artifact and its manifest', () => {
      const { error } = noManifest({
        host: host({ unreported: [{ sessionId: CHILD_ID, status: 'UPLOAD_FAILED', code: 'UPLOAD_FAILED' }] }),
        objectBytes: undefined,
      });

      const kept = `/var/lib/debug-task/${CHILD_ID}/artifact.pcap.gz`;
      expect(error).toMatchObject({
        code: 'UPLOAD_FAILED',
        details: { hostPath: kept, instanceId: INSTANCE_ID },
      });
      expect(error?.hint).toContain(`debug-task fetch ${SESSION_ID}`);
    });

    it("says where the host keeps it under the host's own work root, with the reason the host gave", () => {
      const { error } = noManifest({
        host: host({
          workRoot: '/data/debug-task',
          unreported: [
            {
              sessionId: CHILD_ID,
              status: 'UPLOAD_FAILED',
              code: 'UPLOAD_FAILED',
              message: 'curl: (6) Could not resolve host',
            },
          ],
        }),
        objectBytes: undefined,
      });

      const kept = `/data/debug-task/${CHILD_ID}/artifact.pcap.gz`;
      expect(error).toMatchObject({ code: 'UPLOAD_FAILED', details: { hostPath: kept } });
      expect(error?.message).toBe(
        `The capture ended but the upload of its artifact failed: curl: (6) Could not resolve host. It is kept on ${INSTANCE_ID} at ${kept}.`,
      );
    });

    it('fails with the code the summary gives a child whose manifest did not reach S3 (HOST_BUSY)', () => {
      const { error } = noManifest({
        host: host({ unreported: [{ sessionId: CHILD_ID, status: 'FAILED', code: 'HOST_BUSY' }] }),
      });

      expect(error).toMatchObject({
        code: 'HOST_BUSY',
        message: `The capture on ${INSTANCE_ID} ended FAILED (HOST_BUSY), and its manifest could not be uploaded.`,
      });
    });

    it("fails with CAPTURE_FAILED for an unreported child's code that is not ours", () => {
      const { error } = noManifest({
        host: host({ unreported: [{ sessionId: CHILD_ID, status: 'FAILED', code: 'E_WEIRD' }] }),
      });

      expect(error?.code).toBe('CAPTURE_FAILED');
    });

    it("fails with the host's own error when its share could not run at all", () => {
      const { error } = noManifest({
        host: host(
          { status: 'FAILED', error: { code: 'TOOLBOX_IMAGE_UNAVAILABLE', message: 'pull access denied' } },
          { status: 'Failed', responseCode: 4 },
        ),
      });

      expect(error).toMatchObject({ code: 'TOOLBOX_IMAGE_UNAVAILABLE', message: 'pull access denied' });
    });

    it('fails with CAPTURE_FAILED naming the SSM status when the host ran but said nothing of the child', () => {
      const { error } = noManifest({ host: host({}) });

      expect(error).toMatchObject({
        code: 'CAPTURE_FAILED',
        message: `The runner on ${INSTANCE_ID} wrote no manifest for ${CHILD_ID} and did not say why.`,
        details: { ssmStatus: 'Success' },
      });
    });
  });
});

describe('readHostSummary', () => {
  it("reads a host's summary line belonging to the child's session", () => {
    const summary = hostSummary(INSTANCE_ID, { children: 3, counts: { OK: 2, FAILED: 1 } });

    expect(readHostSummary(host(summary), CHILD_ID)).toEqual({
      ...summary,
      error: undefined,
      unreportedMore: undefined,
    });
  });

  it('reads a re-upload summary too', () => {
    expect(readHostSummary(host({ action: 'reupload' }), CHILD_ID).action).toBe('reupload');
  });
});

describe('parseManifest', () => {
  it("reads a child's manifest", () => {
    expect(parseManifest(JSON.stringify(manifest()), CHILD_ID)).toEqual(manifest());
  });

  it.each([
    ['another child', JSON.stringify(manifest({ sessionId: `${SESSION_ID}-0001` }))],
    ['text that is not JSON', 'not json'],
    ['JSON of another shape', JSON.stringify({ v: 1, sessionId: CHILD_ID })],
  ])('reads nothing from %s', (_what, text) => {
    expect(parseManifest(text, CHILD_ID)).toBeUndefined();
  });
});

describe('localVerdict (debug-task local)', () => {
  const run = { exitCode: 0, stderrTail: '', instanceId: 'local' };
  const kept = (m: RunnerManifest) => ({
    ...m,
    artifact: { ...m.artifact!, uploaded: false, hostPath: '/tmp/a.pcap.gz' },
  });

  it('accepts an artifact kept on this machine by design', () => {
    const m = kept(manifest());

    expect(localVerdict(m, run)).toEqual({ manifest: m, artifact: m.artifact });
  });

  it('fails with CAPTURE_FAILED, the exit code and the end of stderr, when the runner printed no manifest', () => {
    expect(() => localVerdict(undefined, { ...run, exitCode: null, stderrTail: 'Killed\n' })).toThrow(
      expect.objectContaining({
        code: 'CAPTURE_FAILED',
        message: expect.stringMatching(/exit code none: killed by a signal.*stderr ends with: Killed/),
      }),
    );
  });

  it("fails with the runner's own error", () => {
    const failed = manifest({
      status: 'FAILED',
      error: { code: 'HOST_BUSY', message: 'busy' },
      artifact: undefined,
    });

    expect(() => localVerdict(failed, run)).toThrow(
      expect.objectContaining({ code: 'HOST_BUSY', message: 'busy' }),
    );
  });

  it('fails with CAPTURE_FAILED when the runner kept no artifact', () => {
    expect(() => localVerdict(manifest(), run)).toThrow(expect.objectContaining({ code: 'CAPTURE_FAILED' }));
  });
});

describe('keptArtifactPath', () => {
  it("is the artifact's file name in the child's work dir", () => {
    expect(keptArtifactPath(sessionKeys.childArtifact(CHILD_ID, 'txt'), CHILD_ID)).toBe(
      `/var/lib/debug-task/${CHILD_ID}/artifact.txt.gz`,
    );
  });

  it("is under the host's work root when the host names one", () => {
    expect(keptArtifactPath(sessionKeys.childArtifact(CHILD_ID, 'pcap'), CHILD_ID, '/srv/dt')).toBe(
      `/srv/dt/${CHILD_ID}/artifact.pcap.gz`,
    );
  });
});
