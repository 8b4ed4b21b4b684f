import { resolve as resolvePath } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DebugTaskClient } from '../client/api-client';
import { DebugTaskError, errorFromBody, inSession } from '../domain/errors';
import type { SessionRequest } from '../domain/session-spec';
import type { ChildResult, RingFacts, SessionView } from '../domain/session';
import { TOOLS, isToolName } from '../domain/tools';
import { downloadArtifact } from './download';
import { ChunkAssembler, followChunks, type FollowOutcome, type FollowSink } from './follow';
import type { Progress } from './progress';

/** What `debug-task <task>` reports (and prints as `--json`). */
export interface SessionOutcome {
  sessionId: string;
  status: 'SUCCEEDED';
  target: { taskArn: string; clusterArn: string; container: string; instanceId: string };
  tool: NonNullable<ChildResult['tool']>;
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
  /** Stopped early (`debug-task stop`, a first Ctrl-C): the capture kept, at `atSeconds` of `ofSeconds`. */
  stoppedEarly?: { atSeconds: number; ofSeconds: number };
  /** A ring buffer's capture: the window it kept (ringOutcome). */
  ring?: RingOutcome;
  /** --follow: how the stream was made (chunks while it ran, the artifact's part at the end). */
  follow?: FollowOutcome;
  /** `debug-task fetch` of a session whose upload had failed: where the artifact came from. */
  reupload?: { instanceId: string; hostPath?: string; reuploadId: string };
}

export interface RunOptions {
  /** Where the artifact goes; default ./debug-task-<session>.<ext>. */
  output?: string;
  progress: Progress;
  /** Aborted on a Ctrl-C that discards: the session is cancelled (and cleaned up) before we return. */
  signal?: AbortSignal;
  /**
   * Aborted on a first Ctrl-C (tcpdump's habit): the session is stopped, and its capture so far
   * collected, verified and downloaded as at the end of its duration.
   */
  stop?: AbortSignal;
  /** How long to keep following a cancel before giving up on seeing it end. */
  cancelTimeoutMs?: number;
  /** Told the session id as soon as the API has it. */
  onStarted?: (sessionId: string) => void;
  /**
   * --follow (the request asks for it): the capture is streamed here while it runs, and checked
   * against the artifact at the end instead of downloaded to `output`.
   */
  follow?: FollowSink;
}

/** The state machine's states (lib/infra/session-state-machine.ts), as a user reads them. */
const PHASES: Record<string, string> = {
  Plan: 'resolving the targets',
  Hosts: 'starting the toolbox',
  Launch: 'starting the toolbox',
  Poll: 'capturing',
  'Done?': 'capturing',
  Wait: 'capturing',
  BatchEnded: 'capturing',
  BatchNotSent: 'capturing',
  Collect: 'collecting the artifact',
  Cleanup: 'cleaning up',
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
  try {
    if (options.follow)
      return await runFollowed(client, sessionId, request, options.follow, options, startedAt);
    const view = await followSession(client, sessionId, request.durationSeconds, options);
    return await finishSession(view, options, startedAt);
  } catch (error) {
    throw inSession(error, sessionId);
  }
}

/**
 * --follow: the chunks are listed and written to `sink` while followSession polls the session as
 * always (its Ctrl-C stops and cancels unchanged); at the end the stream is checked against the
 * artifact (and completed from it after a gap).
 */
async function runFollowed(
  client: DebugTaskClient,
  sessionId: string,
  request: SessionRequest,
  sink: FollowSink,
  options: RunOptions,
  startedAt: number,
): Promise<SessionOutcome> {
  const assembler = new ChunkAssembler(sink.write, (seq) =>
    options.progress.note(
      `chunk ${seq} of the stream is missing (its upload failed): the stream resumes from the artifact at the end`,
    ),
  );
  const listing = new AbortController();
  const chunks = followChunks(client, sessionId, assembler, {
    progress: options.progress,
    signal: listing.signal,
  }).then(
    () => undefined,
    (error: unknown) => error,
  );
  let view: SessionView;
  try {
    view = await followSession(client, sessionId, request.durationSeconds, options);
  } catch (error) {
    listing.abort();
    await chunks;
    throw error;
  }
  const failed = await chunks;
  if (failed) throw failed;
  return finishSession(view, options, startedAt, assembler);
}

/**
 * Polls until the session ends. A first Ctrl-C (`stop`) turns into a stop: the session then ends as
 * at its duration, with its capture so far; a Ctrl-C that discards (`signal`) into a cancel that we
 * see through.
 */
export async function followSession(
  client: DebugTaskClient,
  sessionId: string,
  durationSeconds: number | undefined,
  options: RunOptions,
): Promise<SessionView> {
  const startedAt = Date.now();
  let cancelRequestedAt: number | undefined;
  let stopRequested = false;
  let captureStartedAt: number | undefined;
  for (;;) {
    if (options.stop?.aborted && !stopRequested && !options.signal?.aborted) {
      stopRequested = true;
      options.progress.note(
        `stopping ${sessionId}: the capture so far is collected and kept (Ctrl-C again discards it)...`,
      );
      await client.stopSession(sessionId);
    }
    if (options.signal?.aborted && cancelRequestedAt === undefined) {
      cancelRequestedAt = Date.now();
      options.progress.note(
        `cancelling ${sessionId}: removing the toolbox container (the capture is discarded)...`,
      );
      await client.cancelSession(sessionId);
    }
    const view = await client.getSession(sessionId);
    if (view.status !== 'RUNNING') {
      options.progress.done();
      if (cancelRequestedAt !== undefined && view.status === 'SUCCEEDED') {
        // The stop (or the duration) ended it before the cancel arrived: a cancel asks to discard,
        // so nothing is downloaded, whichever came first (the exit code does not depend on a race).
        throw new DebugTaskError(
          'CANCELLED',
          `Session ${sessionId} had already ended when it was cancelled: nothing was downloaded, and nothing is left on the host.`,
          {
            hint: `Its capture stays in S3 until the session expires: \`debug-task fetch ${sessionId}\` downloads it.`,
          },
        );
      }
      if (cancelRequestedAt !== undefined) {
        const unconfirmed = unconfirmedCleanup(view);
        throw new DebugTaskError(
          'CANCELLED',
          unconfirmed
            ? `Session ${sessionId} was cancelled; ${unconfirmed} not confirmed their cleanup yet: their watchdog removes the toolbox container by the session's deadline.`
            : `Session ${sessionId} was cancelled; nothing is left on the host.`,
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
    const phase =
      stopRequested && cancelRequestedAt === undefined
        ? 'stopping: collecting the capture so far'
        : (PHASES[view.phase ?? ''] ?? view.phase ?? 'starting');
    if (phase === 'capturing') captureStartedAt ??= Date.now();
    const secondsLeft =
      phase === 'capturing' && durationSeconds !== undefined && captureStartedAt !== undefined
        ? durationSeconds - (Date.now() - captureStartedAt) / 1000
        : undefined;
    options.progress.update(phase, stopRequested ? undefined : secondsLeft);
    const ending = stopRequested || phase === PHASES.Collect || phase === PHASES.Cleanup;
    await sleep(pollDelayMs(Date.now() - startedAt, secondsLeft, ending));
  }
}

/**
 * "1 of 3 hosts has" when Cleanup gave up waiting for some hosts to confirm their cleanup (the
 * record's error details: `cleanup: { hosts, confirmed }`); undefined when every host confirmed.
 */
export function unconfirmedCleanup(view: SessionView): string | undefined {
  const cleanup = view.error?.details?.cleanup as { hosts?: unknown; confirmed?: unknown } | undefined;
  const hosts = typeof cleanup?.hosts === 'number' ? cleanup.hosts : undefined;
  const confirmed = typeof cleanup?.confirmed === 'number' ? cleanup.confirmed : undefined;
  if (hosts === undefined || confirmed === undefined || confirmed >= hosts) return undefined;
  const left = hosts - confirmed;
  return `${left} of ${hosts} host${hosts === 1 ? '' : 's'} ${left === 1 ? 'has' : 'have'}`;
}

/**
 * Poll fast while things change (start, end of capture), once a second during the capture:
 * the session's end is seen within ~0.3 s without hammering the API for a 15-minute capture.
 * The session's end (the capture's last 2 s and past them, the runner's finish; and `ending`: Collect,
 * Cleanup, a stop): every 150 ms, as the user waits for nothing else then, and a session ends once
 * (~10-20 more GETs a session, against ~75 ms less, on average, between its record's end and this
 * command seeing it). `secondsLeft`: of the capture, while it runs (undefined before it starts).
 */
export function pollDelayMs(elapsedMs: number, secondsLeft: number | undefined, ending = false): number {
  if (ending || (secondsLeft !== undefined && secondsLeft <= 2)) return 150;
  if (elapsedMs < 3000) return 250;
  if (secondsLeft !== undefined) return 1000;
  return 300;
}

async function finishSession(
  view: SessionView,
  options: RunOptions,
  startedAt: number | undefined,
  followed?: ChunkAssembler,
): Promise<SessionOutcome> {
  // A one-task session (or one child of a service's) is its one child.
  const child = view.result?.kind === 'task' ? view.result.children[0] : undefined;
  const url = child ? view.downloadUrls?.[child.sessionId] : undefined;
  if (view.status !== 'SUCCEEDED' || !child?.artifact || !child.tool || !url) {
    throw view.error
      ? errorFromBody(view.error)
      : new DebugTaskError('AWS_ERROR', `Session ${view.sessionId} ended ${view.status} without a result.`);
  }
  const artifact = child.artifact;
  const extension = isToolName(child.tool.name) ? TOOLS[child.tool.name].extension : 'out';
  const path =
    followed && options.follow
      ? options.follow.path
      : resolvePath(options.output ?? `debug-task-${view.sessionId}.${extension}`);
  options.progress.update(followed ? 'checking the stream against the artifact' : 'downloading');
  const downloadStart = Date.now();
  // Followed: the stream is the artifact (checked; completed from it after a gap); else downloaded.
  const follow = followed
    ? await followed.complete(artifact, (to) => downloadArtifact(url, artifact, to))
    : await downloadArtifact(url, artifact, path);
  options.progress.done();
  const end = Date.now();
  const captureSeconds = captureSecondsOf(child);
  const duration = view.input?.spec.durationSeconds;
  // A fetch (startedAt undefined) did not wait for the session: its total is the session's own,
  // from its start to its end, and the download is told apart.
  const totalSeconds =
    startedAt !== undefined
      ? (end - startedAt) / 1000
      : (sessionSpanSeconds(view) ?? captureSeconds) + (end - downloadStart) / 1000;
  return {
    sessionId: view.sessionId,
    status: 'SUCCEEDED',
    target: {
      taskArn: child.taskArn,
      clusterArn: child.clusterArn,
      container: child.container,
      instanceId: child.instanceId,
    },
    tool: child.tool,
    artifact: {
      path,
      s3Uri: artifact.s3Uri,
      bytes: artifact.bytes,
      sha256: artifact.sha256,
      format: artifact.format,
      ...(artifact.linkType && { linkType: artifact.linkType }),
      truncated: artifact.truncated,
    },
    ...(child.stoppedEarly &&
      duration !== undefined && {
        stoppedEarly: { atSeconds: Math.round(captureSeconds), ofSeconds: duration },
      }),
    ...(child.ring && { ring: ringOutcome(child.ring, child.timings?.captureEndedAt) }),
    ...(follow && { follow }),
    timings: {
      totalSeconds: round(totalSeconds),
      captureSeconds: round(captureSeconds),
      overheadSeconds: round(totalSeconds - captureSeconds),
      downloadSeconds: round((end - downloadStart) / 1000),
    },
  };
}

/** What a ring buffer kept, as the summary and `--json` show it. */
export interface RingOutcome {
  windowSeconds?: number;
  windowBytes?: number;
  /** It went round, dropping older packets (false: it never filled its window). */
  wrapped: boolean;
  /** A time ring's older files dropped as it turned. */
  rotatedOut?: number;
  /** The first packet kept (ISO 8601) and the span from it to the capture's end, in seconds. */
  firstPacketAt?: string;
  keptSeconds?: number;
  /** Packets captured while it ran, kept or not (when some were rotated out). */
  capturedPackets?: number;
}

export function ringOutcome(ring: RingFacts, captureEndedAt: number | undefined): RingOutcome {
  return {
    ...(ring.windowSeconds !== undefined && { windowSeconds: ring.windowSeconds }),
    ...(ring.windowBytes !== undefined && { windowBytes: ring.windowBytes }),
    wrapped: ring.wrapped,
    ...(ring.rotatedOut !== undefined && { rotatedOut: ring.rotatedOut }),
    ...(ring.firstPacketAt !== undefined && {
      firstPacketAt: new Date(ring.firstPacketAt).toISOString(),
      ...(captureEndedAt !== undefined && {
        keptSeconds: round(Math.max(0, captureEndedAt - ring.firstPacketAt) / 1000),
      }),
    }),
    ...(ring.capturedPackets !== undefined && { capturedPackets: ring.capturedPackets }),
  };
}

/** The runner reports when the tool started and stopped, in Unix epoch milliseconds. */
export function captureSecondsOf(child: ChildResult): number {
  const start = Number(child.timings?.captureStartedAt);
  const end = Number(child.timings?.captureEndedAt);
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
  return finishSession(view, options, undefined);
}

/** From the session's start to its end, as the API reports them. */
function sessionSpanSeconds(view: SessionView): number | undefined {
  const start = Date.parse(view.startedAt ?? '');
  const stop = Date.parse(view.stoppedAt ?? '');
  return Number.isFinite(start) && Number.isFinite(stop) && stop >= start ? (stop - start) / 1000 : undefined;
}

/** Polls a re-upload every second: it is one upload from the host, seconds for most artifacts. */
export const REUPLOAD_POLL_MS = 1000;
/** Past the command's own SSM execution timeout (an hour), give up following it. */
export const REUPLOAD_FOLLOW_MS = 3_700_000;

/**
 * POST /sessions/{id}/reupload, then GET .../reupload/{reuploadId} until the hosts are done; the
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
        details: { reuploadId: view.reuploadId },
      });
    }
    options.progress.update(`re-uploading from ${where}`);
    await sleep(REUPLOAD_POLL_MS);
    view = await client.getReupload(sessionId, view.reuploadId);
  }
  options.progress.done();
  const result = view.result;
  const child = result?.children.find((c) => c.sessionId === sessionId) ?? result?.children[0];
  if (!result || !child) {
    throw new DebugTaskError('AWS_ERROR', `The re-upload of ${sessionId} succeeded without a result.`);
  }
  const outcome = await finishSession(
    {
      sessionId,
      status: 'SUCCEEDED',
      result: { ...result, kind: 'task', children: [child] },
      ...(view.downloadUrls && { downloadUrls: view.downloadUrls }),
    },
    options,
    undefined,
  );
  return {
    ...outcome,
    reupload: { instanceId: child.instanceId, ...(hostPath && { hostPath }), reuploadId: view.reuploadId },
  };
}
