/**
 * One error vocabulary for the API, the CLI, the state machine and the host runner.
 *
 * Every error says what was wrong (with the value received) and what to do next (`hint`), and
 * knows the CLI exit code it maps to: 2 bad input (nothing started), 3 target cannot be debugged,
 * 4 the session failed on the host, 5 AWS or infrastructure, 6 not authorized, 130 interrupted.
 */
import { isPlainObject } from './plain-object';

export const EXIT = {
  OK: 0,
  BAD_INPUT: 2,
  TARGET: 3,
  HOST: 4,
  INFRA: 5,
  /** The deployment's policy (or owner isolation) said no: nothing was started or revealed. */
  NOT_AUTHORIZED: 6,
  INTERRUPTED: 130,
} as const;

const CODE_EXIT = {
  INVALID_ARGUMENT: EXIT.BAD_INPUT,
  INVALID_TASK_ARN: EXIT.BAD_INPUT,
  UNKNOWN_TOOL: EXIT.BAD_INPUT,
  INVALID_FILTER: EXIT.BAD_INPUT,
  DURATION_OUT_OF_RANGE: EXIT.BAD_INPUT,
  SIZE_OUT_OF_RANGE: EXIT.BAD_INPUT,
  TASK_NOT_FOUND: EXIT.TARGET,
  TASK_NOT_RUNNING: EXIT.TARGET,
  FARGATE_UNSUPPORTED: EXIT.TARGET,
  CONTAINER_AMBIGUOUS: EXIT.BAD_INPUT,
  CONTAINER_NOT_FOUND: EXIT.TARGET,
  INSTANCE_NOT_MANAGED: EXIT.TARGET,
  SSM_AGENT_OFFLINE: EXIT.TARGET,
  PLATFORM_UNSUPPORTED: EXIT.TARGET,
  HOST_NETWORK_NOT_ALLOWED: EXIT.TARGET,
  HOST_PID_NOT_ALLOWED: EXIT.TARGET,
  HOST_BUSY: EXIT.HOST,
  TOOLBOX_IMAGE_UNAVAILABLE: EXIT.HOST,
  CAPTURE_FAILED: EXIT.HOST,
  UPLOAD_FAILED: EXIT.HOST,
  ARTIFACT_NOT_ON_HOST: EXIT.HOST,
  SESSION_TIMED_OUT: EXIT.HOST,
  // The host could not fetch the runner, or what it fetched is not the file the document names.
  RUNNER_UNAVAILABLE: EXIT.INFRA,
  CANCELLED: EXIT.INTERRUPTED,
  AWS_ERROR: EXIT.INFRA,
  SESSION_NOT_FOUND: EXIT.BAD_INPUT,
  SANDBOX_UNAVAILABLE: EXIT.INFRA,
  NOT_AUTHORIZED: EXIT.NOT_AUTHORIZED,
} as const;

export type ErrorCode = keyof typeof CODE_EXIT;
export const ERROR_CODES = Object.keys(CODE_EXIT) as ErrorCode[];

/** What to do next, when the place that raises the error has nothing more specific to say. */
const DEFAULT_HINTS: Record<ErrorCode, string> = {
  INVALID_ARGUMENT: 'Check the value against `debug-task --help`.',
  INVALID_TASK_ARN:
    'Give a task ARN (arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID), or a task id together with --cluster.',
  UNKNOWN_TOOL: 'Run `debug-task tools` to list the tools of the catalog.',
  INVALID_FILTER:
    "Use a pcap-filter expression such as 'tcp port 443 and host 10.0.0.5' (see man pcap-filter).",
  DURATION_OUT_OF_RANGE: 'Give a duration such as 30s, 5m; `debug-task tools` shows each tool’s maximum.',
  SIZE_OUT_OF_RANGE: 'Give a size such as 10MB or 1GB; `debug-task tools` shows each tool’s maximum.',
  TASK_NOT_FOUND: 'Check the ARN and --cluster (a task id alone is looked up in the "default" cluster).',
  TASK_NOT_RUNNING: 'Pick a RUNNING task: `aws ecs list-tasks --cluster CLUSTER --desired-status RUNNING`.',
  FARGATE_UNSUPPORTED:
    'Fargate tasks have no host to run a toolbox on: use ECS Exec (if enabled on the task) or VPC Traffic Mirroring.',
  CONTAINER_AMBIGUOUS: 'Name the container with --container.',
  CONTAINER_NOT_FOUND: 'Name one of the task’s running containers with --container.',
  INSTANCE_NOT_MANAGED:
    'Attach AmazonSSMManagedInstanceCore to the container instance role and make sure amazon-ssm-agent runs.',
  SSM_AGENT_OFFLINE: 'Check that amazon-ssm-agent runs on the instance and can reach the SSM endpoints.',
  PLATFORM_UNSUPPORTED: 'Run the task on an Amazon Linux ECS-optimized or Flatcar container instance.',
  HOST_NETWORK_NOT_ALLOWED:
    'The target runs in the host’s network mode: add --allow-host-network (API: "allowHostNetwork": true) to capture the whole host’s traffic, or debug a task in bridge or awsvpc mode.',
  HOST_PID_NOT_ALLOWED:
    'The target shares the host’s pid namespace (pidMode host): add --allow-host-pid (API: "allowHostPid": true) to debug next to it, where the toolbox sees (and strace can trace) every process of the host, or debug a task without pidMode host.',
  HOST_BUSY: 'Wait for a running debug session on that host to end, or cancel one with `debug-task cancel`.',
  TOOLBOX_IMAGE_UNAVAILABLE:
    'The host pulls an ECR image with its instance role: the role (e.g. ecsInstanceRole) needs ecr:GetAuthorizationToken, ecr:BatchGetImage and ecr:GetDownloadUrlForLayer, and the host needs IMDSv2 and a route to ECR; or pre-pull the image.',
  CAPTURE_FAILED: 'Look at the tool’s message above; `debug-task doctor TASK` checks every precondition.',
  UPLOAD_FAILED: 'The artifact is kept on the host: `debug-task fetch SESSION` uploads it again.',
  ARTIFACT_NOT_ON_HOST:
    'Nothing is left to upload: if the re-upload succeeded before, the artifact is in S3 (`debug-task status SESSION`); otherwise run the capture again.',
  SESSION_TIMED_OUT: 'The host did not finish in time; `debug-task status SESSION` shows the last phase.',
  RUNNER_UNAVAILABLE:
    "The host could not fetch the runner over HTTPS from the deployment's S3 assets, or what it fetched does not match the sha256 the SSM document names; nothing was started. Check the host's route to S3 (VPC endpoint, proxy, DNS), and that the runner object was not changed: `aws ssm get-document` shows the expected hash (docs/ARCHITECTURE.md).",
  CANCELLED: 'The session was cancelled; its toolbox container was removed.',
  AWS_ERROR: 'Check your credentials, region and the deployed stack (`debug-task doctor`).',
  SESSION_NOT_FOUND: 'List sessions with `debug-task list`.',
  SANDBOX_UNAVAILABLE:
    'Start a Docker engine (`sudo systemctl start docker`); on Debian/Ubuntu install one with `sudo apt-get install docker.io`.',
  NOT_AUTHORIZED:
    'Ask the team that deployed debug-task: its policy file decides who may capture, read, cancel and fetch what (README, "Who may debug what").',
};

export interface ErrorOptions {
  hint?: string;
  cause?: unknown;
  /** Small, JSON-safe facts for `--json` and logs (value received, names seen, ...). */
  details?: Record<string, unknown>;
}

export class DebugTaskError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    // The name is the code, so Step Functions' Catch/ErrorEquals can match on it.
    this.name = code;
    this.code = code;
    this.hint = options.hint ?? DEFAULT_HINTS[code];
    this.details = options.details;
  }

  get exitCode(): number {
    return CODE_EXIT[this.code];
  }

  toJSON(): ErrorBody {
    return {
      code: this.code,
      message: this.message,
      hint: this.hint,
      ...(this.details && { details: this.details }),
    };
  }
}

/** The shape of `{"error": ...}` in the API and in `--json`. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  hint: string;
  details?: Record<string, unknown>;
}

/**
 * A received value as an error message may echo it: JSON-quoted, so control characters (newlines,
 * terminal escapes) come out escaped and the message stays one printable line; cut at `max`.
 */
export function quoted(value: string, max = 80): string {
  const json = JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
  // JSON escapes C0 controls but not DEL and the C1 range (U+0085, U+009B CSI...), which terminals act on.
  return json.replace(/[\u007f-\u009f]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && value in CODE_EXIT;
}

export function exitCodeFor(code: ErrorCode): number {
  return CODE_EXIT[code];
}

export function defaultHint(code: ErrorCode): string {
  return DEFAULT_HINTS[code];
}

/**
 * The error as it happened in a session: the session id in `details.sessionId` (so `--json` and the
 * text output name it), and every `SESSION` of the hint (the default hints' placeholder) replaced
 * by that id, so the hint is a command that can be pasted. Anything not ours becomes AWS_ERROR.
 */
export function inSession(error: unknown, sessionId: string): DebugTaskError {
  const typed =
    error instanceof DebugTaskError
      ? error
      : new DebugTaskError('AWS_ERROR', error instanceof Error ? error.message : String(error), {
          cause: error,
        });
  if (typed.details?.sessionId === sessionId) return typed;
  const wrapped = new DebugTaskError(typed.code, typed.message, {
    hint: typed.hint.replace(/\bSESSION\b/g, sessionId),
    cause: typed.cause,
    details: { ...typed.details, sessionId },
  });
  wrapped.stack = typed.stack;
  return wrapped;
}

export function errorFromBody(body: ErrorBody): DebugTaskError {
  // Received over the wire: a missing or odd hint or details falls back to the code's own hint
  // rather than reaching the printer as a non-string.
  return new DebugTaskError(body.code, body.message, {
    ...(typeof body.hint === 'string' && { hint: body.hint }),
    ...(isPlainObject(body.details) && { details: body.details }),
  });
}

/**
 * True when a received `{"error": ...}` is one of ours: a known code and a message. Anything else
 * (a proxy's or API Gateway's own answer) is reported as the HTTP status it came with.
 */
export function isErrorBody(value: unknown): value is ErrorBody {
  const body = value as Partial<ErrorBody> | undefined;
  return isErrorCode(body?.code) && typeof body?.message === 'string';
}

/**
 * Step Functions carries a Lambda error as {Error: name, Cause: JSON of {errorType, errorMessage}}.
 * We put the whole ErrorBody into errorMessage so the hint and details survive the trip.
 */
export function toStepFunctionsError(error: DebugTaskError): Error {
  const carried = new Error(JSON.stringify(error.toJSON()));
  carried.name = error.code;
  return carried;
}

/** Reverse of `toStepFunctionsError`, given a failed execution's `error` and `cause`. */
export function fromStepFunctionsFailure(
  errorName: string | undefined,
  cause: string | undefined,
): DebugTaskError {
  const code: ErrorCode = isErrorCode(errorName) ? errorName : 'AWS_ERROR';
  let message = cause ?? errorName ?? 'The session failed without a reason.';
  try {
    const outer = cause ? JSON.parse(cause) : undefined;
    const inner = typeof outer?.errorMessage === 'string' ? JSON.parse(outer.errorMessage) : outer;
    if (inner && isErrorCode(inner.code) && typeof inner.message === 'string') {
      return errorFromBody(inner as ErrorBody);
    }
    if (typeof outer?.errorMessage === 'string') message = outer.errorMessage;
  } catch {
    // Not one of ours (States.Timeout, a Lambda crash, ...): keep the raw cause as the message.
  }
  if (errorName === 'States.Timeout') {
    return new DebugTaskError('SESSION_TIMED_OUT', 'The session ran past its deadline and was stopped.');
  }
  return new DebugTaskError(code, `${errorName ?? 'Error'}: ${message}`);
}
