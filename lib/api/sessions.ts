import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  StartExecutionCommand,
  type DescribeExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { parseTaskRef } from '../domain/arn';
import { DebugTaskError, fromStepFunctionsFailure } from '../domain/errors';
import { HOST_PARAMS, hostParamRegExp } from '../domain/params';
import {
  describeTarget,
  isServiceTarget,
  parseSessionRequest,
  type SessionLimits,
} from '../domain/session-spec';
import type { FleetResult } from '../domain/fleet';
import { mapLimit } from '../domain/map-limit';
import { fleetView } from './fleet';
import {
  isFleetResult,
  newSessionId,
  sessionKeys,
  type ExecutionInput,
  type SessionResult,
  type SessionStatus,
  type SessionSummary,
  type SessionView,
} from '../domain/session';
import { apiClients, type ApiClients } from './clients';

export interface ApiConfig {
  stateMachineArn: string;
  bucket: string;
  limits: SessionLimits;
  /** Deploy-time setting: every session must say why (recorded for audit). */
  requireReason?: boolean;
}

export const DOWNLOAD_URL_SECONDS = 3600;

/** POST /sessions: validate, then start the execution named after the new session. */
export async function startSession(
  body: unknown,
  caller: string,
  config: ApiConfig,
  clients: ApiClients = apiClients(),
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
  const input: ExecutionInput = { sessionId, spec, requestedAt: new Date().toISOString(), caller };
  await call('states:StartExecution', () =>
    clients.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: config.stateMachineArn,
        name: sessionId,
        input: JSON.stringify(input),
      }),
    ),
  );
  return { sessionId, status: 'RUNNING' };
}

/** GET /sessions/{id}: the execution's status, its phase while running, its result or error. */
export async function getSession(
  sessionId: string,
  config: ApiConfig,
  clients: ApiClients = apiClients(),
): Promise<SessionView> {
  const execution = await describe(sessionId, config, clients);
  const view: SessionView = {
    sessionId,
    status: statusOf(execution),
    startedAt: execution.startDate?.toISOString(),
    stoppedAt: execution.stopDate?.toISOString(),
    input: execution.input ? (JSON.parse(execution.input) as ExecutionInput) : undefined,
  };
  if (execution.status === 'RUNNING') {
    view.phase = await currentPhase(execution.executionArn!, clients);
  } else if (execution.status === 'SUCCEEDED' && execution.output) {
    const output = JSON.parse(execution.output) as SessionResult | FleetResult;
    if (isFleetResult(output)) {
      Object.assign(view, await fleetView(output, clients, DOWNLOAD_URL_SECONDS));
      return view;
    }
    const result = output;
    view.result = result;
    view.downloadUrl = await getSignedUrl(
      clients.s3,
      new GetObjectCommand({ Bucket: result.artifact.bucket, Key: result.artifact.key }),
      { expiresIn: DOWNLOAD_URL_SECONDS },
    );
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
  return view;
}

/**
 * DELETE /sessions/{id}: leave a cancel marker that the Poll step acts on, so a cancel goes
 * through Cleanup (CancelCommand + container removal on the host) like every other failure.
 * StopExecution would skip Cleanup and could leave a toolbox container running.
 */
export async function cancelSession(
  sessionId: string,
  caller: string,
  config: ApiConfig,
  clients: ApiClients = apiClients(),
): Promise<{ sessionId: string; status: SessionStatus | 'CANCELLING' }> {
  const execution = await describe(sessionId, config, clients);
  if (execution.status !== 'RUNNING') return { sessionId, status: statusOf(execution) };
  await call('s3:PutObject', () =>
    clients.s3.send(
      new PutObjectCommand({
        Bucket: config.bucket,
        Key: sessionKeys.cancel(sessionId),
        Body: JSON.stringify({ sessionId, caller, requestedAt: new Date().toISOString() }),
        ContentType: 'application/json',
      }),
    ),
  );
  return { sessionId, status: 'CANCELLING' };
}

/** GET /sessions: the most recent sessions, newest first. */
export async function listSessions(
  config: ApiConfig,
  options: { active?: boolean; limit?: number } = {},
  clients: ApiClients = apiClients(),
): Promise<SessionSummary[]> {
  const listed = await call('states:ListExecutions', () =>
    clients.sfn.send(
      new ListExecutionsCommand({
        stateMachineArn: config.stateMachineArn,
        maxResults: options.limit ?? 50,
        ...(options.active && { statusFilter: 'RUNNING' }),
      }),
    ),
  );
  // ListExecutions carries no input: who asked for what comes from DescribeExecution, a few at once.
  return mapLimit(listed.executions ?? [], 8, async (e) => {
    const summary: SessionSummary = {
      sessionId: e.name ?? '',
      status: statusOf(e),
      startedAt: e.startDate?.toISOString(),
      stoppedAt: e.stopDate?.toISOString(),
    };
    let described: DescribeExecutionCommandOutput | undefined;
    try {
      described = await clients.sfn.send(new DescribeExecutionCommand({ executionArn: e.executionArn }));
    } catch {
      // A row without its target beats no list.
    }
    const input = parseInput(described?.input);
    if (!input?.spec) return summary;
    return {
      ...summary,
      target: describeTarget(input.spec.target),
      tool: input.spec.tool,
      caller: input.caller,
      kind: isServiceTarget(input.spec.target) ? 'fleet' : 'task',
    };
  });
}

export function assertSessionId(value: string): string {
  if (!hostParamRegExp('sessionId').test(value)) {
    throw new DebugTaskError('INVALID_ARGUMENT', `"${value.slice(0, 60)}" is not a session id.`, {
      hint: `Session ids look like dt-20261125123456-a1b2c3 (${HOST_PARAMS.sessionId.description})`,
    });
  }
  return value;
}

/** arn:aws:states:R:A:stateMachine:NAME + id -> arn:aws:states:R:A:execution:NAME:id */
export function executionArnOf(stateMachineArn: string, sessionId: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${sessionId}`;
}

export async function describe(
  sessionId: string,
  config: ApiConfig,
  clients: ApiClients,
): Promise<DescribeExecutionCommandOutput> {
  assertSessionId(sessionId);
  try {
    return await clients.sfn.send(
      new DescribeExecutionCommand({ executionArn: executionArnOf(config.stateMachineArn, sessionId) }),
    );
  } catch (error) {
    if (error instanceof ExecutionDoesNotExist) {
      throw new DebugTaskError('SESSION_NOT_FOUND', `There is no session ${sessionId}.`, { cause: error });
    }
    throw awsError('states:DescribeExecution', error);
  }
}

/** The state the execution entered last: what the CLI shows as the phase. */
async function currentPhase(executionArn: string, clients: ApiClients): Promise<string | undefined> {
  const history = await call('states:GetExecutionHistory', () =>
    clients.sfn.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 20 })),
  );
  const entered = history.events?.find((e) => e.stateEnteredEventDetails?.name);
  return entered?.stateEnteredEventDetails?.name;
}

function statusOf(execution: { status?: string }): SessionStatus {
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

export async function call<T>(operation: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    throw awsError(operation, error);
  }
}

function awsError(operation: string, error: unknown): DebugTaskError {
  if (error instanceof DebugTaskError) return error;
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  return new DebugTaskError('AWS_ERROR', `${operation} failed: ${name}: ${message}`, { cause: error });
}

/** An execution's input, or undefined when it is missing or not JSON (a list row then has no target). */
function parseInput(text: string | undefined): ExecutionInput | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as ExecutionInput;
  } catch {
    return undefined;
  }
}
