import { randomBytes } from 'node:crypto';
import type { ArtifactFormat, ToolName } from './tools';
import type { SessionSpec } from './session-spec';
import type { ErrorBody, ErrorCode } from './errors';
import type { FollowFacts } from './follow';

/**
 * The contract between the API, the state machine's steps and the CLI: one path for every session,
 * one task or a whole service (docs/ARCHITECTURE.md, "The state machine").
 *
 *   Plan -> Hosts (Map over SendCommand batches of <= 50 hosts: Launch -> Poll -> Wait ...) -> Collect
 *   Hosts and Collect --catch--> Cleanup (re-raises)
 *
 * A session has children: one per target task, `<sessionId>-NNNN`. A one-task session is a plan of
 * one target: its only child is `<sessionId>-0000`, and it is reported as that child (the same
 * `--json`, the same errors) because that is what its user asked for.
 */

/** Execution input, written by the api function; the execution is named after the session (or re-upload). */
export interface ExecutionInput {
  sessionId: string;
  spec: SessionSpec;
  requestedAt: string;
  /** IAM identity of the caller (API Gateway's IAM context), for audit; a trigger's rule ARN. */
  caller: string;
  /** The declared trigger that started the session (lib/triggers): `caller` is then its rule's ARN. */
  trigger?: string;
  /**
   * Set when the execution uploads again the artifacts a session's hosts kept after UPLOAD_FAILED
   * (`debug-task fetch`): the same path, with the session's own spec, for the children named.
   */
  reupload?: ReuploadRequest;
}

export interface ReuploadRequest {
  /** `r<n>`: names the execution (`<sessionId>-<id>`) and the S3 prefix of its records. */
  id: string;
  /** Child session ids whose kept artifacts are uploaded again. */
  children: string[];
}

/** One task the session captures next to: what Plan resolved, and where its child writes. */
export interface PlanTarget {
  /** Position in the plan, from 0; names the child (`childSessionId`). */
  index: number;
  sessionId: string;
  taskArn: string;
  clusterArn: string;
  container: string;
  /** Docker id of the container (ECS runtimeId): the toolbox joins its namespaces. */
  containerId: string;
  /** EC2 instance id (i-...) or SSM managed instance id (mi-...) for ECS Anywhere. */
  instanceId: string;
  platform?: { name?: string; version?: string; agentVersion?: string };
  /**
   * What the deployment's policy decided on (lib/authz): the task's service ('' for none), its
   * tags, launch type and network mode, kept so that `read`, `cancel` and `fetch` by someone other
   * than the owner are decided on the targets the session really covered.
   */
  service?: string;
  tags?: Record<string, string>;
  launchType?: string;
  networkMode?: string;
}

/** What the resolver finds for one task: everything needed to reach its container. */
export interface ResolvedTarget {
  clusterArn: string;
  taskArn: string;
  taskDefinitionArn?: string;
  launchType?: string;
  /** The service that started the task (ECS's `group` `service:NAME`), or '' for none. */
  service: string;
  /** The task's tags (DescribeTasks with `include: TAGS`). */
  tags: Record<string, string>;
  /** The task definition's network mode, looked up only when a deployment policy decides. */
  networkMode?: string;
  container: { name: string; runtimeId: string };
  containerInstanceArn: string;
  /** EC2 instance id (i-...) or SSM managed instance id (mi-...) for ECS Anywhere. */
  instanceId: string;
  platform: { name?: string; version?: string; agentVersion?: string };
}

/** A task of the request that got no child, with the code and message the resolver gave. */
export interface SkippedTask {
  taskArn: string;
  code: ErrorCode;
  message: string;
}

/** `sessions/<id>/plan.json` (or a re-upload's): what Plan resolved, read by Launch and Collect. */
export interface PlanRecord {
  v: 2;
  sessionId: string;
  kind: SessionKind;
  clusterArn: string;
  /** The service of a service-wide session. */
  service?: string;
  /** Tasks ListTasks returned (a service), or 1. */
  listed: number;
  /** The cap applied (a service's maxTasks), or 1. */
  maxTasks: number;
  /** Tasks the cap left out: listed, but neither targeted nor skipped. */
  leftOut: number;
  targets: PlanTarget[];
  skipped: SkippedTask[];
  /** Control-plane calls made to resolve, per API (`ecs:DescribeTasks`, ...). */
  calls: Record<string, number>;
}

export type SessionKind = 'task' | 'service';

/** One SendCommand: at most 50 hosts (SendCommand's InstanceIds limit). */
export interface HostBatch {
  batch: number;
  instanceIds: string[];
}

/** What Plan adds to the state at `$.plan`: small, whatever the number of targets. */
export interface PlanInfo {
  kind: SessionKind;
  bucket: string;
  /** Unix seconds every capture starts at (several hosts start together); absent: at once. */
  startAt?: number;
  /** Unix seconds: the label the watchdog and the sweeper act on. */
  expiresAt: number;
  /** Unix seconds: past it a host still running is given up on (expiresAt + upload margin). */
  deadline: number;
  batches: HostBatch[];
  counts: { listed: number; targets: number; skipped: number; leftOut: number };
  /** The execution's re-upload request, when it is one (the Map's iterations read it here). */
  reupload?: ReuploadRequest;
}

/** The state of one iteration of the Map (one batch of hosts): the request, the plan, its batch. */
export type BatchState = Omit<ExecutionInput, 'reupload'> & { plan: PlanInfo; batch: HostBatch };

/** Output of Launch: the batch's command. */
export interface BatchCommand {
  commandId: string;
  /** ISO time SendCommand returned. */
  sentAt: string;
}

/** Output of Poll (looped through Wait until `done`). */
export interface BatchPoll {
  done: boolean;
  /** Seconds the Wait state sleeps before the next poll. */
  waitSeconds: number;
  /** Hosts of the batch that have ended, of `instanceIds.length`. */
  ended: number;
  /** When this batch's hosts were sent action=stop (ISO), once the session's stop marker was seen. */
  stopSentAt?: string;
}

/** One host's end of a batch, as its poll saw it (`batches/<n>.json` holds the batch's array). */
export interface HostOutcome {
  instanceId: string;
  /** SSM's status (Success, Failed, TimedOut, ...), or our own `GaveUp` past the deadline. */
  status: string;
  responseCode?: number;
  /** The runner's last stdout line: its host summary (lib/domain/host-summary.ts). */
  summaryLine?: string;
  /** The end of its stderr, for a host that printed no summary. */
  stderrTail?: string;
}

/** Output of one Map iteration (the Map's result is their array, at `$.batchResults`). */
export interface BatchOutcome {
  batch: number;
  /** Set when the batch could not be sent: none of its hosts started anything. */
  error?: { Error: string; Cause: string };
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

/** The runner's manifest (lib/domain/runner-manifest.ts reads it): one capture on one host. */
export interface RunnerManifest {
  v: 1;
  sessionId: string;
  status: 'OK' | 'FAILED' | 'UPLOAD_FAILED';
  error?: { code: string; message: string };
  tool: ToolOutcome;
  /** What a result that is not a failure should not be taken for (e.g. 0 packets captured). */
  warnings?: string[];
  artifact?: ArtifactFacts & {
    uploaded: boolean;
    /** Where the artifact is kept on the host when it could not be uploaded. */
    hostPath?: string;
  };
  timings: {
    startedAt: number;
    captureStartedAt?: number;
    captureEndedAt?: number;
    /** When a stop reached the host (action=stop), for a capture it ended before its duration. */
    stoppedAt?: number;
    endedAt: number;
  };
  /** The capture was stopped early (`debug-task stop`, a first Ctrl-C) and kept. */
  stoppedEarly?: true;
  /** A ring buffer's capture (tcpdump with ringSeconds or ringBytes). */
  ring?: RingFacts;
  /** A followed capture (chunkUrl): the chunks its host uploaded. */
  follow?: FollowFacts;
  /** action=run: who asked and why, as put on the toolbox container's labels ('' when not given). */
  audit?: { caller: string; reason: string };
  /** The host's instance id (AWS_SSM_INSTANCE_ID), when the SSM agent ran the runner. */
  instanceId?: string;
  /**
   * How the parameters reached the runner through the SSM document: `env` (the agent set
   * SSM_<name>, interpolationType ENV_VAR) or `text` (an older agent substituted them into the
   * bootstrap, single-quoted). Absent when the runner ran without the document (debug-task local).
   */
  paramMode?: 'env' | 'text';
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
    /** A session's id: its children found on the host, and the runners (plan, children) stopped. */
    childSessions?: number;
    runnersStopped?: number;
  };
}

/** An artifact in S3, with the runner's facts of it. */
export type ArtifactRef = ArtifactFacts & { s3Uri: string; bucket: string; key: string };

/** One child of a finished session: its target and how its capture ended. */
export interface ChildResult {
  index: number;
  sessionId: string;
  taskArn: string;
  clusterArn: string;
  container: string;
  instanceId: string;
  status: 'SUCCEEDED' | 'FAILED';
  error?: ErrorBody;
  tool?: ToolOutcome;
  artifact?: ArtifactRef;
  /** The host's timings (Unix epoch milliseconds). */
  timings?: Record<string, number>;
  /** Its capture was stopped early (`debug-task stop`, a first Ctrl-C) and kept: timings.stoppedAt. */
  stoppedEarly?: true;
  /** A ring buffer's capture: the window it kept (the artifact is that window only). */
  ring?: RingFacts;
  /** A followed capture: the chunks its host uploaded while it ran. */
  follow?: FollowFacts;
}

/** What a ring buffer kept: its window, whether it dropped older packets, the first packet it kept. */
export interface RingFacts {
  /** The window asked for: the most recent seconds, or bytes (one of the two). */
  windowSeconds?: number;
  windowBytes?: number;
  /** The ring went round: older packets were dropped (the artifact is the window, not all). */
  wrapped: boolean;
  /** A time ring's files (a tenth of the window each) dropped as it turned. */
  rotatedOut?: number;
  /** The first packet the artifact holds (Unix ms); absent when it holds none. */
  firstPacketAt?: number;
  /** Every packet captured while the ring ran, kept or not (when some were rotated out). */
  capturedPackets?: number;
}

/**
 * What a finished session reports (execution output; GET /sessions/{id} `result`): one type for one
 * task and for a service. `status` is SUCCEEDED when at least one child succeeded (a one-task
 * session whose child failed ends FAILED with the child's error instead).
 */
export interface SessionResult {
  sessionId: string;
  status: 'SUCCEEDED';
  kind: SessionKind;
  target: { cluster: string; clusterArn: string; service?: string; task?: string };
  tool: ToolName;
  counts: {
    listed: number;
    targets: number;
    succeeded: number;
    failed: number;
    skipped: number;
    leftOut: number;
  };
  /** Unix seconds every capture was told to start at (several hosts). */
  startAt?: number;
  /**
   * Every child, in plan order. The execution output leaves them out above INLINE_CHILDREN (its
   * 256 KiB limit): `childrenInRecord` is then true and GET /sessions/{id} reads them from the record.
   */
  children: ChildResult[];
  childrenInRecord?: boolean;
  skipped: SkippedTask[];
  /** s3://bucket/sessions/<id>/manifest.json: the session's record (written once). */
  recordUri: string;
  /** ISO times: requested (api), collected (Collect). */
  timings: { requestedAt: string; collectedAt: string };
}

/** Children kept in the execution output; more are read from the record (`childrenInRecord`). */
export const INLINE_CHILDREN = 50;

export type SessionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | 'TIMED_OUT';

/** GET /sessions/{id} (a session's id, or a child's: then the view is that child's, as a task session). */
export interface SessionView {
  sessionId: string;
  status: SessionStatus;
  /** Last state entered (Plan, Launch, Wait, Poll, Collect, Cleanup), while running. */
  phase?: string;
  startedAt?: string;
  stoppedAt?: string;
  input?: ExecutionInput;
  result?: SessionResult;
  /** Presigned GET URLs of the succeeded children's artifacts, by child session id. */
  downloadUrls?: Record<string, string>;
  error?: ErrorBody;
}

/** POST /sessions/{id}/reupload (202): an execution uploads the kept artifacts again. */
export interface ReuploadStarted {
  sessionId: string;
  /** Follow it with GET /sessions/{id}/reupload/{reuploadId}. */
  reuploadId: string;
  /** The children whose artifacts are uploaded again. */
  children: string[];
  status: 'RUNNING';
}

/** GET /sessions/{id}/reupload/{reuploadId}. A failed re-upload is a typed error instead. */
export interface ReuploadView {
  sessionId: string;
  reuploadId: string;
  status: 'RUNNING' | 'SUCCEEDED';
  /** Last state entered while it runs. */
  phase?: string;
  /** When SUCCEEDED: the session's result as if those uploads had worked the first time. */
  result?: SessionResult;
  downloadUrls?: Record<string, string>;
}

/** One row of GET /sessions (newest first). */
export interface SessionSummary {
  sessionId: string;
  status: SessionStatus;
  startedAt?: string;
  stoppedAt?: string;
  /** The cluster's name: where the session's routes are (/clusters/{cluster}/sessions/{id}). */
  cluster?: string;
  /** `describeTarget` of the request: the task, or `service S (cluster C)`. */
  target?: string;
  tool?: string;
  /** Who asked (IAM ARN from the API's IAM context; a trigger's rule ARN). */
  caller?: string;
  /** The declared trigger that started it, if one did (`list` shows `trigger:<name>`). */
  trigger?: string;
  kind?: SessionKind;
}

/**
 * Seconds after the capture a host gets to compress and upload before the watchdog removes the
 * toolbox container: the stack's default (`graceSeconds`), and what `debug-task local` allows.
 */
export const DEFAULT_GRACE_SECONDS = 30;

/** Most children one session has: four digits of child index, and the resolver's ceiling. */
export const MAX_CHILDREN = 1000;

/** `<sessionId>-NNNN`: the child of the target at `index` in the plan. */
export function childSessionId(sessionId: string, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_CHILDREN) {
    throw new RangeError(`child index must be 0..${MAX_CHILDREN - 1}, got ${index}`);
  }
  return `${sessionId}-${String(index).padStart(4, '0')}`;
}

const CHILD_ID = /^(dt-[a-z0-9]+-[a-z0-9]+)-([0-9]{4})$/;

/** The session and index of a child id; undefined for a session's own id. */
export function parseChildId(id: string): { sessionId: string; index: number } | undefined {
  const match = CHILD_ID.exec(id);
  return match ? { sessionId: match[1], index: Number(match[2]) } : undefined;
}

/**
 * S3 key layout: one prefix per session. A child's objects sit under `children/<child id>/`, where
 * its host writes them; the session's record (`manifest.json`) is written once, by Collect or
 * Cleanup. A re-upload keeps its own plan, batches and record under `reuploads/<id>/`.
 */
export const sessionKeys = {
  prefix: (sessionId: string) => `sessions/${sessionId}/`,
  record: (sessionId: string) => `sessions/${sessionId}/manifest.json`,
  cancel: (sessionId: string) => `sessions/${sessionId}/cancel`,
  /** The API's stop marker: Poll sends action=stop to the hosts, which end the captures and keep them. */
  stop: (sessionId: string) => `sessions/${sessionId}/stop`,
  childrenPrefix: (sessionId: string) => `sessions/${sessionId}/children/`,
  childArtifact: (childId: string, extension: string) =>
    `sessions/${parentOf(childId)}/children/${childId}/artifact.${extension}.gz`,
  childManifest: (childId: string) => `sessions/${parentOf(childId)}/children/${childId}/manifest.json`,
  /** --follow: the child's chunks, `chunks/<seq>` (lib/domain/follow.ts). */
  childChunks: (childId: string) => `sessions/${parentOf(childId)}/children/${childId}/chunks/`,
  childReuploadManifest: (childId: string, reuploadId: string) =>
    `sessions/${parentOf(childId)}/children/${childId}/${reuploadId}.json`,
};

/** Keys of one run of the path: the capture itself, or a re-upload of it. */
export interface RunKeys {
  plan: string;
  hostPlan(batch: number): string;
  batch(batch: number): string;
  record: string;
}

export function runKeys(input: { sessionId: string; reupload?: ReuploadRequest }): RunKeys {
  const base = input.reupload
    ? `sessions/${input.sessionId}/reuploads/${input.reupload.id}/`
    : `sessions/${input.sessionId}/`;
  return {
    plan: `${base}plan.json`,
    hostPlan: (batch) => `${base}plan/${batch}.tsv`,
    batch: (batch) => `${base}batches/${batch}.json`,
    record: input.reupload ? `${base}record.json` : sessionKeys.record(input.sessionId),
  };
}

function parentOf(childId: string): string {
  const child = parseChildId(childId);
  if (!child) throw new RangeError(`not a child session id: ${childId}`);
  return child.sessionId;
}

/** dt-<utc yyyymmddhhmmss>-<6 random base36>: sortable, a valid execution name, container name and S3 key. */
export function newSessionId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const random = BigInt(`0x${randomBytes(6).toString('hex')}`)
    .toString(36)
    .padStart(6, '0')
    .slice(-6);
  return `dt-${stamp}-${random}`;
}

/**
 * POST /sessions/preview: what a request's target resolves to now, nothing started (the CLI shows
 * it, asks for confirmation on a TTY above a few tasks, and `--dry-run` stops there).
 */
export interface TargetsPreview {
  target: { cluster: string; service?: string; task?: string };
  targets: { taskArn: string; container: string; instanceId: string }[];
  skipped: SkippedTask[];
  listed: number;
  maxTasks: number;
  leftOut: number;
  /** Hosts the targets run on (SendCommand batches of 50). */
  instances: number;
}
