/**
 * Binds the Task states of a definition to in-process handler functions, and makes those handlers
 * behave as Lambda functions do when Step Functions invokes them.
 *
 * aws-local-stepfunctions, given a local handler, matches Retry/Catch on the thrown error's `name`
 * (good: that is the Lambda `errorType`), but passes the raw `message` on as the error's Cause,
 * where AWS passes the Lambda runtime's error document `{"errorType", "errorMessage", "trace"}`.
 * Our Cleanup step and `fromStepFunctionsFailure` decode that document, so each handler is wrapped
 * to throw an error whose message is that document. Results go through JSON as a Lambda payload does.
 */
import { DebugTaskError } from '../domain/errors';
import { isPlainObject } from '../domain/plain-object';

/** An in-process stand-in for one Lambda function: receives the payload, returns the result. */
// `any`: the real handlers take their own event types; binding them must not need casts.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TaskHandler = (input: any) => Promise<unknown>;

type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type LocalTaskHandler = (input: JsonValue) => Promise<JsonValue>;

/** How a Task state invokes its function: direct ARN, or the `lambda:invoke` service integration. */
export type TaskKind = 'lambda' | 'lambda:invoke';

export interface BoundTasks {
  /** For `overrides.taskResourceLocalHandlers` (the library keys them by state name). */
  handlers: Record<string, LocalTaskHandler>;
  /** State name -> how it invokes, for the execution history's Lambda/Task events. */
  kinds: Record<string, TaskKind>;
  /** State name -> the function ARN it invokes. */
  resources: Record<string, string>;
}

/** Step Functions' limit on a state's input or output (States.DataLimitExceeded above it). */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

const FUNCTION_ARN = /^(arn:aws[a-z-]*:lambda:[^:]+:\d{12}:function:[^:]+)(?::[^:]+)?$/;
const LAMBDA_INVOKE = /^arn:aws[a-z-]*:states:::lambda:invoke$/;

/**
 * Finds every Task state (nested Parallel/Map machines included) and binds it to
 * `handlers[function ARN]`. Fails on any Task it cannot bind: left alone, the library would call
 * the real Lambda service.
 */
export function bindTaskHandlers(definition: object, handlers: Record<string, TaskHandler>): BoundTasks {
  const bound: BoundTasks = { handlers: {}, kinds: {}, resources: {} };

  for (const [stateName, state] of taskStates(definition)) {
    const resource = typeof state.Resource === 'string' ? state.Resource : '';
    const { kind, functionArn } = invocationOf(stateName, resource, state.Parameters);
    const handler = handlers[functionArn] ?? handlers[unqualified(functionArn)];
    if (!handler) {
      throw standInError(
        `Task state "${stateName}" invokes ${functionArn}, which has no handler; bound: ${Object.keys(handlers).join(', ') || 'none'}.`,
      );
    }
    // Overrides are keyed by name across nested machines too: two Tasks sharing a name must agree.
    const previous = bound.resources[stateName];
    if (previous !== undefined && previous !== functionArn) {
      throw standInError(`Two Task states are named "${stateName}" but invoke different functions.`);
    }
    bound.resources[stateName] = functionArn;
    const lambda = asLambdaFunction(handler);
    bound.kinds[stateName] = kind;
    bound.handlers[stateName] =
      kind === 'lambda'
        ? lambda
        : async (input) => {
            // lambda:invoke hands the function `Payload` and returns the Invoke response.
            const payload = isPlainObject(input) ? (input.Payload ?? null) : null;
            return { ExecutedVersion: '$LATEST', Payload: await lambda(payload), StatusCode: 200 };
          };
  }
  return bound;
}

/**
 * One handler, run the way the Lambda runtime runs it: the result is the JSON payload, and a
 * thrown error becomes the runtime's error document (errorType = name), which Step Functions
 * carries as the state error's Cause.
 */
export function asLambdaFunction(handler: TaskHandler): LocalTaskHandler {
  return async (input) => {
    let result: unknown;
    try {
      result = await handler(input);
    } catch (thrown) {
      throw lambdaFunctionError(thrown);
    }
    const payload = JSON.stringify(result ?? null); // undefined returns the payload `null`
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) {
      // Like AWS: a terminal error that States.ALL does not catch (the library reads these flags).
      const error = namedError(
        'States.DataLimitExceeded',
        `The function returned ${Buffer.byteLength(payload)} bytes.`,
      );
      throw Object.assign(error, { isCatchable: false, isRetryable: false });
    }
    return JSON.parse(payload) as JsonValue;
  };
}

/**
 * The error Step Functions sees when a Lambda function throws `thrown`: Error = errorType,
 * Cause = the runtime's document. Mirrors the Node.js runtime: a non-Error throw reports its typeof.
 */
export function lambdaFunctionError(thrown: unknown): Error {
  const document =
    thrown instanceof Error
      ? { errorType: thrown.name, errorMessage: thrown.message, trace: (thrown.stack ?? '').split('\n') }
      : { errorType: typeof thrown, errorMessage: String(thrown), trace: [] };
  return namedError(document.errorType, JSON.stringify(document));
}

function invocationOf(
  stateName: string,
  resource: string,
  parameters: unknown,
): { kind: TaskKind; functionArn: string } {
  if (FUNCTION_ARN.test(resource)) return { kind: 'lambda', functionArn: resource };
  if (LAMBDA_INVOKE.test(resource)) {
    const functionArn = isPlainObject(parameters) ? parameters.FunctionName : undefined;
    if (typeof functionArn !== 'string') {
      throw standInError(
        `Task state "${stateName}" uses lambda:invoke without a literal Parameters.FunctionName.`,
      );
    }
    return { kind: 'lambda:invoke', functionArn };
  }
  throw standInError(
    `Task state "${stateName}" uses the resource ${resource || '(none)'}; the sandbox runs Lambda tasks only.`,
  );
}

function* taskStates(machine: unknown): Generator<[string, Record<string, unknown>]> {
  const states = isPlainObject(machine) && isPlainObject(machine.States) ? machine.States : {};
  for (const [name, state] of Object.entries(states)) {
    if (!isPlainObject(state)) continue;
    if (state.Type === 'Task') yield [name, state];
    if (Array.isArray(state.Branches)) for (const branch of state.Branches) yield* taskStates(branch);
    if (state.Iterator) yield* taskStates(state.Iterator);
    if (state.ItemProcessor) yield* taskStates(state.ItemProcessor);
  }
}

/** arn:...:function:NAME:QUALIFIER -> arn:...:function:NAME */
function unqualified(functionArn: string): string {
  return FUNCTION_ARN.exec(functionArn)?.[1] ?? functionArn;
}

function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

function standInError(message: string): DebugTaskError {
  return new DebugTaskError('SANDBOX_UNAVAILABLE', message, {
    hint: 'The state machine definition and the sandbox handlers do not match: a bug in lib/infra or lib/sandbox.',
  });
}
