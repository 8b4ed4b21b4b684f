import { DebugTaskError, isErrorCode, type ErrorBody, type ErrorCode } from '../domain/errors';
import { HostSummarySchema, type HostSummary } from '../domain/host-summary';
import { RunnerManifestSchema } from '../domain/runner-manifest';
import type { ArtifactRef, ChildResult, HostOutcome, PlanTarget, RunnerManifest } from '../domain/session';
import type * as z from '../domain/zod';

/**
 * The verdict on one child: from its manifest (which its host wrote next to its artifact), what its
 * host's invocation ended with, and the object S3 holds. One home for "what counts as a capture
 * that worked, and what the user is told otherwise", used by Collect (a session, a re-upload) and
 * by `debug-task local`.
 */

/** What SSM's final status says when the runner could not even write its manifest. */
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
  GaveUp:
    'The host was still running past the session deadline: its command was cancelled; the host watchdog removes the toolbox container.',
};

/** Everything known about one child once its host has ended. */
export interface ChildEvidence {
  target: PlanTarget;
  /** The artifact's key in the bucket. */
  bucket: string;
  key: string;
  /** The manifest its host wrote to S3, if it is there (read with `parseManifest`). */
  manifest?: RunnerManifest;
  /** How its host's invocation ended, or the error of a batch that could not be sent. */
  host?: HostOutcome | ErrorBody;
  /** Size of the artifact object in S3, if there is one. */
  objectBytes?: number;
  /** `debug-task fetch <id>` of an UPLOAD_FAILED child names this id (the session's for one task). */
  fetchId: string;
}

/**
 * The verdict on one child. SUCCEEDED only when its runner says OK, its artifact was uploaded and
 * S3 holds an object of the size the runner uploaded; otherwise FAILED with the code and message
 * the user acts on (the host's own when it gave one).
 */
export function childVerdict(evidence: ChildEvidence): ChildResult {
  const { target, manifest } = evidence;
  const base = {
    index: target.index,
    sessionId: target.sessionId,
    taskArn: target.taskArn,
    clusterArn: target.clusterArn,
    container: target.container,
    instanceId: target.instanceId,
  };
  try {
    const found = manifest ?? manifestMissing(evidence);
    const artifact = acceptedArtifact(found, evidence);
    return {
      ...base,
      status: 'SUCCEEDED',
      tool: found.tool,
      artifact,
      timings: definedTimings(found.timings),
      ...(found.stoppedEarly && { stoppedEarly: true }),
      ...(found.ring && { ring: found.ring }),
      ...(found.follow && { follow: found.follow }),
    };
  } catch (error) {
    const typed =
      error instanceof DebugTaskError
        ? error
        : new DebugTaskError('CAPTURE_FAILED', 'The verdict on this child failed.', { cause: error });
    return {
      ...base,
      status: 'FAILED',
      error: typed.toJSON(),
      ...(manifest && { tool: manifest.tool, timings: definedTimings(manifest.timings) }),
    };
  }
}

/** The artifact of a manifest that says OK, checked against S3; the typed failure otherwise. */
function acceptedArtifact(manifest: RunnerManifest, evidence: ChildEvidence): ArtifactRef {
  if (manifest.status === 'FAILED') throw hostFailure(manifest, evidence);
  const artifact = manifest.artifact;
  if (manifest.status === 'UPLOAD_FAILED' || artifact?.uploaded === false)
    throw uploadFailure(manifest, evidence);
  if (!artifact) {
    throw new DebugTaskError(
      'CAPTURE_FAILED',
      'The host runner reported success but described no artifact.',
      {
        details: { instanceId: evidence.target.instanceId },
      },
    );
  }
  const { bucket, key, objectBytes } = evidence;
  if (objectBytes === undefined) {
    throw new DebugTaskError(
      'UPLOAD_FAILED',
      `The runner reported an upload, but s3://${bucket}/${key} does not exist.`,
      {
        details: { bucket, key, expectedBytes: artifact.objectBytes },
      },
    );
  }
  if (objectBytes !== artifact.objectBytes) {
    throw new DebugTaskError(
      'UPLOAD_FAILED',
      `s3://${bucket}/${key} has ${objectBytes} bytes, but the runner uploaded ${artifact.objectBytes}.`,
      { details: { bucket, key, expectedBytes: artifact.objectBytes, actualBytes: objectBytes } },
    );
  }
  return artifactRef(bucket, key, artifact);
}

/** The artifact as a result reports it: where it is in S3, and the runner's facts of it. */
export function artifactRef(
  bucket: string,
  key: string,
  artifact: NonNullable<RunnerManifest['artifact']>,
): ArtifactRef {
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

/** No manifest in S3: what the host's summary and its invocation say instead. Always throws. */
function manifestMissing(evidence: ChildEvidence): never {
  const { target, host } = evidence;
  if (!host) {
    throw new DebugTaskError('CAPTURE_FAILED', `No outcome was recorded for host ${target.instanceId}.`, {
      details: { instanceId: target.instanceId },
    });
  }
  if ('code' in host) {
    // The batch's SendCommand failed: the host started nothing.
    throw new DebugTaskError(isErrorCode(host.code) ? host.code : 'AWS_ERROR', host.message, {
      ...(host.hint && { hint: host.hint }),
      details: { ...host.details, instanceId: target.instanceId },
    });
  }
  const summary = readHostSummary(host, target.sessionId);
  const unreported = summary.unreported.find((u) => u.sessionId === target.sessionId);
  if (unreported?.status === 'UPLOAD_FAILED' && unreported.code === 'UPLOAD_FAILED') {
    // The same S3 refused both the artifact and its manifest: both are kept on the host.
    const hostPath = keptArtifactPath(evidence.key, target.sessionId, summary.workRoot ?? undefined);
    throw uploadFailure(undefined, evidence, unreported.message ?? undefined, hostPath);
  }
  if (unreported) {
    const code: ErrorCode = isErrorCode(unreported.code) ? unreported.code : 'CAPTURE_FAILED';
    throw new DebugTaskError(
      code,
      `The capture on ${target.instanceId} ended ${unreported.status}${unreported.code ? ` (${unreported.code})` : ''}, and its manifest could not be uploaded.`,
      { details: { instanceId: target.instanceId, summary: summary.counts } },
    );
  }
  if (summary.status === 'FAILED' && summary.error) {
    const code: ErrorCode = isErrorCode(summary.error.code) ? summary.error.code : 'CAPTURE_FAILED';
    throw new DebugTaskError(code, summary.error.message.slice(0, 1000), {
      details: { instanceId: target.instanceId },
    });
  }
  throw new DebugTaskError(
    'CAPTURE_FAILED',
    `The runner on ${target.instanceId} wrote no manifest for ${target.sessionId} and did not say why.`,
    { details: { instanceId: target.instanceId, ssmStatus: host.status } },
  );
}

/** The host's summary line; CAPTURE_FAILED saying why there is none (SSM's status, stderr). */
export function readHostSummary(host: HostOutcome, childId: string): HostSummary {
  return parseLastLine(host, HostSummarySchema, (summary) => childId.startsWith(`${summary.sessionId}-`));
}

/** A runner manifest as `local` (or a test) reads it from the runner's last stdout line. */
export function readManifestLine(host: HostOutcome, sessionId: string): RunnerManifest {
  return parseLastLine(host, RunnerManifestSchema, (m) => m.sessionId === sessionId) as RunnerManifest;
}

/** A manifest object as read from S3: undefined when it is not one (logged by the caller as garbled). */
export function parseManifest(text: string, sessionId: string): RunnerManifest | undefined {
  try {
    const parsed = RunnerManifestSchema.safeParse(JSON.parse(text));
    return parsed.success && parsed.data.sessionId === sessionId
      ? (parsed.data as RunnerManifest)
      : undefined;
  } catch {
    return undefined;
  }
}

function parseLastLine<S extends z.ZodMiniType>(
  host: HostOutcome,
  schema: S,
  belongs: (value: z.output<S>) => boolean,
): z.output<S> {
  const where = `SSM status ${host.status}, exit code ${host.responseCode ?? 'unknown'}`;
  const details = {
    instanceId: host.instanceId,
    ssmStatus: host.status,
    responseCode: host.responseCode ?? null,
    ...(host.stderrTail && { stderrTail: host.stderrTail }),
  };
  const stderr = host.stderrTail?.trim() ? ` stderr ends with: ${host.stderrTail.trim().slice(-500)}` : '';
  if (!host.summaryLine) {
    throw new DebugTaskError(
      'CAPTURE_FAILED',
      `The host runner ended (${where}) without printing a manifest.${stderr}`,
      {
        ...(NO_MANIFEST_HINTS[host.status] && { hint: NO_MANIFEST_HINTS[host.status] }),
        details,
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(host.summaryLine);
  } catch (error) {
    throw garbled(
      `its last output line is not JSON (${show(host.summaryLine)})`,
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
      `its output is invalid at ${issue.path.join('.') || 'top level'}: ${issue.message}`,
      where,
      stderr,
      details,
      parsed.error,
    );
  }
  if (!belongs(parsed.data)) throw garbled('its output belongs to another session', where, stderr, details);
  return parsed.data;
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

function hostFailure(manifest: RunnerManifest, evidence: ChildEvidence): DebugTaskError {
  const code = isErrorCode(manifest.error?.code) ? manifest.error.code : 'CAPTURE_FAILED';
  const message =
    manifest.error?.message ??
    `The ${manifest.tool.name ?? 'debug'} session failed on the host without a message.`;
  return new DebugTaskError(code, message.slice(0, 1000), {
    details: {
      instanceId: evidence.target.instanceId,
      ...(manifest.error && !isErrorCode(manifest.error.code) && { hostCode: manifest.error.code }),
      toolExitCode: manifest.tool.exitCode,
    },
  });
}

/** UPLOAD_FAILED with where the artifact is kept and the command that uploads it again. */
function uploadFailure(
  manifest: RunnerManifest | undefined,
  evidence: ChildEvidence,
  reported?: string,
  keptAt?: string,
): DebugTaskError {
  const { target } = evidence;
  const hostPath = manifest?.artifact?.hostPath ?? keptAt ?? keptArtifactPath(evidence.key, target.sessionId);
  const message = manifest?.error?.message ?? reported;
  const why = message ? `: ${message.slice(0, 500)}` : '';
  return new DebugTaskError(
    'UPLOAD_FAILED',
    `The capture ended but the upload of its artifact failed${why}. It is kept on ${target.instanceId} at ${hostPath}.`,
    {
      hint: `\`debug-task fetch ${evidence.fetchId}\` uploads it again (or copy ${hostPath} from the host).`,
      // What a re-upload needs to find the kept artifact, and to tell where it came from.
      details: {
        instanceId: target.instanceId,
        hostPath,
        objectKey: evidence.key,
        taskArn: target.taskArn,
        clusterArn: target.clusterArn,
        container: target.container,
      },
    },
  );
}

/**
 * `debug-task local`: the runner ran with no upload URL, so an artifact it made is kept on this
 * machine by design (`artifact.hostPath`); the same manifest otherwise means what it means on a
 * host (its error, or CAPTURE_FAILED when it printed none).
 */
export function localVerdict(
  manifest: RunnerManifest | undefined,
  run: { exitCode: number | null; stderrTail: string; instanceId: string },
): { manifest: RunnerManifest; artifact: NonNullable<RunnerManifest['artifact']> & { hostPath: string } } {
  if (!manifest) {
    const stderr = run.stderrTail.trim() ? ` stderr ends with: ${run.stderrTail.trim().slice(-500)}` : '';
    throw new DebugTaskError(
      'CAPTURE_FAILED',
      `The host runner ended (exit code ${run.exitCode ?? 'none: killed by a signal'}) without printing a manifest.${stderr}`,
      { details: { stderrTail: run.stderrTail.slice(-2000) } },
    );
  }
  const evidence = {
    target: { sessionId: manifest.sessionId, instanceId: run.instanceId } as PlanTarget,
    bucket: '',
    key: '',
    fetchId: manifest.sessionId,
  };
  if (manifest.status === 'FAILED') throw hostFailure(manifest, evidence);
  const artifact = manifest.artifact;
  if (manifest.status !== 'OK' || !artifact?.hostPath) {
    throw new DebugTaskError('CAPTURE_FAILED', 'The host runner reported success but kept no artifact.', {
      details: { status: manifest.status },
    });
  }
  return { manifest, artifact: { ...artifact, hostPath: artifact.hostPath } };
}

/** Where the runner keeps an artifact it could not upload: its work dir, under the host's work root. */
export function keptArtifactPath(key: string, childId: string, workRoot = '/var/lib/debug-task'): string {
  const file = key.slice(key.lastIndexOf('/') + 1);
  return `${workRoot}/${childId}/${file}`;
}

function definedTimings(timings: RunnerManifest['timings']): Record<string, number> {
  return Object.fromEntries(Object.entries(timings).filter(([, v]) => typeof v === 'number')) as Record<
    string,
    number
  >;
}

function show(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}
