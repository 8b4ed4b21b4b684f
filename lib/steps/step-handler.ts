import { DebugTaskError, toStepFunctionsError } from '../domain/errors';
import { logger } from '../log';

/** What every step receives: the state machine's state, which always carries the session id. */
export interface StepEvent {
  sessionId?: string;
}

/**
 * Wraps one step function as a Lambda handler: log context, timings and the error contract.
 *
 * Errors leave as `toStepFunctionsError` (name = code, message = JSON ErrorBody) so the state
 * machine's Catch and the API can decode them. Anything that is not already a DebugTaskError is an
 * internal failure: it becomes AWS_ERROR, and its details (stack included) go to the log only.
 */
export function stepHandler<E extends StepEvent, R>(
  name: string,
  fn: (event: E) => Promise<R>,
): (event: E) => Promise<R> {
  return async (event: E) => {
    const started = Date.now();
    logger.appendKeys({ sessionId: event?.sessionId, step: name });
    logger.info(`${name} started`);
    try {
      const result = await fn(event);
      logger.info(`${name} ended`, { durationMs: Date.now() - started });
      return result;
    } catch (error) {
      const typed = asDebugTaskError(name, error);
      const log = typed.code === 'AWS_ERROR' ? logger.error.bind(logger) : logger.warn.bind(logger);
      log(`${name} failed`, {
        durationMs: Date.now() - started,
        code: typed.code,
        error: typed,
        cause: typed.cause,
      });
      throw withoutStack(toStepFunctionsError(typed));
    } finally {
      // The logger outlives the invocation in a warm Lambda: the next session must not inherit our keys.
      logger.removeKeys(['sessionId', 'step']);
    }
  };
}

function asDebugTaskError(step: string, error: unknown): DebugTaskError {
  if (error instanceof DebugTaskError) return error;
  const name = error instanceof Error ? error.name : typeof error;
  return new DebugTaskError('AWS_ERROR', `The ${step} step failed unexpectedly (${name}).`, {
    hint: 'This is a bug or an infrastructure failure: the function’s log has the details.',
    cause: error,
  });
}

// The Lambda runtime sends `stack` to Step Functions as the error's trace: keep only its first line.
function withoutStack(error: Error): Error {
  error.stack = `${error.name}: ${error.message}`;
  return error;
}
