import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DebugTaskError, isErrorCode } from '../domain/errors';
import { sessionKeys, type PollResult, type RunnerManifest, type SessionResult } from '../domain/session';
import { RunnerManifestSchema } from '../domain/runner-manifest';
import type * as z from '../domain/zod';
import { awsCall, isNotFound, translateAwsError } from './aws-errors';
import { s3Client } from './clients';
import type { PollState } from './poll';

export { RunnerManifestSchema } from '../domain/runner-manifest';

/** State after the last poll (done = true). */
export type CollectState = PollState & { poll: PollResult };

export interface CollectDeps {
  /** Milliseconds since the epoch; injectable so tests can fix the time. */
  now?: () => number;
}

/**
 * Collect: read the runner's manifest, check the uploaded object against it, and write the
 * session's audit record (sessions/<id>/manifest.json) next to the artifact.
 */
export async function collectSession(state: CollectState, deps: CollectDeps = {}): Promise<SessionResult> {
  const { sessionId, launch, poll } = state;
  const manifest = parseManifest(state);
  if (manifest.status === 'FAILED') throw hostFailure(manifest, state);
  const artifact = manifest.artifact;
  if (manifest.status === 'UPLOAD_FAILED' || artifact?.uploaded === false)
    throw uploadFailure(manifest, state);
  if (!artifact) {
    throw new DebugTaskError(
      'CAPTURE_FAILED',
      'The host runner reported success but described no artifact.',
      {
        details: { instanceId: launch.instanceId, ssmStatus: poll.status },
      },
    );
  }

  await checkObject(launch.bucket, launch.objectKey, artifact.objectBytes);

  const collectedAt = new Date((deps.now ?? Date.now)()).toISOString();
  const result: SessionResult = {
    sessionId,
    status: 'SUCCEEDED',
    target: {
      taskArn: state.target.taskArn,
      clusterArn: state.target.clusterArn,
      container: state.target.container.name,
      instanceId: state.target.instanceId,
    },
    tool: manifest.tool,
    artifact: artifactResult(launch.bucket, launch.objectKey, artifact),
    // Ours as ISO strings; the host's as the runner reports them (Unix epoch milliseconds).
    timings: definedOnly({
      requestedAt: state.requestedAt,
      launchedAt: launch.startedAt,
      hostStartedAt: manifest.timings.startedAt,
      captureStartedAt: manifest.timings.captureStartedAt,
      captureEndedAt: manifest.timings.captureEndedAt,
      hostEndedAt: manifest.timings.endedAt,
      collectedAt,
    }),
  };

  const audit = {
    v: 1,
    sessionId,
    caller: state.caller,
    reason: state.spec.reason ?? null,
    requestedAt: state.requestedAt,
    spec: state.spec,
    target: state.target,
    launch,
    ssm: { status: poll.status, responseCode: poll.responseCode ?? null },
    runner: manifest,
    result,
    collectedAt,
  };
  await awsCall('s3:PutObject', () =>
    s3Client().send(
      new PutObjectCommand({
        Bucket: launch.bucket,
        Key: sessionKeys.manifest(sessionId),
        Body: JSON.stringify(audit, null, 2),
        ContentType: 'application/json',
      }),
    ),
  );
  return result;
}

/** The artifact as a session's result reports it: where it is in S3, and the runner's facts of it. */
export function artifactResult(
  bucket: string,
  key: string,
  artifact: NonNullable<RunnerManifest['artifact']>,
): SessionResult['artifact'] {
  return {
    s3Uri: `s3://${bucket}/${key}`,
    bucket,
    key,
    format: artifact.format,
    compression: artifact.compression,
    bytes: artifact.bytes,
    sha256: artifact.sha256,
    objectBytes: artifact.objectBytes,
    objectSha256: artifact.objectSha256,
    ...(artifact.linkType !== undefined && { linkType: artifact.linkType }),
    truncated: artifact.truncated,
  };
}

/** What SSM's final status says when the runner could not even print its manifest. */
const NO_MANIFEST_HINTS: Record<string, string> = {
  DeliveryTimedOut:
    'The SSM agent did not pick up the command in time: check that it is online (`debug-task doctor TASK`).',
  Undeliverable: 'SSM could not deliver the command: the instance is gone or no longer managed.',
  ExecutionTimedOut:
    'The runner exceeded its SSM execution timeout; the host watchdog removes the toolbox container.',
  TimedOut: 'The runner exceeded its SSM execution timeout; the host watchdog removes the toolbox container.',
  Terminated: 'The instance stopped or the SSM agent restarted while the runner was running.',
  InvalidPlatform: 'The instance is not a Linux node the runner can run on.',
  AccessDenied:
    'SSM refused to run the document on this instance (instance tags vs. the ssm:SendCommand policy).',
  Cancelled: 'The command was cancelled outside debug-task.',
};

export function parseManifest(state: Pick<CollectState, 'sessionId' | 'poll'>): RunnerManifest {
  return parseManifestLine(state.poll, state.sessionId);
}

/** What SSM reported of one host's invocation: enough to read (or explain the lack of) a manifest. */
export type InvocationEnd = Pick<PollResult, 'status' | 'responseCode' | 'manifestLine' | 'stderrTail'>;

/** The runner's manifest of `sessionId`, from the last line of its output; CAPTURE_FAILED saying why not. */
export function parseManifestLine(poll: InvocationEnd, sessionId: string): RunnerManifest {
  return parseLastLine(poll, RunnerManifestSchema, sessionId);
}

/**
 * The last output line of a host's invocation, read with `schema`, whose `sessionId` must be
 * `sessionId`; CAPTURE_FAILED saying why not (no manifest, not JSON, not the schema, another session).
 */
export function parseLastLine<S extends z.ZodMiniType<{ sessionId: string }>>(
  poll: InvocationEnd,
  schema: S,
  sessionId: string,
): z.output<S> {
  const where = `SSM status ${poll.status}, exit code ${poll.responseCode ?? 'unknown'}`;
  const details = {
    ssmStatus: poll.status,
    responseCode: poll.responseCode ?? null,
    ...(poll.stderrTail && { stderrTail: poll.stderrTail }),
  };
  const stderr = poll.stderrTail?.trim() ? ` stderr ends with: ${poll.stderrTail.trim().slice(-500)}` : '';
  if (!poll.manifestLine) {
    throw new DebugTaskError(
      'CAPTURE_FAILED',
      `The host runner ended (${where}) without printing a manifest.${stderr}`,
      {
        ...(NO_MANIFEST_HINTS[poll.status] && { hint: NO_MANIFEST_HINTS[poll.status] }),
        details,
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(poll.manifestLine);
  } catch (error) {
    throw garbled(
      `its last output line is not JSON (${show(poll.manifestLine)})`,
      where,
      stderr,
      details,
      error,
    );
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw garbled(
      `its manifest is invalid at ${issue.path.join('.') || 'top level'}: ${issue.message}`,
      where,
      stderr,
      details,
      parsed.error,
    );
  }
  const manifest = parsed.data as z.output<S>;
  if (manifest.sessionId !== sessionId) {
    throw garbled(`its manifest belongs to session ${show(manifest.sessionId)}`, where, stderr, details);
  }
  return manifest;
}

function garbled(
  what: string,
  where: string,
  stderr: string,
  details: Record<string, unknown>,
  cause?: unknown,
): DebugTaskError {
  return new DebugTaskError('CAPTURE_FAILED', `The host runner ended (${where}) but ${what}.${stderr}`, {
    hint: 'The runner and the deployed SSM document may not match: redeploy the stack; the function log has the full output.',
    cause,
    details,
  });
}

function hostFailure(manifest: RunnerManifest, state: CollectState): DebugTaskError {
  const code = isErrorCode(manifest.error?.code) ? manifest.error.code : 'CAPTURE_FAILED';
  const message =
    manifest.error?.message ?? `The ${manifest.tool.name} session failed on the host without a message.`;
  return new DebugTaskError(code, message.slice(0, 1000), {
    details: {
      instanceId: state.launch.instanceId,
      ...(manifest.error && !isErrorCode(manifest.error.code) && { hostCode: manifest.error.code }),
      toolExitCode: manifest.tool.exitCode,
      ...(state.poll.stderrTail && { stderrTail: state.poll.stderrTail }),
    },
  });
}

function uploadFailure(manifest: RunnerManifest, state: CollectState): DebugTaskError {
  const hostPath = manifest.artifact?.hostPath;
  const { instanceId } = state.launch;
  const why = manifest.error?.message ? `: ${manifest.error.message.slice(0, 500)}` : '';
  const kept = hostPath ? ` It is kept on ${instanceId} at ${hostPath}.` : '';
  return new DebugTaskError(
    'UPLOAD_FAILED',
    `The capture ended but the upload of its artifact failed${why}.${kept}`,
    {
      hint: hostPath
        ? `\`debug-task fetch ${state.sessionId}\` uploads it again (or copy ${hostPath} from the host).`
        : undefined,
      // What POST /sessions/{id}/reupload needs to find the kept artifact and tell where it came from.
      details: {
        instanceId,
        ...(hostPath && { hostPath }),
        objectKey: state.launch.objectKey,
        taskArn: state.target.taskArn,
        clusterArn: state.target.clusterArn,
        container: state.target.container.name,
      },
    },
  );
}

/** The host says what it uploaded; S3 must agree before the session is called a success. */
export async function checkObject(bucket: string, key: string, expectedBytes: number): Promise<void> {
  let actual: number | undefined;
  try {
    const head = await s3Client().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    actual = head.ContentLength;
  } catch (error) {
    if (!isNotFound(error)) throw translateAwsError('s3:HeadObject', error);
    throw new DebugTaskError(
      'UPLOAD_FAILED',
      `The runner reported an upload, but s3://${bucket}/${key} does not exist.`,
      {
        cause: error,
        details: { bucket, key, expectedBytes },
      },
    );
  }
  if (actual !== expectedBytes) {
    throw new DebugTaskError(
      'UPLOAD_FAILED',
      `s3://${bucket}/${key} has ${actual ?? 'an unknown number of'} bytes, but the runner uploaded ${expectedBytes}.`,
      { details: { bucket, key, expectedBytes, actualBytes: actual ?? null } },
    );
  }
}

function definedOnly(values: Record<string, number | string | undefined>): Record<string, number | string> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Record<
    string,
    number | string
  >;
}

function show(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}
