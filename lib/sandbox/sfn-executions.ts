/**
 * The executions of one state machine, run by aws-local-stepfunctions with Standard workflow
 * semantics as the Step Functions API reports them: named executions, idempotent start, status,
 * output or error/cause, stop (abort), and an execution history built from the library's event log.
 *
 * Wait states run in real time (no `waitTimeOverrides`): the poll loop's adaptive waits are part
 * of what the sandbox shows.
 */
import './promise-with-resolvers'; // before the library runs a Task state (Node 20)
import { randomUUID } from 'node:crypto';
import type {
  DescribeExecutionOutput,
  ExecutionListItem,
  ExecutionStatus,
  HistoryEvent,
  HistoryEventType,
} from '@aws-sdk/client-sfn';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine,
} from 'aws-local-stepfunctions';
import { adaptDefinition } from './sfn-definition';
import { bindTaskHandlers, type BoundTasks, type TaskHandler, type TaskKind } from './sfn-tasks';

/** A modeled Step Functions error: `type` is the exception name the SDK maps to its class. */
export class SfnServiceError extends Error {
  constructor(
    readonly type: SfnErrorType,
    message: string,
  ) {
    super(message);
    this.name = type;
  }
}

export type SfnErrorType =
  | 'ExecutionAlreadyExists'
  | 'ExecutionDoesNotExist'
  | 'StateMachineDoesNotExist'
  | 'InvalidArn'
  | 'InvalidName'
  | 'InvalidExecutionInput'
  | 'InvalidToken'
  | 'ValidationException';

export interface ExecutionStoreOptions {
  definition: object;
  /** Fake function ARN (as in the definition) -> in-process handler. */
  handlers: Record<string, TaskHandler>;
  stateMachineArn: string;
  roleArn?: string;
}

type EventLog = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;
type NewHistoryEvent = Omit<HistoryEvent, 'id' | 'previousEventId' | 'timestamp'>;

interface Execution {
  seq: number;
  arn: string;
  name: string;
  input: string;
  startDate: Date;
  stopDate?: Date;
  status: ExecutionStatus;
  output?: string;
  error?: string;
  cause?: string;
  events: HistoryEvent[];
  /** Per state name: the current attempt of a Task failed (no "succeeded" event on its exit). */
  failedTasks: Set<string>;
  abort: () => void;
  /** Resolves once the library's event log is drained (the history is complete). */
  settled: Promise<void>;
}

const MAX_INPUT_BYTES = 256 * 1024;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
// AWS: 1-80 characters, none of whitespace, brackets, wildcards, special characters, control characters.
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const EXECUTION_NAME = /^[^\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]{1,80}$/;

export class ExecutionStore {
  private readonly machine: StateMachine;
  private readonly tasks: BoundTasks;
  private readonly stateMachineArn: string;
  private readonly stateMachineName: string;
  private readonly roleArn: string;
  private readonly executions = new Map<string, Execution>();
  private seq = 0;

  constructor(options: ExecutionStoreOptions) {
    const definition = adaptDefinition(options.definition);
    // Validates the definition (asl-validator): a broken definition fails here, not mid-run.
    this.machine = new StateMachine(definition as ConstructorParameters<typeof StateMachine>[0]);
    this.tasks = bindTaskHandlers(definition, options.handlers);
    this.stateMachineArn = options.stateMachineArn;
    this.stateMachineName = options.stateMachineArn.split(':').pop() ?? '';
    this.roleArn =
      options.roleArn ?? arnOf(options.stateMachineArn, 'iam', `role/${this.stateMachineName}-role`);
  }

  start(request: { stateMachineArn?: string; name?: string; input?: string }): {
    executionArn: string;
    startDate: Date;
  } {
    this.checkStateMachine(request.stateMachineArn);
    const name = request.name ?? randomUUID();
    if (!EXECUTION_NAME.test(name)) throw new SfnServiceError('InvalidName', `Invalid Name: '${name}'`);
    const input = request.input ?? '{}';
    const parsed = parseInput(input);
    const arn = `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;

    const existing = this.executions.get(arn);
    if (existing) {
      // Standard workflows: same name and input while running returns the original start.
      if (existing.status === 'RUNNING' && existing.input === input) {
        return { executionArn: existing.arn, startDate: existing.startDate };
      }
      throw new SfnServiceError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`);
    }

    const execution = this.run(arn, name, input, parsed);
    this.executions.set(arn, execution);
    return { executionArn: arn, startDate: execution.startDate };
  }

  describe(executionArn: unknown): DescribeExecutionOutput {
    const e = this.get(executionArn);
    return {
      executionArn: e.arn,
      stateMachineArn: this.stateMachineArn,
      name: e.name,
      status: e.status,
      startDate: e.startDate,
      stopDate: e.stopDate,
      input: e.input,
      inputDetails: { included: true },
      ...(e.output !== undefined && { output: e.output, outputDetails: { included: true } }),
      ...(e.error !== undefined && { error: e.error }),
      ...(e.cause !== undefined && { cause: e.cause }),
    };
  }

  /** StopExecution: aborts a running execution (state handlers already running finish, as in AWS). */
  stop(executionArn: unknown, error?: string, cause?: string): { stopDate: Date } {
    const e = this.get(executionArn);
    if (e.status === 'RUNNING') {
      this.close(e, 'ABORTED', { error, cause });
      e.abort();
    }
    return { stopDate: e.stopDate ?? new Date() };
  }

  history(request: {
    executionArn?: unknown;
    maxResults?: number;
    reverseOrder?: boolean;
    nextToken?: string;
    includeExecutionData?: boolean;
  }): { events: HistoryEvent[]; nextToken?: string } {
    const e = this.get(request.executionArn);
    let events = request.reverseOrder ? [...e.events].reverse() : e.events;
    if (request.includeExecutionData === false) events = events.map(withoutData);
    const page = paginate(events, request.maxResults, request.nextToken);
    return { events: page.items, ...(page.nextToken && { nextToken: page.nextToken }) };
  }

  list(request: {
    stateMachineArn?: string;
    statusFilter?: string;
    maxResults?: number;
    nextToken?: string;
  }): {
    executions: ExecutionListItem[];
    nextToken?: string;
  } {
    this.checkStateMachine(request.stateMachineArn);
    const all = [...this.executions.values()]
      .filter((e) => request.statusFilter === undefined || e.status === request.statusFilter)
      .sort((a, b) => b.seq - a.seq); // newest first
    const page = paginate(all, request.maxResults, request.nextToken);
    const executions = page.items.map((e) => ({
      executionArn: e.arn,
      stateMachineArn: this.stateMachineArn,
      name: e.name,
      status: e.status,
      startDate: e.startDate,
      ...(e.stopDate && { stopDate: e.stopDate }),
    }));
    return { executions, ...(page.nextToken && { nextToken: page.nextToken }) };
  }

  /** Aborts every running execution (the stand-in is going away) and waits for their histories. */
  async abortAll(cause: string): Promise<void> {
    const running = [...this.executions.values()].filter((e) => e.status === 'RUNNING');
    for (const e of running) this.stop(e.arn, undefined, cause);
    await Promise.all(running.map((e) => e.settled));
  }

  /** Waits until an execution is no longer RUNNING and its history is complete (tests, demo). */
  async settled(executionArn: string): Promise<void> {
    await this.get(executionArn).settled;
  }

  private run(arn: string, name: string, input: string, parsed: unknown): Execution {
    const startDate = new Date();
    const { result, abort, eventLogs } = this.machine.run(parsed as Parameters<StateMachine['run']>[0], {
      overrides: { taskResourceLocalHandlers: this.tasks.handlers },
      context: {
        Execution: { Id: arn, Name: name, RoleArn: this.roleArn, StartTime: startDate.toISOString() },
        StateMachine: { Id: this.stateMachineArn, Name: this.stateMachineName },
      },
    });
    const execution: Execution = {
      seq: ++this.seq,
      arn,
      name,
      input,
      startDate,
      status: 'RUNNING',
      events: [],
      failedTasks: new Set(),
      abort,
      settled: Promise.resolve(),
    };

    const drained = (async () => {
      for await (const event of eventLogs) this.record(execution, event);
    })();
    const outcome = result.then(
      (output) => this.close(execution, 'SUCCEEDED', { output: JSON.stringify(output ?? null) }),
      (error: unknown) => this.close(execution, ...failureOf(error)),
    );
    execution.settled = Promise.all([drained, outcome]).then(() => undefined);
    return execution;
  }

  /** Ends an execution once: the first outcome wins (a stop beats the library's late abort error). */
  private close(
    e: Execution,
    status: ExecutionStatus,
    fields: { output?: string; error?: string; cause?: string },
  ) {
    if (e.status !== 'RUNNING') return;
    e.status = status;
    e.stopDate = new Date();
    if (fields.output !== undefined) e.output = fields.output;
    if (fields.error !== undefined) e.error = fields.error;
    if (fields.cause !== undefined) e.cause = fields.cause;
  }

  /** Appends the AWS history events that one library event stands for. */
  private record(e: Execution, event: EventLog): void {
    for (const entry of this.historyEventsOf(e, event)) {
      const id = e.events.length + 1;
      e.events.push({ timestamp: new Date(event.timestamp), id, previousEventId: id - 1, ...entry });
    }
  }

  private historyEventsOf(e: Execution, event: EventLog): NewHistoryEvent[] {
    const data = (value: unknown) => JSON.stringify(value ?? null);
    switch (event.type) {
      case 'ExecutionStarted':
        return [
          {
            type: 'ExecutionStarted',
            executionStartedEventDetails: {
              input: e.input,
              inputDetails: { truncated: false },
              roleArn: this.roleArn,
            },
          },
        ];
      case 'ExecutionSucceeded':
        return [
          {
            type: 'ExecutionSucceeded',
            executionSucceededEventDetails: {
              output: data(event.output),
              outputDetails: { truncated: false },
            },
          },
        ];
      case 'ExecutionFailed':
        return [
          {
            type: 'ExecutionFailed',
            executionFailedEventDetails: { error: event.Error, cause: text(event.Cause) },
          },
        ];
      case 'ExecutionAborted':
        return [
          { type: 'ExecutionAborted', executionAbortedEventDetails: { error: e.error, cause: e.cause } },
        ];
      case 'ExecutionTimeout':
        return [{ type: 'ExecutionTimedOut', executionTimedOutEventDetails: { error: 'States.Timeout' } }];
      case 'StateEntered': {
        const entered: NewHistoryEvent = {
          type: `${event.state.type}StateEntered` as HistoryEventType,
          stateEnteredEventDetails: {
            name: event.state.name,
            input: data(event.state.input),
            inputDetails: { truncated: false },
          },
        };
        if (event.state.type !== 'Task') return [entered];
        e.failedTasks.delete(event.state.name);
        return [entered, this.taskEvent(event.state.name, 'Scheduled', { input: data(event.state.input) })];
      }
      case 'StateRetried':
        e.failedTasks.delete(event.state.name);
        return [this.taskEvent(event.state.name, 'Scheduled', { input: data(event.state.input) })];
      case 'StateFailed':
        if (event.state.type !== 'Task') return []; // AWS reports these as the execution's failure
        e.failedTasks.add(event.state.name);
        return [this.taskEvent(event.state.name, 'Failed', { error: event.Error, cause: text(event.Cause) })];
      case 'StateExited': {
        const exited: NewHistoryEvent = {
          type: `${event.state.type}StateExited` as HistoryEventType,
          stateExitedEventDetails: {
            name: event.state.name,
            output: data(event.state.output),
            outputDetails: { truncated: false },
          },
        };
        if (event.state.type !== 'Task' || e.failedTasks.has(event.state.name)) return [exited];
        return [this.taskEvent(event.state.name, 'Succeeded', { output: data(event.state.output) }), exited];
      }
      default:
        // StateCaught has no AWS event of its own; Map/Parallel iterations are not used by our machine.
        return [];
    }
  }

  /** A Lambda event as AWS records it: LambdaFunction* for a direct ARN, Task* for lambda:invoke. */
  private taskEvent(
    stateName: string,
    phase: 'Scheduled' | 'Succeeded' | 'Failed',
    fields: { input?: string; output?: string; error?: string; cause?: string },
  ): NewHistoryEvent {
    const kind: TaskKind = this.tasks.kinds[stateName] ?? 'lambda';
    if (kind === 'lambda') {
      const key = `lambdaFunction${phase}EventDetails`;
      const details =
        phase === 'Scheduled'
          ? {
              resource: this.tasks.resources[stateName],
              input: fields.input,
              inputDetails: { truncated: false },
            }
          : phase === 'Succeeded'
            ? { output: fields.output, outputDetails: { truncated: false } }
            : { error: fields.error, cause: fields.cause };
      return { type: `LambdaFunction${phase}`, [key]: details };
    }
    const common = { resourceType: 'lambda', resource: 'invoke' };
    const details =
      phase === 'Scheduled'
        ? { ...common, region: this.stateMachineArn.split(':')[3], parameters: fields.input }
        : phase === 'Succeeded'
          ? { ...common, output: fields.output, outputDetails: { truncated: false } }
          : { ...common, error: fields.error, cause: fields.cause };
    return { type: `Task${phase}`, [`task${phase}EventDetails`]: details };
  }

  private get(executionArn: unknown): Execution {
    if (
      typeof executionArn !== 'string' ||
      !/^arn:aws[a-z-]*:states:[^:]*:\d{12}:execution:[^:]+:[^:]+$/.test(executionArn)
    ) {
      throw new SfnServiceError('InvalidArn', `Invalid Arn: '${String(executionArn)}'`);
    }
    const execution = this.executions.get(executionArn);
    if (!execution)
      throw new SfnServiceError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return execution;
  }

  private checkStateMachine(stateMachineArn: string | undefined): void {
    if (stateMachineArn !== this.stateMachineArn) {
      throw new SfnServiceError(
        'StateMachineDoesNotExist',
        `State Machine Does Not Exist: '${String(stateMachineArn)}'`,
      );
    }
  }
}

/** Status and error/cause of an execution whose run rejected. */
function failureOf(error: unknown): [ExecutionStatus, { error?: string; cause?: string }] {
  if (error instanceof ExecutionAbortedError) return ['ABORTED', {}];
  if (error instanceof ExecutionTimeoutError) return ['TIMED_OUT', { error: 'States.Timeout' }];
  // ExecutionError wraps the state error that ended the run; its name/message are Error/Cause.
  const state = error instanceof ExecutionError && error.cause instanceof Error ? error.cause : error;
  if (state instanceof Error) return ['FAILED', { error: state.name, cause: state.message }];
  return ['FAILED', { error: 'States.Runtime', cause: String(state) }];
}

function parseInput(input: string): unknown {
  if (Buffer.byteLength(input) > MAX_INPUT_BYTES) {
    throw new SfnServiceError('InvalidExecutionInput', `The input is over ${MAX_INPUT_BYTES} bytes.`);
  }
  try {
    return JSON.parse(input);
  } catch (error) {
    throw new SfnServiceError(
      'InvalidExecutionInput',
      `Invalid State Machine Execution Input: '${(error as Error).message}'`,
    );
  }
}

/** Opaque page tokens: the offset of the next item. */
function paginate<T>(items: T[], maxResults: number | undefined, nextToken: string | undefined) {
  if (
    maxResults !== undefined &&
    (!Number.isInteger(maxResults) || maxResults < 0 || maxResults > MAX_PAGE)
  ) {
    throw new SfnServiceError('ValidationException', `maxResults must be between 0 and ${MAX_PAGE}.`);
  }
  const size = maxResults || DEFAULT_PAGE; // 0 means the default, as in AWS
  let offset = 0;
  if (nextToken !== undefined) {
    offset = Number(Buffer.from(nextToken, 'base64url').toString());
    if (!Number.isInteger(offset) || offset < 0 || offset > items.length) {
      throw new SfnServiceError('InvalidToken', 'Invalid Token.');
    }
  }
  const end = offset + size;
  return {
    items: items.slice(offset, end),
    nextToken: end < items.length ? Buffer.from(String(end)).toString('base64url') : undefined,
  };
}

/** includeExecutionData=false: the events without their input/output. */
function withoutData(event: HistoryEvent): HistoryEvent {
  const copy: Record<string, unknown> = { ...event };
  for (const [key, value] of Object.entries(copy)) {
    if (key.endsWith('EventDetails') && typeof value === 'object' && value !== null) {
      const { input: _input, output: _output, ...rest } = value as Record<string, unknown>;
      copy[key] = rest;
    }
  }
  return copy as unknown as HistoryEvent;
}

function text(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  return value instanceof Error ? value.message : JSON.stringify(value);
}

function arnOf(like: string, service: string, resource: string): string {
  const [, partition, , , account] = like.split(':');
  return `arn:${partition}:${service}::${account}:${resource}`;
}
