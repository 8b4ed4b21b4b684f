import { resolve as resolvePath } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DebugTaskClient } from '../client/api-client';
import { DebugTaskError, errorFromBody } from '../domain/errors';
import type { SessionRequest } from '../domain/session-spec';
import { isFleetResult, type SessionResult, type SessionView } from '../domain/session';
import { TOOLS, isToolName } from '../domain/tools';
import { downloadArtifact } from './download';
import type { Progress } from './progress';

/** What `debug-task <task>` reports (and prints as `--json`). */
export interface SessionOutcome {
  sessionId: string;
  status: 'SUCCEEDED';
  target: SessionResult['target'];
  tool: SessionResult['tool'];
  artifact: {
    path: string;
    s3Uri: string;
    bytes: number;
    sha256: string;
    format: string;
    linkType?: string;
    truncated: boolean;
  };
  timings: {
    totalSeconds: number;
    captureSeconds: number;
    /** Everything that is not the capture itself: what the tool costs the user in waiting. */
    overheadSeconds: number;
    downloadSeconds: number;
  };
  /** `debug-task fetch` of a session whose upload had failed: where the artifact came from. */
  reupload?: { instanceId: string; hostPath?: string; commandId: string };
}

export interface RunOptions {
  /** Where the artifact goes; default ./debug-task-<session>.<ext>. */
  output?: string;
  progress: Progress;
  /** Aborted on Ctrl-C: the session is cancelled (and cleaned up) before we return. */
  signal?: AbortSignal;
  /** How long to keep following a cancel before giving up on seeing it end. */
  cancelTimeoutMs?: number;
  /** Told the session id as soon as the API has it. */
  onStarted?: (sessionId: string) => void;
}

const PHASES: Record<string, string> = {
  Resolve: 'resolving the task',
  Launch: 'starting the toolbox',
  Poll: 'capturing',
  'Done?': 'capturing',
  Wait: 'capturing',
  Collect: 'collecting the artifact',
  Cleanup: 'cleaning up',
  // A service-wide session (the fleet branch of the state machine).
  'Service?': 'starting',
  FleetPlan: 'resolving the service',
  Hosts: 'starting the toolboxes',
  LaunchBatch: 'starting the toolboxes',
  PollBatch: 'capturing',
  'Batch done?': 'capturing',
  WaitBatch: 'capturing',
  BatchEnded: 'capturing',
  BatchNotSent: 'capturing',
  CollectFleet: 'collecting the artifacts',
  CleanupFleet: 'cleaning up',
};

/** Starts a session and follows it to a verified artifact on disk. */
export async function runSession(
  client: DebugTaskClient,
  request: SessionRequest,
  options: RunOptions,
): Promise<SessionOutcome> {
  const startedAt = Date.now();
  const { sessionId } = await client.startSession(request);
  options.onStarted?.(sessionId);
  options.progress.note(`session ${sessionId} started`);
  const view = await followSession(client, sessionId, request.durationSeconds, options);
  return finishSession(view, options, startedAt);
}

/** Polls until the session ends; a Ctrl-C turns into a cancel that we see through. */
export async function followSession(
  client: DebugTaskClient,
  sessionId: string,
  durationSeconds: number | undefined,
  options: RunOptions,
): Promise<SessionView> {
  const startedAt = Date.now();
  let cancelRequestedAt: number | undefined;
  let captureStartedAt: number | undefined;
  for (;;) {
    if (options.signal?.aborted && cancelRequestedAt === undefined) {
      cancelRequestedAt = Date.now();
      options.progress.note(`cancelling ${sessionId}: removing the toolbox container...`);
      await client.cancelSession(sessionId);
    }
    const view = await client.getSession(sessionId);
    if (view.status !== 'RUNNING') {
      options.progress.done();
      if (cancelRequestedAt !== undefined && view.status !== 'SUCCEEDED') {
        throw new DebugTaskError(
          'CANCELLED',
          `Session ${sessionId} was cancelled; nothing is left on the host.`,
        );
      }
      return view;
    }
    if (
      cancelRequestedAt !== undefined &&
      Date.now() - cancelRequestedAt > (options.cancelTimeoutMs ?? 60_000)
    ) {
      throw new DebugTaskError('CANCELLED', `Session ${sessionId} is still cancelling.`, {
        hint: `Check it with \`debug-task status ${sessionId}\`; the host's watchdog removes the container at its deadline.`,
      });
    }
    const phase = PHASES[view.phase ?? ''] ?? view.phase ?? 'starting';
    if (phase === 'capturing') captureStartedAt ??= Date.now();
    const secondsLeft =
      phase === 'capturing' && durationSeconds !== undefined && captureStartedAt !== undefined
        ? durationSeconds - (Date.now() - captureStartedAt) / 1000
        : undefined;
    options.progress.update(phase, secondsLeft);
    await sleep(pollDelayMs(Date.now() - startedAt, secondsLeft));
  }
}

/**
 * Poll fast while things change (start, end of capture), once a second during the capture:
 * the session's end is seen within ~0.3 s without hammering the API for a 15-minute capture.
 */
export function pollDelayMs(elapsedMs: number, secondsLeft: number | undefined): number {
  if (elapsedMs < 3000) return 250;
  if (secondsLeft !== undefined && secondsLeft > 2) return 1000;
  return 300;
}

async function finishSession(
  view: SessionView,
  options: RunOptions,
  startedAt: number,
): Promise<SessionOutcome> {
  if (view.status !== 'SUCCEEDED' || !view.result || isFleetResult(view.result) || !view.downloadUrl) {
    throw view.error
      ? errorFromBody(view.error)
      : new DebugTaskError('AWS_ERROR', `Session ${view.sessionId} ended ${view.status} without a result.`);
  }
  const result = view.result;
  const extension = isToolName(result.tool.name) ? TOOLS[result.tool.name].extension : 'out';
  const path = resolvePath(options.output ?? `debug-task-${view.sessionId}.${extension}`);
  options.progress.update('downloading');
  const downloadStart = Date.now();
  await downloadArtifact(view.downloadUrl, result.artifact, path);
  options.progress.done();
  const end = Date.now();
  const captureSeconds = captureSecondsOf(result);
  const totalSeconds = (end - startedAt) / 1000;
  return {
    sessionId: view.sessionId,
    status: 'SUCCEEDED',
    target: result.target,
    tool: result.tool,
    artifact: {
      path,
      s3Uri: result.artifact.s3Uri,
      bytes: result.artifact.bytes,
      sha256: result.artifact.sha256,
      format: result.artifact.format,
      ...(result.artifact.linkType && { linkType: result.artifact.linkType }),
      truncated: result.artifact.truncated,
    },
    timings: {
      totalSeconds: round(totalSeconds),
      captureSeconds: round(captureSeconds),
      overheadSeconds: round(totalSeconds - captureSeconds),
      downloadSeconds: round((end - downloadStart) / 1000),
    },
  };
}

/** The runner reports when the tool started and stopped, in Unix epoch milliseconds. */
function captureSecondsOf(result: SessionResult): number {
  const start = Number(result.timings.captureStartedAt);
  const end = Number(result.timings.captureEndedAt);
  return Number.isFinite(start) && Number.isFinite(end) && end >= start ? (end - start) / 1000 : 0;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/**
 * Re-downloads the artifact of a finished session. A session whose upload failed (UPLOAD_FAILED)
 * kept its artifact on its host: it is uploaded again first (`reuploadSession`).
 */
export async function fetchSession(
  client: DebugTaskClient,
  sessionId: string,
  options: RunOptions,
): Promise<SessionOutcome> {
  const view = await client.getSession(sessionId);
  if (view.status === 'RUNNING') {
    throw new DebugTaskError('INVALID_ARGUMENT', `Session ${sessionId} is still running.`, {
      hint: `Wait for it: \`debug-task status ${sessionId}\`.`,
    });
  }
  if (view.status === 'FAILED' && view.error?.code === 'UPLOAD_FAILED') {
    return reuploadSession(client, view, options);
  }
  return finishSession(view, options, Date.now());
}

/** Polls a re-upload every second: it is one upload from the host, seconds for most artifacts. */
export const REUPLOAD_POLL_MS = 1000;
/** Past the command's own SSM execution timeout (an hour), give up following it. */
export const REUPLOAD_FOLLOW_MS = 3_700_000;

/**
 * POST /sessions/{id}/reupload, then GET .../reupload/{commandId} until the host is done; the
 * artifact is then downloaded and both sha256s checked like any other. A failure on the host
 * (ARTIFACT_NOT_ON_HOST, UPLOAD_FAILED again) comes back as that typed error.
 */
async function reuploadSession(
  client: DebugTaskClient,
  failed: SessionView,
  options: RunOptions,
): Promise<SessionOutcome> {
  const startedAt = Date.now();
  const { sessionId } = failed;
  const details = failed.error?.details ?? {};
  const hostPath = typeof details.hostPath === 'string' ? details.hostPath : undefined;
  const where = typeof details.instanceId === 'string' ? details.instanceId : 'its host';
  options.progress.note(
    `session ${sessionId} ended UPLOAD_FAILED: uploading again the artifact kept on ${where}${hostPath ? ` at ${hostPath}` : ''}`,
  );
  let view = await client.startReupload(sessionId);
  while (view.status === 'RUNNING') {
    if (options.signal?.aborted) {
      throw new DebugTaskError('CANCELLED', `Stopped following the re-upload of ${sessionId}.`, {
        hint: `The host finishes it anyway: \`debug-task fetch ${sessionId}\` again downloads the result.`,
      });
    }
    if (Date.now() - startedAt > REUPLOAD_FOLLOW_MS) {
      throw new DebugTaskError('SESSION_TIMED_OUT', `The re-upload of ${sessionId} did not end in time.`, {
        details: { commandId: view.commandId, instanceId: view.instanceId },
      });
    }
    const ssmStatus = 'ssmStatus' in view && view.ssmStatus ? ` (${view.ssmStatus})` : '';
    options.progress.update(`re-uploading from ${view.instanceId}${ssmStatus}`);
    await sleep(REUPLOAD_POLL_MS);
    view = await client.getReupload(sessionId, view.commandId);
  }
  options.progress.done();
  if (!('result' in view) || !view.result || !view.downloadUrl) {
    throw new DebugTaskError('AWS_ERROR', `The re-upload of ${sessionId} succeeded without a result.`);
  }
  const outcome = await finishSession(
    { sessionId, status: 'SUCCEEDED', result: view.result, downloadUrl: view.downloadUrl },
    options,
    startedAt,
  );
  return {
    ...outcome,
    reupload: { instanceId: view.instanceId, ...(hostPath && { hostPath }), commandId: view.commandId },
  };
}
