import type { ErrorBody, ErrorCode } from './errors';
import type { RunnerManifest, ArtifactFacts, ToolOutcome } from './session';

/**
 * A fleet session: one session id for every running task of a service, one child per task.
 * The contract between the fleet steps (lib/steps/fleet-*.ts), the host runner's `fleet` action
 * (lib/host/runner/), the API and the CLI. docs/ARCHITECTURE.md, "Fleet sessions", tells the path.
 *
 * Child session ids are the fleet's id plus `-NNNN` (the target's index in the plan, from 0000):
 * the runner names the toolbox container, labels and work dir after it exactly as for a single
 * session, and `action=cleanup` with the fleet's id removes every child too.
 */

/** Most children one fleet has: four digits of child index, and the resolver's ceiling. */
export const MAX_FLEET_CHILDREN = 1000;

export function childSessionId(fleetId: string, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_FLEET_CHILDREN) {
    throw new RangeError(`child index must be 0..${MAX_FLEET_CHILDREN - 1}, got ${index}`);
  }
  return `${fleetId}-${String(index).padStart(4, '0')}`;
}

/**
 * The plan object (one per SendCommand batch): what each host of that batch runs. Every session is
 * a plan, a single task's a plan of one (child `<sessionId>-0000`). SendCommand gives every host
 * of a call the same parameters, so each host's runner fetches this (presigned GET, `planUrl`) and
 * keeps the lines of its own instance id (`AWS_SSM_INSTANCE_ID`, set by the SSM agent for every
 * command): `action=plan` runs one capture (`run`) per line, `action=reupload` re-uploads each
 * line's kept artifact.
 *
 * Text, not JSON: the runner is bash on hosts without jq. Line 1 is PLAN_HEADER; then one line per
 * target, five fields separated by one TAB, LF-terminated:
 *
 *   <instanceId> TAB <childSessionId> TAB <containerId> TAB <artifactUrl> TAB <manifestUrl>
 *
 * containerId is the target's Docker id (`-` in a re-upload plan: nothing is started);
 * artifactUrl and manifestUrl are presigned PUTs of the child's artifact and of its manifest
 * (RunnerManifest, JSON), which the host puts after the artifact. Every field matches its
 * HOST_PARAMS pattern (instanceId: INSTANCE_ID_PATTERN; artifactUrl: uploadUrl's); the runner
 * checks each again before use, as it checks SSM parameters. No field can hold a TAB or a newline.
 */
export const PLAN_HEADER = '# debug-task plan v2';
export const INSTANCE_ID_PATTERN = '^(i-[0-9a-f]{8,17}|mi-[0-9a-f]{17})$';
/** The containerId of a re-upload plan's lines. */
export const NO_CONTAINER = '-';

export interface PlanLine {
  instanceId: string;
  childSessionId: string;
  /** The target's Docker id; NO_CONTAINER in a re-upload plan. */
  containerId: string;
  /** Presigned PUT of the child's artifact. */
  artifactUrl: string;
  /** Presigned PUT of the child's manifest (put after the artifact). */
  manifestUrl: string;
}

export function renderPlan(lines: readonly PlanLine[]): string {
  const body = lines.map((l) =>
    [l.instanceId, l.childSessionId, l.containerId, l.artifactUrl, l.manifestUrl].join('\t'),
  );
  return [PLAN_HEADER, ...body].join('\n') + '\n';
}

/**
 * The last stdout line of the v1 `action=fleet`, read by the fleet steps until they move to the
 * plan's HostSummary (lib/domain/host-summary.ts): no runner prints it any more.
 * @deprecated the runner's `plan` action prints a HostSummary; children's manifests are in S3.
 */
export interface FleetHostManifest {
  v: 1;
  action: 'fleet';
  sessionId: string;
  instanceId: string;
  status: 'OK' | 'FAILED';
  error?: { code: string; message: string };
  children: RunnerManifest[];
  timings: { startedAt: number; endedAt: number };
}

/** One target of a fleet, as the fleet manifest and GET /sessions/{id} report it. */
export interface FleetChild {
  index: number;
  sessionId: string;
  taskArn: string;
  container: string;
  instanceId: string;
  status: 'SUCCEEDED' | 'FAILED';
  error?: ErrorBody;
  tool?: ToolOutcome;
  artifact?: ArtifactFacts & { s3Uri: string; bucket: string; key: string };
  timings?: Record<string, number>;
}

/** A task of the service that got no child (the single resolver's code and message). */
export interface FleetSkipped {
  taskArn: string;
  code: ErrorCode;
  message: string;
}

/**
 * The fleet manifest (`sessions/<fleetId>/manifest.json`) and the execution output of a finished
 * fleet. `status` SUCCEEDED when at least one child succeeded; the counts tell the rest.
 */
export interface FleetResult {
  kind: 'fleet';
  sessionId: string;
  status: 'SUCCEEDED';
  target: { cluster: string; service: string };
  counts: {
    listed: number;
    targets: number;
    succeeded: number;
    failed: number;
    skipped: number;
    leftOut: number;
  };
  /** Unix seconds every capture was told to start at. */
  startAt: number;
  children: FleetChild[];
  skipped: FleetSkipped[];
  /** s3://bucket/sessions/<id>/manifest.json */
  manifestUri: string;
}

/**
 * POST /sessions/preview: what a service target resolves to now, nothing started (the CLI shows
 * it, asks for confirmation on a TTY, and `--dry-run` stops there).
 */
export interface FleetPreview {
  target: { cluster: string; service: string };
  targets: { taskArn: string; container: string; instanceId: string }[];
  skipped: FleetSkipped[];
  listed: number;
  maxTasks: number;
  leftOut: number;
  /** Hosts the targets run on (SendCommand batches of 50). */
  instances: number;
}

/** S3 keys of a fleet, beside `sessionKeys` (session.ts). */
export const fleetKeys = {
  plan: (fleetId: string, batch: number) => `sessions/${fleetId}/plan/${batch}.tsv`,
  /** The targets and skipped tasks, as resolved (JSON), for Collect and for GET while running. */
  resolution: (fleetId: string) => `sessions/${fleetId}/resolution.json`,
  /** One batch's host manifests, written by its poll when the batch is done (JSON array). */
  batchResult: (fleetId: string, batch: number) => `sessions/${fleetId}/batches/${batch}.json`,
  childrenPrefix: (fleetId: string) => `sessions/${fleetId}/children/`,
  childArtifact: (fleetId: string, childId: string, extension: string) =>
    `sessions/${fleetId}/children/${childId}/artifact.${extension}.gz`,
};

/** One SendCommand: at most 50 hosts (SendCommand's InstanceIds limit) and the plan object they read. */
export interface FleetBatch {
  batch: number;
  instanceIds: string[];
}

/** What FleetPlan (the fleet's first step) adds to the state at `$.fleet`: small, whatever the fleet's size. */
export interface FleetLaunchInfo {
  bucket: string;
  /** Unix seconds: every capture starts then (synchronized start). */
  startAt: number;
  /** Unix seconds: the label the watchdog and the sweeper act on (startAt + duration + grace). */
  expiresAt: number;
  /** Unix seconds: past it a host still running is given up on (expiresAt + upload margin). */
  deadline: number;
  batches: FleetBatch[];
  counts: { listed: number; targets: number; skipped: number; leftOut: number };
  cluster: string;
  service: string;
}

/** A target as FleetPlan wrote it to `resolution.json`, with its child session id. */
export interface FleetTargetRecord {
  index: number;
  sessionId: string;
  taskArn: string;
  container: string;
  instanceId: string;
  key: string;
}

/** `sessions/<id>/resolution.json`. */
export interface FleetResolutionRecord {
  v: 1;
  sessionId: string;
  cluster: string;
  clusterArn: string;
  service: string;
  maxTasks: number;
  listed: number;
  leftOut: number;
  targets: FleetTargetRecord[];
  skipped: FleetSkipped[];
  calls: Record<string, number>;
}

/** One host's end of a batch, as the batch's poll saw it (`batches/<n>.json` holds an array). */
export interface HostOutcome {
  instanceId: string;
  /** SSM's status (Success, Failed, TimedOut, ...), or our own `GaveUp` past the deadline. */
  status: string;
  responseCode?: number;
  manifestLine?: string;
  stderrTail?: string;
}

/** Output of one Map iteration (the Map's result is their array, at `$.batchResults`). */
export interface BatchOutcome {
  batch: number;
  /** Set when the batch's SendCommand failed: none of its hosts started anything. */
  error?: { Error: string; Cause: string };
}
