import { randomBytes } from 'node:crypto';
import type { ArtifactFormat, ToolName } from './tools';
import type { SessionSpec } from './session-spec';
import type { ErrorBody } from './errors';
import type { FleetResult } from './fleet';

/**
 * The contract between the API, the state machine's steps and the CLI.
 *
 * The state machine's state object grows as it goes (each step writes one key):
 *   ExecutionInput -> +target (Resolve) -> +launch (Launch) -> +poll (Poll, looped) -> result (Collect)
 * On failure, Catch puts {Error, Cause} at $.error and Cleanup runs, then re-raises the error.
 */

/** Execution input, written by the api function; the execution is named after `sessionId`. */
export interface ExecutionInput {
  sessionId: string;
  spec: SessionSpec;
  requestedAt: string;
  /** IAM identity of the caller (API Gateway's IAM context), for audit. */
  caller: string;
}

/** Output of Resolve: everything needed to reach the target container. */
export interface ResolvedTarget {
  clusterArn: string;
  taskArn: string;
  taskDefinitionArn?: string;
  launchType?: string;
  container: { name: string; runtimeId: string };
  containerInstanceArn: string;
  /** EC2 instance id (i-...) or SSM managed instance id (mi-...) for ECS Anywhere. */
  instanceId: string;
  platform: { name?: string; version?: string; agentVersion?: string };
}

/** Output of Launch. */
export interface LaunchInfo {
  commandId: string;
  instanceId: string;
  bucket: string;
  objectKey: string;
  /** ISO time SendCommand returned. */
  startedAt: string;
  /** Unix seconds: the capture must have ended and uploaded by then (duration + grace). */
  deadline: number;
  /** Unix seconds: the label the watchdog and the sweeper act on. */
  expiresAt: number;
}

/** Output of Poll. */
export interface PollResult {
  done: boolean;
  /** SSM invocation status (Pending, InProgress, Success, Failed, ...). */
  status: string;
  /** Seconds the Wait state waits before the next poll. */
  waitSeconds: number;
  /** When done: the last line of the runner's stdout (its manifest). */
  manifestLine?: string;
  /** When done: SSM's response code (the runner's exit status). */
  responseCode?: number;
  /** When done: the end of stderr, for errors without a manifest. */
  stderrTail?: string;
}

/** How the tool ended, as the runner saw it. */
export interface ToolOutcome {
  name: ToolName;
  exitCode: number | null;
  packets?: number | null;
  dropped?: number | null;
}

/** What the runner knows of an artifact; the CLI checks both hashes after download. */
export interface ArtifactFacts {
  format: ArtifactFormat;
  compression: 'gzip';
  /** Bytes and sha256 of the artifact itself (what the user ends up with). */
  bytes: number;
  sha256: string;
  /** Bytes and sha256 of the object in S3 (gzip). */
  objectBytes: number;
  objectSha256: string;
  linkType?: string;
  truncated: boolean;
}

/** The runner's manifest: the last line of its stdout (see lib/host/runner/). */
export interface RunnerManifest {
  v: 1;
  sessionId: string;
  status: 'OK' | 'FAILED' | 'UPLOAD_FAILED';
  error?: { code: string; message: string };
  tool: ToolOutcome;
  artifact?: ArtifactFacts & {
    uploaded: boolean;
    /** Where the artifact is kept on the host when it could not be uploaded. */
    hostPath?: string;
  };
  timings: { startedAt: number; captureStartedAt?: number; captureEndedAt?: number; endedAt: number };
  /** action=run: who asked and why, as put on the toolbox container's labels ('' when not given). */
  audit?: { caller: string; reason: string };
  /** The host's instance id (AWS_SSM_INSTANCE_ID), when the SSM agent ran the runner. */
  instanceId?: string;
  /**
   * Printed (stdout) only, when a manifestUrl was given: whether the manifest also reached S3
   * (written there after the artifact). false: only this printed line tells the run's outcome.
   */
  manifestUploaded?: boolean;
  /** action=cleanup prints `"action":"cleanup"` and what it removed; action=reupload `"action":"reupload"`. */
  action?: 'cleanup' | 'reupload';
  cleanup?: {
    containersRemoved: number | null;
    watchdogStopped: boolean;
    workDir: 'absent' | 'kept' | 'removed';
    /** A fleet's id: its children found on the host, and the runners (fleet, children) stopped. */
    childSessions?: number;
    runnersStopped?: number;
  };
}

/** What a finished session reports (execution output; GET /sessions/{id} `result`). */
export interface SessionResult {
  sessionId: string;
  status: 'SUCCEEDED';
  target: {
    taskArn: string;
    clusterArn: string;
    container: string;
    instanceId: string;
  };
  tool: ToolOutcome;
  artifact: ArtifactFacts & { s3Uri: string; bucket: string; key: string };
  timings: Record<string, number | string>;
}

export type SessionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | 'TIMED_OUT';

/** GET /sessions/{id} */
export interface SessionView {
  sessionId: string;
  status: SessionStatus;
  /** Last state entered (Resolve, Launch, Wait, Poll, Collect, Cleanup), while running. */
  phase?: string;
  startedAt?: string;
  stoppedAt?: string;
  input?: ExecutionInput;
  /** A single session's SessionResult, or a fleet's FleetResult (`kind: 'fleet'`). */
  result?: SessionResult | FleetResult;
  /** Presigned GET URL of the artifact, when a single session SUCCEEDED. */
  downloadUrl?: string;
  /** A fleet's presigned GET URLs, one per succeeded child, keyed by the child's session id. */
  downloadUrls?: Record<string, string>;
  error?: ErrorBody;
}

/** POST /sessions/{id}/reupload (202): the re-upload command was sent to the host. */
export interface ReuploadStarted {
  sessionId: string;
  /** SSM command id: follow it with GET /sessions/{id}/reupload/{commandId}. */
  commandId: string;
  /** The host that keeps the artifact. */
  instanceId: string;
  status: 'RUNNING';
}

/** GET /sessions/{id}/reupload/{commandId}. A failed re-upload is a typed error instead. */
export interface ReuploadView {
  sessionId: string;
  commandId: string;
  instanceId: string;
  status: 'RUNNING' | 'SUCCEEDED';
  /** SSM's status of the command while it runs (Pending, InProgress, ...). */
  ssmStatus?: string;
  /** When SUCCEEDED: the session's result as if its first upload had worked (the artifact is in S3). */
  result?: SessionResult;
  /** When SUCCEEDED: presigned GET URL of the artifact. */
  downloadUrl?: string;
}

export function isFleetResult(result: SessionResult | FleetResult): result is FleetResult {
  return (result as FleetResult).kind === 'fleet';
}

/** One row of GET /sessions (newest first). */
export interface SessionSummary {
  sessionId: string;
  status: SessionStatus;
  startedAt?: string;
  stoppedAt?: string;
  /** `describeTarget` of the request: the task, or `service S (cluster C)`. */
  target?: string;
  tool?: string;
  /** Who asked (IAM ARN from the API's IAM context). */
  caller?: string;
  kind?: 'task' | 'fleet';
}

/**
 * Seconds after the capture a host gets to compress and upload before the watchdog removes the
 * toolbox container: the stack's default (`graceSeconds`), and what `debug-task local` allows.
 */
export const DEFAULT_GRACE_SECONDS = 30;

/** S3 key layout: one prefix per session. */
export const sessionKeys = {
  prefix: (sessionId: string) => `sessions/${sessionId}/`,
  artifact: (sessionId: string, extension: string) => `sessions/${sessionId}/artifact.${extension}.gz`,
  manifest: (sessionId: string) => `sessions/${sessionId}/manifest.json`,
  cancel: (sessionId: string) => `sessions/${sessionId}/cancel`,
};

/** dt-<utc yyyymmddhhmmss>-<6 random base36>: sortable, a valid execution name, container name and S3 key. */
export function newSessionId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const random = BigInt(`0x${randomBytes(6).toString('hex')}`)
    .toString(36)
    .padStart(6, '0')
    .slice(-6);
  return `dt-${stamp}-${random}`;
}
