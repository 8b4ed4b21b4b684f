import { requireEnv } from '../config';
import { fromStepFunctionsFailure, type DebugTaskError } from '../domain/errors';
import type { FleetLaunchInfo } from '../domain/fleet';
import type { ExecutionInput } from '../domain/session';
import { commandParameters } from '../host/runner-script';
import { logger } from '../log';
import { cleanupValues } from './cleanup';
import { mapLimit } from '../domain/map-limit';
import { sessionComment } from './launch';
import { sendRunner } from './send-runner';

/** What the Map's (or CollectFleet's) Catch hands over: the state so far, plus the failure. */
export type FleetCleanupState = ExecutionInput & {
  fleet?: FleetLaunchInfo;
  error: { Error: string; Cause: string };
};

/**
 * CleanupFleet: after a cancel or any failure of the fleet, send `action=cleanup` with the fleet's
 * id to every host of the plan, one SendCommand per batch of 50 (the runner's cleanup of a fleet id
 * stops the host's fleet runner and removes every child: containers, watchdogs, work dirs). Then
 * fail with the error that brought us here. Best effort, like Cleanup: a failed call is logged and
 * never replaces the original error; the watchdogs and the sweeper remove what this misses.
 */
export async function cleanupFleet(
  state: FleetCleanupState,
  deps: { now?: () => number } = {},
): Promise<never> {
  const original: DebugTaskError = fromStepFunctionsFailure(state.error?.Error, state.error?.Cause);
  logger.info('cleaning up the fleet after failure', { code: original.code });
  const batches = state.fleet?.batches ?? [];
  let send: (instanceIds: string[]) => Promise<unknown>;
  try {
    // Inside the try: a deployment error here (no DOCUMENT_NAME) must not hide the original error.
    const documentName = requireEnv('DOCUMENT_NAME');
    const parameters = commandParameters(
      cleanupValues(
        { sessionId: state.sessionId, ...(state.fleet && { launch: { expiresAt: state.fleet.expiresAt } }) },
        (deps.now ?? Date.now)(),
      ),
    );
    send = (instanceIds) =>
      sendRunner({
        documentName,
        instanceIds,
        parameters,
        comment: sessionComment(state.sessionId),
        fanOut: true,
        call: 'ssm:SendCommand (cleanup)',
      });
  } catch (error) {
    logger.warn('cleanup: the cleanup command could not be built; the original error is reported instead', {
      error,
    });
    throw original;
  }
  await mapLimit(batches, 4, async (batch) => {
    try {
      await send(batch.instanceIds);
    } catch (error) {
      logger.warn(
        'cleanup: ssm:SendCommand (cleanup) failed for a batch; the original error is reported instead',
        {
          batch: batch.batch,
          error,
        },
      );
    }
  });
  throw original;
}
