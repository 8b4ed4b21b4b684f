import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PolicyFileError, parsePolicyText } from '../authz/policy-file';
import type { StackProps } from 'aws-cdk-lib';
import { Token } from 'aws-cdk-lib';
import { HOST_PARAMS, isValidHostParam, type HostParamName } from '../domain/params';
import { DEFAULT_GRACE_SECONDS } from '../domain/session';
import { DEFAULT_MAX_RING_SECONDS } from '../domain/session-spec';
import { ROLE_CHAINING_MAX_SECONDS } from '../domain/upload';
import { resolveTriggers, type ResolvedTrigger, type TriggerDeclaration } from '../triggers/declaration';
import { TOOLBOX_DIR } from './paths';

/** CPU architecture of the hosts a toolbox image built from a Dockerfile runs on. */
export type ToolboxPlatform = 'linux/amd64' | 'linux/arm64';

/** What a `DebugTask` is told: every prop is optional, each with its default. */
export interface DebugTaskProps {
  /**
   * The toolbox image hosts run, pinned by digest: `<repository>@sha256:<64 hex>`.
   *
   * Pinned so that every host of a session runs the same bytes whatever happens to a tag later.
   * Hosts pull it themselves, so it must be in a registry they can reach (ECR of this account).
   * For a mixed amd64/arm64 fleet, give the digest of a multi-platform image index.
   *
   * @default - built from `toolboxDirectory` as a CDK Docker image asset and pushed to the
   *   account's CDK assets repository at deploy time (addressed by its content hash)
   */
  readonly toolboxImage?: string;

  /**
   * For the local sandbox only (lib/sandbox/): its loopback S3 endpoint and local image, which its
   * document then admits instead of this deployment's bucket and image. Only a loopback endpoint
   * is accepted.
   *
   * @default - the deployment's own bucket (HTTPS) and toolbox image (by digest)
   */
  readonly sandboxHost?: SandboxHost;

  /**
   * Directory with the `Dockerfile` of the toolbox image; only used when `toolboxImage` is unset.
   *
   * @default - `toolbox/` of this package
   */
  readonly toolboxDirectory?: string;

  /**
   * Platform the toolbox image is built for when it is built from `toolboxDirectory`: the
   * architecture of the container instances (Graviton instances are `linux/arm64`).
   *
   * @default 'linux/amd64'
   */
  readonly toolboxPlatform?: ToolboxPlatform;

  /**
   * Names (not ARNs) of the ECS clusters whose tasks may be debugged. The resolve function refuses
   * any other cluster, and its IAM policy only reaches these.
   *
   * @default - any cluster of this account and region
   */
  readonly allowedClusters?: string[];

  /**
   * Longest capture a session may ask for, in seconds (each tool has its own, lower or equal, cap).
   *
   * @default 900
   */
  readonly maxDurationSeconds?: number;

  /**
   * Longest a ring buffer (`--ring`) may run, in seconds: it waits for an incident, so it may run
   * longer than a capture. With maxDurationSeconds, at most what the host's upload URL outlives:
   * the URL is signed by a role session that the launch function assumes with its own role's
   * credentials (role chaining), which STS caps at one hour, so each of the two, plus graceSeconds
   * and fleetStartLeadSeconds, must stay under an hour.
   *
   * @default 2400
   */
  readonly maxRingSeconds?: number;

  /**
   * Largest artifact a session may ask for, in bytes before compression.
   *
   * @default 1_000_000_000
   */
  readonly maxBytes?: number;

  /**
   * Debug sessions one host runs at once; the next one is refused with HOST_BUSY.
   *
   * @default 2
   */
  readonly maxSessionsPerHost?: number;

  /**
   * Seconds a host gets after the capture to compress and upload before the watchdog removes the
   * toolbox container.
   *
   * @default 30
   */
  readonly graceSeconds?: number;

  /**
   * Days a session's artifact and manifest are kept in the bucket.
   *
   * @default 7
   */
  readonly artifactRetentionDays?: number;

  /**
   * Days the audit log (every authorization decision and session event, lib/audit/) is kept: one of
   * the retention periods CloudWatch Logs offers (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365,
   * 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653), and at least `artifactRetentionDays`:
   * the record of who captured what outlives the capture.
   *
   * @default 365
   */
  readonly auditLogRetentionDays?: number;

  /**
   * CPU limit of a toolbox container (`docker --cpus`), at most two decimals.
   *
   * @default 0.5
   */
  readonly hostCpus?: number;

  /**
   * Memory limit of a toolbox container, in MiB.
   *
   * @default 256
   */
  readonly hostMemoryMb?: number;

  /**
   * Process limit of a toolbox container (`docker --pids-limit`).
   *
   * @default 64
   */
  readonly hostPidsLimit?: number;

  /**
   * Minutes between two sweeps: the sweeper sends every host of the allowed clusters the runner's
   * `sweep`, which removes toolbox containers whose `debug-task.expires-at` has passed. A leftover
   * container is removed at most this long after it expired (the host's watchdog usually does it
   * first). From 1 to 1440 (a day); the sweeper cannot be switched off: it is what bounds the life of
   * a toolbox container when both the session's Cleanup and the host's watchdog failed.
   *
   * @default 15
   */
  readonly sweepIntervalMinutes?: number;

  /**
   * Whether every session must say why (`--reason`, the `reason` of POST /sessions). The reason is
   * recorded in the session's manifest in S3 and as a label on the toolbox container.
   *
   * @default false
   */
  readonly requireReason?: boolean;

  /**
   * A Cedar policy file that decides who may capture what, and who may read, cancel and fetch
   * sessions other than their own (README, "Who may debug what"). Validated against the schema at
   * synth: a policy that does not parse or names what the schema lacks fails the synth with
   * `file:line:col`. Without one, IAM on the routes decides alone and sessions are their owner's.
   *
   * @default no policy
   */
  readonly policyFile?: string;

  /**
   * Most SendCommand batches (50 hosts each) of one service-wide session launched and followed at
   * once (the Map state's MaxConcurrency). At least the largest fleet's batch count (1,000 tasks on
   * 1,000 hosts: 20) keeps every capture starting at the same moment; 1 to 40.
   *
   * @default 20
   */
  readonly fleetConcurrency?: number;

  /**
   * Seconds between the plan of a service-wide session and the synchronized start of its captures:
   * time for every batch to be sent and every host to check its targets and pull the image.
   *
   * @default 15
   */
  readonly fleetStartLeadSeconds?: number;

  /**
   * Captures on an event (README, "Captures on an event"): named presets, each tied to an EventBridge
   * rule (a CloudWatch alarm entering ALARM, an ECS task stopping with a non-zero exit, or any event
   * pattern) whose target is the api function. A trigger starts its preset's session, or stops the
   * running ring sessions of its target and keeps them, as its own principal (its rule's ARN) under
   * the deployment's policy. Each is checked at synth, its session parameters as POST /sessions checks
   * them, with this deployment's limits.
   *
   * @default no triggers
   */
  readonly triggers?: readonly TriggerDeclaration[];
}

/** The props of the `DebugTask` stack: a stack's own props plus those of the one `DebugTask` it holds. */
export interface DebugTaskStackProps extends StackProps, DebugTaskProps {}

/**
 * The local sandbox's stand-ins, which its synthesized document admits instead of a deployment's
 * bucket and image: its S3 stand-in on loopback (plain HTTP, `http://127.0.0.1:<port>`), that
 * stand-in's bucket, and the toolbox image built on the machine. Nothing else sets it.
 */
export interface SandboxHost {
  readonly s3Endpoint: string;
  readonly bucket: string;
  readonly toolboxImage: string;
}

/** The props with every default applied and every value checked. */
export interface DebugTaskSettings {
  readonly toolbox:
    { readonly image: string } | { readonly directory: string; readonly platform: ToolboxPlatform };
  /** Empty: any cluster. */
  readonly allowedClusters: readonly string[];
  /** The local sandbox's stand-ins (see DebugTaskProps.sandboxHost); unset everywhere else. */
  readonly sandboxHost?: SandboxHost;
  readonly maxDurationSeconds: number;
  readonly maxRingSeconds: number;
  /** The longer of maxDurationSeconds and maxRingSeconds: the longest any session's capture runs. */
  readonly longestCaptureSeconds: number;
  readonly maxBytes: number;
  readonly maxSessionsPerHost: number;
  readonly graceSeconds: number;
  readonly artifactRetentionDays: number;
  readonly auditLogRetentionDays: number;
  readonly hostCpus: number;
  readonly hostMemoryMb: number;
  readonly hostPidsLimit: number;
  readonly sweepIntervalMinutes: number;
  readonly requireReason: boolean;
  /** The policy file, read and validated (its text is what the deciding functions get). */
  readonly policy?: { readonly file: string; readonly text: string; readonly sha256: string };
  readonly fleetConcurrency: number;
  readonly fleetStartLeadSeconds: number;
  /** The triggers, checked; empty without any. */
  readonly triggers: readonly ResolvedTrigger[];
}

export const STACK_DEFAULTS = {
  maxDurationSeconds: 900,
  maxRingSeconds: DEFAULT_MAX_RING_SECONDS,
  maxBytes: 1_000_000_000,
  maxSessionsPerHost: Number(HOST_PARAMS.maxSessions.default),
  graceSeconds: DEFAULT_GRACE_SECONDS,
  artifactRetentionDays: 7,
  auditLogRetentionDays: 365,
  hostCpus: Number(HOST_PARAMS.cpus.default),
  hostMemoryMb: Number(HOST_PARAMS.memoryMb.default),
  hostPidsLimit: Number(HOST_PARAMS.pidsLimit.default),
  sweepIntervalMinutes: 15,
  fleetConcurrency: 20,
  fleetStartLeadSeconds: 15,
  toolboxPlatform: 'linux/amd64',
} as const;

/** ECS cluster names: letters, digits, hyphens and underscores, up to 255. */
const CLUSTER_NAME = /^[A-Za-z0-9_-]{1,255}$/;
/** `@sha256:` and the 64 hex digits of the digest, at the end of the reference. */
const DIGEST_SUFFIX = /@sha256:[a-f0-9]{64}$/;
const PLATFORMS: readonly ToolboxPlatform[] = ['linux/amd64', 'linux/arm64'];

/** The props as the stack uses them; throws an error naming the prop and the fix. */
export function resolveSettings(props: DebugTaskProps): DebugTaskSettings {
  const hostNumber = (prop: string, param: HostParamName, value: number) =>
    checkHostNumber(prop, param, value, HOST_PARAMS[param].description);

  const maxDurationSeconds = hostNumber(
    'maxDurationSeconds',
    'durationSeconds',
    props.maxDurationSeconds ?? STACK_DEFAULTS.maxDurationSeconds,
  );
  const graceSeconds = wholeNumberInRange(
    'graceSeconds',
    props.graceSeconds ?? STACK_DEFAULTS.graceSeconds,
    10,
    3600,
  );
  const maxRingSeconds = hostNumber(
    'maxRingSeconds',
    'ringSeconds',
    props.maxRingSeconds ?? STACK_DEFAULTS.maxRingSeconds,
  );
  const longestCaptureSeconds = Math.max(maxDurationSeconds, maxRingSeconds);
  const longest = maxRingSeconds > maxDurationSeconds ? 'maxRingSeconds' : 'maxDurationSeconds';
  // The runner's SSM executionTimeout is duration + grace (+ a margin): it must fit its pattern.
  if (!isValidHostParam('executionTimeout', String(longestCaptureSeconds + graceSeconds + 60))) {
    throw new Error(
      `${longest} + graceSeconds (${longestCaptureSeconds} + ${graceSeconds}) is too long for the ` +
        `SSM execution timeout (pattern ${HOST_PARAMS.executionTimeout.pattern}); lower ${longest}.`,
    );
  }
  const fleetStartLeadSeconds = wholeNumberInRange(
    'fleetStartLeadSeconds',
    props.fleetStartLeadSeconds ?? STACK_DEFAULTS.fleetStartLeadSeconds,
    1,
    300,
  );
  // The host's upload URL must outlive the capture it uploads (lib/domain/upload.ts).
  const urlNeeds = longestCaptureSeconds + graceSeconds + fleetStartLeadSeconds + UPLOAD_MARGIN_SECONDS;
  if (urlNeeds > ROLE_CHAINING_MAX_SECONDS) {
    throw new Error(
      `${longest} ${longestCaptureSeconds} + graceSeconds ${graceSeconds} + fleetStartLeadSeconds ` +
        `${fleetStartLeadSeconds} (+ ${UPLOAD_MARGIN_SECONDS} s for the upload) is ${urlNeeds} s: longer than the host's ` +
        `upload URL lives. Launch signs it with a role session assumed by its own role (role chaining), which ` +
        `STS caps at ${ROLE_CHAINING_MAX_SECONDS} s; lower ${longest}.`,
    );
  }

  // S3 expiration needs at least a day; past ten years this is not a debugging bucket any more.
  const artifactRetentionDays = wholeNumberInRange(
    'artifactRetentionDays',
    props.artifactRetentionDays ?? STACK_DEFAULTS.artifactRetentionDays,
    1,
    3650,
  );

  const maxBytes = hostNumber('maxBytes', 'maxBytes', props.maxBytes ?? STACK_DEFAULTS.maxBytes);
  return {
    toolbox: resolveToolbox(props),
    allowedClusters: resolveClusters(props.allowedClusters),
    ...(props.sandboxHost && { sandboxHost: resolveSandboxHost(props.sandboxHost) }),
    maxDurationSeconds,
    maxRingSeconds,
    longestCaptureSeconds,
    maxBytes,
    maxSessionsPerHost: hostNumber(
      'maxSessionsPerHost',
      'maxSessions',
      props.maxSessionsPerHost ?? STACK_DEFAULTS.maxSessionsPerHost,
    ),
    graceSeconds,
    artifactRetentionDays,
    auditLogRetentionDays: resolveAuditRetention(props.auditLogRetentionDays, artifactRetentionDays),
    hostCpus: hostNumber('hostCpus', 'cpus', props.hostCpus ?? STACK_DEFAULTS.hostCpus),
    hostMemoryMb: hostNumber('hostMemoryMb', 'memoryMb', props.hostMemoryMb ?? STACK_DEFAULTS.hostMemoryMb),
    hostPidsLimit: hostNumber(
      'hostPidsLimit',
      'pidsLimit',
      props.hostPidsLimit ?? STACK_DEFAULTS.hostPidsLimit,
    ),
    sweepIntervalMinutes: resolveSweepInterval(props.sweepIntervalMinutes),
    requireReason: props.requireReason ?? false,
    ...(props.policyFile !== undefined && { policy: resolvePolicy(props.policyFile) }),
    fleetConcurrency: wholeNumberInRange(
      'fleetConcurrency',
      props.fleetConcurrency ?? STACK_DEFAULTS.fleetConcurrency,
      1,
      40,
    ),
    fleetStartLeadSeconds,
    triggers: resolveTriggerSettings(props.triggers, { maxDurationSeconds, maxBytes, maxRingSeconds }),
  };
}

/**
 * The presets travel in the api function's environment, which Lambda caps at 4 KB with every other
 * variable: this leaves the function's own variables 1 KB.
 */
export const MAX_TRIGGER_PRESETS_CHARS = 3000;

function resolveTriggerSettings(
  declared: readonly TriggerDeclaration[] | undefined,
  limits: { maxDurationSeconds: number; maxBytes: number; maxRingSeconds: number },
): readonly ResolvedTrigger[] {
  if (declared === undefined) return [];
  const triggers = resolveTriggers(declared, limits);
  const chars = JSON.stringify(Object.fromEntries(triggers.map((t) => [t.name, t.preset]))).length;
  if (chars > MAX_TRIGGER_PRESETS_CHARS) {
    throw new Error(
      `triggers: their presets take ${chars} characters, more than the ${MAX_TRIGGER_PRESETS_CHARS} the api ` +
        "function's environment leaves them (Lambda: 4 KB in all); declare fewer triggers, or shorter filters.",
    );
  }
  return triggers;
}

/** What an upload of the largest artifact may take once the capture and grace are over. */
const UPLOAD_MARGIN_SECONDS = 300;

/** The retention periods CloudWatch Logs accepts (RetentionInDays), in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** A CloudWatch Logs retention, never shorter than the artifacts' (the audit outlives the captures). */
function resolveAuditRetention(value: number | undefined, artifactRetentionDays: number): number {
  const days = value ?? STACK_DEFAULTS.auditLogRetentionDays;
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(days)) {
    const above = LOG_RETENTION_DAYS.find((d) => d >= days);
    throw new Error(
      `auditLogRetentionDays ${days} is not a retention CloudWatch Logs offers; give one of ` +
        `${LOG_RETENTION_DAYS.join(', ')}${above !== undefined && Number.isFinite(days) ? ` (e.g. ${above})` : ''}.`,
    );
  }
  if (days < artifactRetentionDays) {
    throw new Error(
      `auditLogRetentionDays ${days} is shorter than artifactRetentionDays ${artifactRetentionDays}: the ` +
        'audit of a session must outlive its capture; raise auditLogRetentionDays or lower artifactRetentionDays.',
    );
  }
  return days;
}

/** Whole minutes, 1 to 1440; 0 is refused with the reason rather than read as "off". */
function resolveSweepInterval(value: number | undefined): number {
  if (value === 0) {
    throw new Error(
      'sweepIntervalMinutes 0 would switch the sweeper off, and with it the only removal of toolbox ' +
        'containers that outlive both Cleanup and the host watchdog; give a whole number from 1 to 1440 ' +
        '(1440 sweeps once a day).',
    );
  }
  return wholeNumberInRange('sweepIntervalMinutes', value ?? STACK_DEFAULTS.sweepIntervalMinutes, 1, 1440);
}

/** Loopback only: the sandbox's document must admit nothing a real host could reach. */
function resolveSandboxHost(host: SandboxHost): SandboxHost {
  if (!/^http:\/\/127\.0\.0\.1:[0-9]{1,5}$/.test(host.s3Endpoint)) {
    throw new Error(
      `sandboxHost.s3Endpoint '${host.s3Endpoint}' is not a loopback endpoint (http://127.0.0.1:<port>); it is for the local sandbox only.`,
    );
  }
  if (!/^[a-z0-9][a-z0-9.-]{2,62}$/.test(host.bucket) || !isValidHostParam('image', host.toolboxImage)) {
    throw new Error('sandboxHost.bucket or sandboxHost.toolboxImage is not valid.');
  }
  return host;
}

function resolveToolbox(props: DebugTaskProps): DebugTaskSettings['toolbox'] {
  const image = props.toolboxImage;
  if (image === undefined) {
    const platform = props.toolboxPlatform ?? STACK_DEFAULTS.toolboxPlatform;
    if (!PLATFORMS.includes(platform)) {
      throw new Error(`toolboxPlatform '${platform}' is not supported; use one of ${PLATFORMS.join(', ')}.`);
    }
    return { directory: props.toolboxDirectory ?? TOOLBOX_DIR, platform };
  }
  if (props.toolboxDirectory !== undefined || props.toolboxPlatform !== undefined) {
    throw new Error(
      'toolboxDirectory and toolboxPlatform only apply to an image built by the stack; ' +
        'remove them, or remove toolboxImage to build the image.',
    );
  }
  // A deploy-time value (a CfnParameter, an import) cannot be checked here.
  if (Token.isUnresolved(image)) return { image };
  if (!DIGEST_SUFFIX.test(image)) {
    throw new Error(
      `toolboxImage '${image}' is not pinned by digest; give '<repository>@sha256:<64 hex digits>' ` +
        "('docker buildx imagetools inspect <image>' prints the digest), or leave toolboxImage unset " +
        'to build toolbox/Dockerfile.',
    );
  }
  if (!isValidHostParam('image', image)) {
    throw new Error(
      `toolboxImage '${image}' is not an image reference the SSM document accepts ` +
        `(pattern ${HOST_PARAMS.image.pattern}, at most ${HOST_PARAMS.image.maxChars} characters).`,
    );
  }
  return { image };
}

function resolveClusters(clusters: string[] | undefined): readonly string[] {
  if (clusters === undefined) return [];
  if (clusters.length === 0) {
    throw new Error(
      'allowedClusters is empty, which would allow no cluster at all; leave it unset to allow any ' +
        'cluster, or list the cluster names.',
    );
  }
  for (const name of clusters) {
    if (name.startsWith('arn:')) {
      throw new Error(
        `allowedClusters: '${name}' is an ARN; give the cluster name (${name.split('/').pop()}).`,
      );
    }
    if (!CLUSTER_NAME.test(name)) {
      throw new Error(
        `allowedClusters: '${name}' is not an ECS cluster name (letters, digits, '-' and '_', 1 to 255).`,
      );
    }
  }
  return [...new Set(clusters)];
}

/** A number that goes to the host as an SSM parameter: it must match that parameter's pattern. */
function checkHostNumber(prop: string, param: HostParamName, value: number, meaning: string): number {
  if (!Number.isFinite(value) || value <= 0 || !isValidHostParam(param, String(value))) {
    throw new Error(
      `${prop} ${value} is not accepted by the host runner (SSM parameter ${param}: ${meaning} ` +
        `Pattern ${HOST_PARAMS[param].pattern}); give a positive value that matches it.`,
    );
  }
  return value;
}

function wholeNumberInRange(prop: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${prop} ${value} is out of range; give a whole number from ${min} to ${max}.`);
  }
  return value;
}

/** Reads and validates the policy file (lib/authz/policy-file.ts): a bad policy fails the synth, naming file:line:col. */
function resolvePolicy(file: string): NonNullable<DebugTaskSettings['policy']> {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new Error(`policyFile: cannot read ${path} (${(cause as Error).message}).`, { cause });
  }
  try {
    return { file: path, text, sha256: parsePolicyText(text, file).sha256 };
  } catch (error) {
    if (error instanceof PolicyFileError) throw new Error(`policyFile: ${error.message}`, { cause: error });
    throw error;
  }
}
