import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  StartExecutionCommand,
  type DescribeExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { audit } from '../audit/audit';
import { clusterNameOf, parseTaskRef } from '../domain/arn';
import { clusterOfRequest } from '../domain/routes';
import { DebugTaskError, fromStepFunctionsFailure } from '../domain/errors';
import { HOST_PARAMS } from '../domain/params';
import { mapLimit } from '../domain/map-limit';
import {
  newSessionId,
  parseChildId,
  sessionKeys,
  type ChildResult,
  type ExecutionInput,
  type SessionResult,
  type SessionStatus,
  type SessionSummary,
  type SessionView,
} from '../domain/session';
import {
  describeTarget,
  isServiceTarget,
  parseSessionRequest,
  type SessionLimits,
} from '../domain/session-spec';
import { awsCall, sdkErrorInfo, translateAwsError } from '../aws/errors';
import { s3Client } from '../aws/s3';
import { presignGet } from '../aws/s3-presign';
import { sfnClient } from '../aws/sfn';
import { readSessionRecord } from '../session/record';

export interface ApiConfig {
  stateMachineArn: string;
  bucket: string;
  limits: SessionLimits;
  /** Deploy-time setting: every session must say why (recorded for audit). */
  requireReason?: boolean;
}

/**
 * Lifetime of a presigned download: minutes, not the hour it was. A capture holds plaintext headers
 * and tokens, and a URL is a bearer credential (whoever holds it reads the object, whatever IAM
 * says), so it must be dead by the time it could turn up in a chat or a shell history. The CLI asks
 * for it right before it downloads, and `fetch` asks again.
 */
export const DOWNLOAD_URL_SECONDS = 300;

const SESSION_ID = /^dt-[a-z0-9]{8,20}-[a-z0-9]{4,12}(-[0-9]{4})?$/;

/** POST /sessions: validate, then start the execution named after the new session. */
export async function startSession(
  body: unknown,
  caller: string,
  config: ApiConfig,
  /** A declared trigger's session (lib/triggers): `caller` is its rule's ARN, `trigger` its name. */
  origin: { trigger?: string } = {},
): Promise<{ sessionId: string; status: SessionStatus }> {
  const spec = parseSessionRequest(body, config.limits);
  // INVALID_TASK_ARN before anything starts
  if (!isServiceTarget(spec.target)) parseTaskRef(spec.target.task, spec.target.cluster);
  if (config.requireReason && !spec.reason?.trim()) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      'This deployment of debug-task requires a reason for every session.',
      {
        hint: 'Say why with --reason, e.g. --reason \'INC-1234 timeouts to payments\' (POST /sessions: "reason").',
      },
    );
  }
  const sessionId = newSessionId();
  const input: ExecutionInput = {
    sessionId,
    spec,
    requestedAt: new Date().toISOString(),
    caller,
    ...(origin.trigger !== undefined && { trigger: origin.trigger }),
  };
  audit.session({
    type: 'session.requested',
    sessionId,
    caller,
    ...(origin.trigger !== undefined && { trigger: origin.trigger }),
    target: describeTarget(spec.target),
    tool: spec.tool,
    durationSeconds: spec.durationSeconds,
    maxBytes: spec.maxBytes,
    reason: spec.reason ?? null,
  });
  // Nothing starts before its request is on record.
  await audit.flush();
  await startExecution(config, sessionId, input);
  return { sessionId, status: 'RUNNING' };
}

export async function startExecution(config: ApiConfig, name: string, input: ExecutionInput): Promise<void> {
  await awsCall('states:StartExecution', () =>
    sfnClient().send(
      new StartExecutionCommand({
        stateMachineArn: config.stateMachineArn,
        name,
        input: JSON.stringify(input),
      }),
    ),
  );
}

/**
 * GET /sessions/{id}: the execution's status, its phase while running, its result or error, and a
 * presigned GET of every succeeded child's artifact. A child's id gives that child's view, as a
 * one-task session (`debug-task status|fetch <child id>` work like a session's).
 */
export async function getSession(
  id: string,
  config: ApiConfig,
  caller = 'unknown',
  described?: DescribeExecutionCommandOutput,
): Promise<SessionView> {
  const child = parseChildId(assertSessionId(id));
  const sessionId = child?.sessionId ?? id;
  const execution = described ?? (await describe(executionArnOf(config.stateMachineArn, sessionId), id));
  const view: SessionView = {
    sessionId,
    status: statusOf(execution),
    startedAt: execution.startDate?.toISOString(),
    stoppedAt: execution.stopDate?.toISOString(),
    input: parseInput(execution.input),
  };
  if (execution.status === 'RUNNING') {
    view.phase = await currentPhase(execution.executionArn!);
    return child ? { ...view, sessionId: id } : view;
  }
  if (execution.status === 'SUCCEEDED' && execution.output) {
    view.result = await withChildren(JSON.parse(execution.output) as SessionResult, config.bucket);
  } else if (execution.status === 'FAILED') {
    view.error = fromStepFunctionsFailure(execution.error, execution.cause).toJSON();
    if (view.error.code === 'CANCELLED') view.status = 'CANCELLED';
  } else if (execution.status === 'TIMED_OUT') {
    view.error = new DebugTaskError(
      'SESSION_TIMED_OUT',
      'The session ran past its deadline and was stopped.',
    ).toJSON();
  } else if (execution.status === 'ABORTED') {
    view.error = new DebugTaskError('CANCELLED', 'The session was stopped.').toJSON();
  }
  if (child) return childView(view, id, child.index, config, caller);
  if (view.result) view.downloadUrls = await downloadUrls(view.result.children, caller);
  return view;
}

/** The view of one child: its own status, result and download, as a one-task session's. */
async function childView(
  parent: SessionView,
  id: string,
  index: number,
  config: ApiConfig,
  caller: string,
): Promise<SessionView> {
  const children =
    parent.result?.children ?? (await readSessionRecord(config.bucket, parent.sessionId))?.children ?? [];
  const found = children.find((c) => c.index === index && c.sessionId === id);
  if (!found) {
    throw new DebugTaskError('SESSION_NOT_FOUND', `Session ${parent.sessionId} has no child ${id}.`, {
      hint: `\`debug-task status ${parent.sessionId}\` lists its children.`,
    });
  }
  const base: SessionView = { ...parent, sessionId: id };
  delete base.result;
  delete base.error;
  if (found.status === 'FAILED') {
    const error = found.error ?? parent.error;
    return { ...base, status: error?.code === 'CANCELLED' ? 'CANCELLED' : 'FAILED', ...(error && { error }) };
  }
  const result: SessionResult | undefined = parent.result && {
    ...parent.result,
    kind: 'task',
    target: { ...parent.result.target, task: found.taskArn },
    counts: { listed: 1, targets: 1, succeeded: 1, failed: 0, skipped: 0, leftOut: 0 },
    children: [found],
    skipped: [],
  };
  return {
    ...base,
    status: 'SUCCEEDED',
    ...(result && { result }),
    downloadUrls: await downloadUrls([found], caller),
  };
}

/** The children of a result that left them in the record (many children). */
async function withChildren(result: SessionResult, bucket: string): Promise<SessionResult> {
  if (!result.childrenInRecord) return result;
  const record = await readSessionRecord(bucket, result.sessionId);
  return {
    ...result,
    children: record?.children ?? [],
    skipped: record?.skipped ?? [],
    childrenInRecord: false,
  };
}

/**
 * A presigned GET of each succeeded child's artifact, each on record as given to `caller` (the URL is
 * what reads the object: S3's own log would only show the signer, the api function's role).
 */
export async function downloadUrls(
  children: readonly ChildResult[],
  caller: string,
): Promise<Record<string, string>> {
  const urls: Record<string, string> = {};
  await mapLimit(children, 8, async (child) => {
    if (child.status !== 'SUCCEEDED' || !child.artifact) return;
    audit.session({
      type: 'artifact.download-url',
      sessionId: parseChildId(child.sessionId)?.sessionId ?? child.sessionId,
      childId: child.sessionId,
      caller,
      s3Uri: child.artifact.s3Uri,
      expiresInSeconds: DOWNLOAD_URL_SECONDS,
    });
    urls[child.sessionId] = await presignGet(child.artifact.bucket, child.artifact.key, DOWNLOAD_URL_SECONDS);
  });
  return urls;
}

/**
 * DELETE /sessions/{id}: leave a cancel marker that Poll acts on, so a cancel goes through Cleanup
 * (container removal on every host) like every other failure. StopExecution would skip Cleanup and
 * could leave toolbox containers running.
 */
export function cancelSession(
  id: string,
  caller: string,
  config: ApiConfig,
  described?: DescribeExecutionCommandOutput,
): Promise<{ sessionId: string; status: SessionStatus | 'CANCELLING' }> {
  return leaveMarker('cancel', 'CANCELLING', id, caller, config, described);
}

/**
 * POST /sessions/{id}/stop: leave a stop marker that Poll acts on (action=stop to every host of the
 * session): the captures end now and are kept, collected and verified as at the end of their
 * duration. A child's id stops its whole session, as a cancel does. A session that already ended
 * has nothing to stop: its status is answered as it is.
 */
export function stopSession(
  id: string,
  caller: string,
  config: ApiConfig,
  described?: DescribeExecutionCommandOutput,
): Promise<{ sessionId: string; status: SessionStatus | 'STOPPING' }> {
  return leaveMarker('stop', 'STOPPING', id, caller, config, described);
}

/** A session's cancel or stop marker (a child's id names its session); an ended session gets none. */
async function leaveMarker<Pending extends 'CANCELLING' | 'STOPPING'>(
  marker: 'cancel' | 'stop',
  pending: Pending,
  id: string,
  caller: string,
  config: ApiConfig,
  described?: DescribeExecutionCommandOutput,
): Promise<{ sessionId: string; status: SessionStatus | Pending }> {
  const sessionId = parseChildId(assertSessionId(id))?.sessionId ?? id;
  const execution = described ?? (await describe(executionArnOf(config.stateMachineArn, sessionId), id));
  if (execution.status !== 'RUNNING') return { sessionId, status: statusOf(execution) };
  await awsCall('s3:PutObject', () =>
    s3Client().send(
      new PutObjectCommand({
        Bucket: config.bucket,
        Key: sessionKeys[marker](sessionId),
        Body: JSON.stringify({ sessionId, caller, requestedAt: new Date().toISOString() }),
        ContentType: 'application/json',
      }),
    ),
  );
  return { sessionId, status: pending };
}

export interface ListOptions {
  active?: boolean;
  limit?: number;
  /** Only sessions of this cluster (GET /clusters/{cluster}/sessions). */
  cluster?: string;
  /** Only this session (GET /sessions?id=): how the client finds a session's cluster. */
  id?: string;
  /** Which rows the caller may see (owner isolation, the policy's `read`). */
  mayRead: (input: ExecutionInput | undefined, sessionId: string) => Promise<boolean>;
}

/**
 * GET /sessions: the most recent sessions the caller may read, newest first (re-uploads are not
 * sessions of their own). Rows of sessions the caller may not read are left out, not redacted.
 */
export async function listSessions(config: ApiConfig, options: ListOptions): Promise<SessionSummary[]> {
  if (options.id !== undefined) return listOne(config, options);
  const listed = await awsCall('states:ListExecutions', () =>
    sfnClient().send(
      new ListExecutionsCommand({
        stateMachineArn: config.stateMachineArn,
        maxResults: options.limit ?? 50,
        ...(options.active && { statusFilter: 'RUNNING' }),
      }),
    ),
  );
  const sessions = (listed.executions ?? []).filter((e) => SESSION_ID.test(e.name ?? ''));
  // ListExecutions carries no input: who asked for what comes from DescribeExecution, a few at once.
  const rows = await mapLimit(sessions, 8, async (e) => {
    let described: DescribeExecutionCommandOutput | undefined;
    try {
      described = await sfnClient().send(new DescribeExecutionCommand({ executionArn: e.executionArn }));
    } catch {
      // A session whose owner cannot be told is nobody's to list.
      return undefined;
    }
    return summaryRow(e.name ?? '', described, options, e);
  });
  return rows.filter((row): row is SessionSummary => row !== undefined);
}

/** GET /sessions?id=: the one row, or none when there is no such session or it is not the caller's to read. */
async function listOne(config: ApiConfig, options: ListOptions): Promise<SessionSummary[]> {
  const id = assertSessionId(options.id ?? '');
  const sessionId = parseChildId(id)?.sessionId ?? id;
  let described: DescribeExecutionCommandOutput;
  try {
    described = await describe(executionArnOf(config.stateMachineArn, sessionId), id);
  } catch (error) {
    if (error instanceof DebugTaskError && error.code === 'SESSION_NOT_FOUND') return [];
    throw error;
  }
  const row = await summaryRow(sessionId, described, options);
  return row ? [{ ...row, sessionId: id }] : [];
}

async function summaryRow(
  sessionId: string,
  described: DescribeExecutionCommandOutput,
  options: ListOptions,
  /** The row of ListExecutions, when listed: its status and dates. */
  listed: { status?: string; startDate?: Date; stopDate?: Date } = described,
): Promise<SessionSummary | undefined> {
  const input = parseInput(described.input);
  if (!input?.spec) return undefined;
  const cluster = clusterOfRequest(input.spec.target);
  if (options.cluster !== undefined && cluster !== clusterNameOf(options.cluster)) return undefined;
  if (!(await options.mayRead(input, sessionId))) return undefined;
  return {
    sessionId,
    status: statusOf(listed),
    startedAt: listed.startDate?.toISOString(),
    stoppedAt: listed.stopDate?.toISOString(),
    cluster,
    target: describeTarget(input.spec.target),
    tool: input.spec.tool,
    caller: input.caller,
    ...(input.trigger !== undefined && { trigger: input.trigger }),
    kind: isServiceTarget(input.spec.target) ? 'service' : 'task',
  };
}

export function assertSessionId(value: string): string {
  if (!SESSION_ID.test(value)) {
    throw new DebugTaskError('INVALID_ARGUMENT', `"${value.slice(0, 60)}" is not a session id.`, {
      hint: 'Session ids look like dt-20261125123456-a1b2c3 (a child of a session adds -0001); `debug-task list` shows yours.',
      details: { maxChars: HOST_PARAMS.sessionId.maxChars },
    });
  }
  return value;
}

/** arn:aws:states:R:A:stateMachine:NAME + name -> arn:aws:states:R:A:execution:NAME:name */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

/** DescribeExecution; SESSION_NOT_FOUND naming `shown` when there is no such execution. */
export async function describe(executionArn: string, shown: string): Promise<DescribeExecutionCommandOutput> {
  try {
    return await sfnClient().send(new DescribeExecutionCommand({ executionArn }));
  } catch (error) {
    // By name, as every SDK error is read (lib/aws/errors.ts): the bundles do not register the SDK's
    // error classes (lib/infra/handler-bundling.ts), so `instanceof` would not hold there.
    if (sdkErrorInfo(error).name === 'ExecutionDoesNotExist') {
      throw new DebugTaskError('SESSION_NOT_FOUND', `There is no session ${shown}.`, { cause: error });
    }
    throw translateAwsError('states:DescribeExecution', error);
  }
}

/** The state the execution entered last: what the CLI shows as the phase. */
export async function currentPhase(executionArn: string): Promise<string | undefined> {
  const history = await awsCall('states:GetExecutionHistory', () =>
    // The names of the states only: without their inputs and outputs (each event would carry the
    // session's state, for every look of a `debug-task` that follows a session).
    sfnClient().send(
      new GetExecutionHistoryCommand({
        executionArn,
        reverseOrder: true,
        maxResults: 20,
        includeExecutionData: false,
      }),
    ),
  );
  const entered = history.events?.find((e) => e.stateEnteredEventDetails?.name);
  return entered?.stateEnteredEventDetails?.name;
}

export function statusOf(execution: { status?: string }): SessionStatus {
  switch (execution.status) {
    case 'SUCCEEDED':
      return 'SUCCEEDED';
    case 'FAILED':
      return 'FAILED';
    case 'TIMED_OUT':
      return 'TIMED_OUT';
    case 'ABORTED':
      return 'CANCELLED';
    default:
      return 'RUNNING';
  }
}

/** An execution's input, or undefined when it is missing or not JSON (a list row then has no target). */
export function parseInput(text: string | undefined): ExecutionInput | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as ExecutionInput;
  } catch {
    return undefined;
  }
}
