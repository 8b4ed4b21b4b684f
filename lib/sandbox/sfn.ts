/**
 * The Step Functions stand-in: the AWS JSON 1.0 protocol on loopback, as @aws-sdk/client-sfn
 * speaks it (`POST /`, `X-Amz-Target: AWSStepFunctions.<Action>`, JSON in and out), over an
 * ExecutionStore that runs the real definition with aws-local-stepfunctions.
 *
 * Handlers reach it through `AWS_ENDPOINT_URL_SFN`, so they carry no sandbox code. Requests are
 * not signature-checked: it listens on 127.0.0.1 only, for the duration of a demo or a test.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ExecutionStore, SfnServiceError } from './sfn-executions';
import type { TaskHandler } from './sfn-tasks';
import { SANDBOX_ACCOUNT_ID } from './template';
import { awsJson, readBody } from './http-body';

export type { TaskHandler } from './sfn-tasks';

export interface StepFunctionsStandInOptions {
  /** The resolved definition (`stateMachineDefinition(template).definition`). */
  definition: object;
  /** Fake function ARN, as it appears in the definition -> the handler that runs in its place. */
  handlers: Record<string, TaskHandler>;
  region: string;
  /** Default `debug-task`. */
  stateMachineName?: string;
}

export interface StepFunctionsStandIn {
  /** `http://127.0.0.1:<port>`: give it to SFNClient as `endpoint` or AWS_ENDPOINT_URL_SFN. */
  endpoint: string;
  stateMachineArn: string;
  /** Every request received, in order (tests assert on what the handlers called). */
  calls: Array<{ action: string; input: Record<string, unknown> }>;
  /** Resolves when the named execution has ended and its history is complete. */
  settled(executionArn: string): Promise<void>;
  /** Aborts running executions and closes the server. */
  stop(): Promise<void>;
}

type Action = (input: Record<string, unknown>) => unknown;

export async function startStepFunctionsStandIn(
  opts: StepFunctionsStandInOptions,
): Promise<StepFunctionsStandIn> {
  const stateMachineArn = `arn:aws:states:${opts.region}:${SANDBOX_ACCOUNT_ID}:stateMachine:${opts.stateMachineName ?? 'debug-task'}`;
  const store = new ExecutionStore({ definition: opts.definition, handlers: opts.handlers, stateMachineArn });
  const calls: StepFunctionsStandIn['calls'] = [];

  const actions: Record<string, Action> = {
    StartExecution: (i) =>
      store.start({ stateMachineArn: str(i.stateMachineArn), name: str(i.name), input: str(i.input) }),
    DescribeExecution: (i) => store.describe(i.executionArn),
    StopExecution: (i) => store.stop(i.executionArn, str(i.error), str(i.cause)),
    GetExecutionHistory: (i) =>
      store.history({
        executionArn: i.executionArn,
        maxResults: num(i.maxResults),
        reverseOrder: i.reverseOrder === true,
        nextToken: str(i.nextToken),
        includeExecutionData: i.includeExecutionData !== false,
      }),
    ListExecutions: (i) =>
      store.list({
        stateMachineArn: str(i.stateMachineArn),
        statusFilter: str(i.statusFilter),
        maxResults: num(i.maxResults),
        nextToken: str(i.nextToken),
      }),
  };

  const server = createServer((req, res) => {
    handle(req, res, actions, calls).catch((error: unknown) =>
      reply(res, 500, errorBody('InternalFailure', error)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    stateMachineArn,
    calls,
    settled: (executionArn) => store.settled(executionArn),
    async stop() {
      await store.abortAll('The Step Functions stand-in was stopped.');
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // the SDK keeps connections alive; close() alone would wait on them
      });
    },
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  actions: Record<string, Action>,
  calls: StepFunctionsStandIn['calls'],
): Promise<void> {
  const body = await readBody(req, MAX_BODY_BYTES, () => new Error('The request body is over 1 MiB.'));
  const target = String(req.headers['x-amz-target'] ?? '');
  const action = target.startsWith('AWSStepFunctions.') ? target.slice('AWSStepFunctions.'.length) : '';
  if (req.method !== 'POST' || !Object.hasOwn(actions, action)) {
    return reply(
      res,
      400,
      errorBody('UnknownOperationException', `Unknown operation ${target || req.method}`),
    );
  }

  let input: Record<string, unknown>;
  try {
    const parsed: unknown = body.length ? JSON.parse(body) : {};
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    input = parsed as Record<string, unknown>;
  } catch {
    return reply(res, 400, errorBody('SerializationException', 'The request body is not a JSON object.'));
  }
  calls.push({ action, input });

  try {
    reply(res, 200, actions[action](input));
  } catch (error) {
    if (error instanceof SfnServiceError) return reply(res, 400, errorBody(error.type, error));
    reply(res, 500, errorBody('InternalFailure', error));
  }
}

/**
 * The SDK reads the modeled exception from `__type` (namespace prefix stripped) and its message
 * from `message`, e.g. `{"__type":"com.amazonaws.sfn#ExecutionDoesNotExist","message":"..."}`.
 */
function errorBody(type: string, error: unknown): Record<string, string> {
  const message = error instanceof Error ? error.message : String(error);
  return { __type: `com.amazonaws.sfn#${type}`, message };
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const json = awsJson(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(json),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(json);
}

// Far above any valid request (an execution input is at most 256 KiB), far below trouble.
const MAX_BODY_BYTES = 1024 * 1024;

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}
