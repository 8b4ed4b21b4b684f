import 'aws-sdk-client-mock-jest';
import { HeadObjectCommand, NotFound, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { collectSession, type CollectState } from '../../../lib/steps/collect';
import {
  BUCKET,
  CLUSTER_ARN,
  INSTANCE_ID,
  SESSION_ID,
  TASK_ARN,
  caught,
  donePoll,
  executionInput,
  launch,
  manifest,
  target,
} from './fixtures';
import type { PollResult, RunnerManifest } from '../../../lib/domain/session';

const s3 = mockClient(S3Client);

const COLLECTED_AT = Date.parse('2025-01-01T12:01:30.000Z');

function stateWith(poll: PollResult): CollectState {
  return { ...executionInput(), target, launch, poll };
}

function stateWithManifest(
  m: RunnerManifest | Record<string, unknown>,
  poll: Partial<PollResult> = {},
): CollectState {
  return stateWith(donePoll(JSON.stringify(m), poll));
}

beforeEach(() => {
  s3.reset();
  s3.on(HeadObjectCommand).resolves({ ContentLength: manifest().artifact!.objectBytes });
  s3.on(PutObjectCommand).resolves({});
});

describe('collectSession', () => {
  it('returns the session result for an uploaded artifact whose size S3 confirms', async () => {
    const result = await collectSession(stateWithManifest(manifest()), { now: () => COLLECTED_AT });

    expect(result).toEqual({
      sessionId: SESSION_ID,
      status: 'SUCCEEDED',
      target: { taskArn: TASK_ARN, clusterArn: CLUSTER_ARN, container: 'app', instanceId: INSTANCE_ID },
      tool: { name: 'tcpdump', exitCode: 0, packets: 1234, dropped: 0 },
      artifact: {
        s3Uri: `s3://${BUCKET}/${launch.objectKey}`,
        bucket: BUCKET,
        key: launch.objectKey,
        format: 'pcap',
        compression: 'gzip',
        bytes: 204800,
        sha256: 'a'.repeat(64),
        objectBytes: 51234,
        objectSha256: 'b'.repeat(64),
        linkType: 'EN10MB',
        truncated: false,
      },
      timings: {
        requestedAt: '2025-01-01T12:00:00.000Z',
        launchedAt: launch.startedAt,
        hostStartedAt: 1735732811000,
        captureStartedAt: 1735732813000,
        captureEndedAt: 1735732873000,
        hostEndedAt: 1735732875000,
        collectedAt: '2025-01-01T12:01:30.000Z',
      },
    });
    expect(s3).toHaveReceivedCommandWith(HeadObjectCommand, { Bucket: BUCKET, Key: launch.objectKey });
  });

  it('writes the audit record next to the artifact: caller, reason, spec, target, runner manifest and result', async () => {
    const result = await collectSession(stateWithManifest(manifest()), { now: () => COLLECTED_AT });

    expect(s3).toHaveReceivedCommandTimes(PutObjectCommand, 1);
    const put = s3.commandCalls(PutObjectCommand)[0].args[0].input;
    expect(put).toMatchObject({
      Bucket: BUCKET,
      Key: `sessions/${SESSION_ID}/manifest.json`,
      ContentType: 'application/json',
    });
    expect(JSON.parse(put.Body as string)).toMatchObject({
      sessionId: SESSION_ID,
      caller: executionInput().caller,
      reason: 'INC-42 TLS resets',
      spec: executionInput().spec,
      target,
      runner: manifest(),
      result,
      ssm: { status: 'Success', responseCode: 0 },
      collectedAt: '2025-01-01T12:01:30.000Z',
    });
  });

  it('keeps the host’s audit labels (caller, reason) of the runner manifest in the audit record', async () => {
    const audit = { caller: executionInput().caller, reason: 'INC-42 TLS resets' };

    await collectSession(stateWithManifest(manifest({ audit })), { now: () => COLLECTED_AT });

    const put = s3.commandCalls(PutObjectCommand)[0].args[0].input;
    expect(JSON.parse(put.Body as string).runner.audit).toEqual(audit);
  });

  it('reads null as absent in the manifest, as a bash runner may print it', async () => {
    const m = manifest();
    const withNulls = {
      ...m,
      error: null,
      tool: { ...m.tool, packets: null, dropped: null },
      artifact: { ...m.artifact, linkType: null, hostPath: null },
      timings: { ...m.timings, captureStartedAt: null },
      extra: 'ignored',
    };

    const result = await collectSession(stateWithManifest(withNulls));

    expect(result.artifact).not.toHaveProperty('linkType');
    expect(result.timings).not.toHaveProperty('captureStartedAt');
    expect(result.tool).toEqual({ name: 'tcpdump', exitCode: 0, packets: null, dropped: null });
  });

  describe('a missing or garbled manifest', () => {
    it('throws CAPTURE_FAILED with the end of stderr when the runner printed no manifest', async () => {
      const poll = donePoll(undefined, {
        status: 'Failed',
        responseCode: 127,
        stderrTail: 'runner.sh: docker: command not found',
      });

      const error = await caught(() => collectSession(stateWith(poll)));

      expect(error).toMatchObject({
        code: 'CAPTURE_FAILED',
        details: {
          ssmStatus: 'Failed',
          responseCode: 127,
          stderrTail: 'runner.sh: docker: command not found',
        },
      });
      expect(error.message).toContain('exit code 127');
      expect(error.message).toContain('docker: command not found');
      expect(s3).toHaveReceivedCommandTimes(PutObjectCommand, 0);
    });

    it('explains an SSM status that left no manifest (the agent never picked the command up)', async () => {
      const poll = donePoll(undefined, { status: 'DeliveryTimedOut', responseCode: -1 });

      const error = await caught(() => collectSession(stateWith(poll)));

      expect(error).toMatchObject({ code: 'CAPTURE_FAILED' });
      expect(error.hint).toContain('did not pick up the command');
    });

    it('throws CAPTURE_FAILED when the last line is not JSON', async () => {
      const poll = donePoll('Killed', { status: 'Failed', responseCode: 137, stderrTail: 'out of memory' });

      const error = await caught(() => collectSession(stateWith(poll)));

      expect(error).toMatchObject({ code: 'CAPTURE_FAILED', details: { stderrTail: 'out of memory' } });
      expect(error.message).toContain('not JSON ("Killed")');
    });

    it('throws CAPTURE_FAILED naming the field when the manifest does not match its schema', async () => {
      const { artifact, ...rest } = manifest();
      const bad = { ...rest, artifact: { ...artifact, objectBytes: 'lots' } };

      const error = await caught(() => collectSession(stateWithManifest(bad)));

      expect(error).toMatchObject({ code: 'CAPTURE_FAILED' });
      expect(error.message).toContain('artifact.objectBytes');
    });

    it('throws CAPTURE_FAILED for the manifest of another session', async () => {
      const error = await caught(() =>
        collectSession(stateWithManifest(manifest({ sessionId: 'dt-20240101000000-zzzzzz' }))),
      );

      expect(error).toMatchObject({ code: 'CAPTURE_FAILED' });
      expect(error.message).toContain('dt-20240101000000-zzzzzz');
    });

    it('throws CAPTURE_FAILED when an OK manifest describes no artifact', async () => {
      const error = await caught(() => collectSession(stateWithManifest(manifest({ artifact: undefined }))));

      expect(error).toMatchObject({ code: 'CAPTURE_FAILED' });
    });
  });

  describe('a session that failed on the host', () => {
    it("throws the runner's own error code with its message (HOST_BUSY)", async () => {
      const busy = manifest({
        status: 'FAILED',
        error: {
          code: 'HOST_BUSY',
          message: 'i-0abc123def4567890 already runs 2 debug sessions (the maximum).',
        },
        artifact: undefined,
      });

      const error = await caught(() =>
        collectSession(stateWithManifest(busy, { status: 'Failed', responseCode: 4 })),
      );

      expect(error).toMatchObject({
        code: 'HOST_BUSY',
        message: busy.error!.message,
        details: { instanceId: INSTANCE_ID },
      });
      expect(s3).toHaveReceivedCommandTimes(HeadObjectCommand, 0);
    });

    it('throws CAPTURE_FAILED, keeping the host code in details, for an error code that is not ours', async () => {
      const odd = manifest({
        status: 'FAILED',
        error: { code: 'E_WEIRD', message: 'tcpdump: bad interface' },
        artifact: undefined,
      });

      const error = await caught(() => collectSession(stateWithManifest(odd)));

      expect(error).toMatchObject({
        code: 'CAPTURE_FAILED',
        message: 'tcpdump: bad interface',
        details: { hostCode: 'E_WEIRD' },
      });
    });

    it('throws UPLOAD_FAILED saying where the artifact is kept on the host', async () => {
      const hostPath = `/var/lib/debug-task/${SESSION_ID}/artifact.pcap.gz`;
      const failed = manifest({
        status: 'UPLOAD_FAILED',
        error: { code: 'UPLOAD_FAILED', message: 'curl: (28) Operation timed out' },
        artifact: { ...manifest().artifact!, uploaded: false, hostPath },
      });

      const error = await caught(() => collectSession(stateWithManifest(failed)));

      expect(error).toMatchObject({ code: 'UPLOAD_FAILED', details: { hostPath, instanceId: INSTANCE_ID } });
      expect(error.message).toContain('curl: (28) Operation timed out');
      expect(error.message).toContain(hostPath);
      expect(error.hint).toContain(`debug-task fetch ${SESSION_ID}`);
      expect(s3).toHaveReceivedCommandTimes(HeadObjectCommand, 0);
    });
  });

  describe('the uploaded object', () => {
    it('throws UPLOAD_FAILED when its size differs from what the runner uploaded', async () => {
      s3.on(HeadObjectCommand).resolves({ ContentLength: 4096 });

      const error = await caught(() => collectSession(stateWithManifest(manifest())));

      expect(error).toMatchObject({
        code: 'UPLOAD_FAILED',
        details: { expectedBytes: 51234, actualBytes: 4096 },
      });
      expect(s3).toHaveReceivedCommandTimes(PutObjectCommand, 0);
    });

    it('throws UPLOAD_FAILED when the object does not exist', async () => {
      s3.on(HeadObjectCommand).rejects(
        new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } }),
      );

      const error = await caught(() => collectSession(stateWithManifest(manifest())));

      expect(error).toMatchObject({ code: 'UPLOAD_FAILED' });
      expect(error.message).toContain('does not exist');
    });

    it('throws AWS_ERROR naming s3:PutObject when the audit record cannot be written', async () => {
      s3.on(PutObjectCommand).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));

      const error = await caught(() => collectSession(stateWithManifest(manifest())));

      expect(error).toMatchObject({ code: 'AWS_ERROR', details: { call: 's3:PutObject' } });
    });
  });
});
