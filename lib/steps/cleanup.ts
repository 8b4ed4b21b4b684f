import { CancelCommandCommand } from '@aws-sdk/client-ssm';
import { requireEnv } from '../config';
import { fromStepFunctionsFailure, type DebugTaskError } from '../domain/errors';
import type { HostParamValues } from '../domain/params';
import type { ExecutionInput, LaunchInfo, ResolvedTarget } from '../domain/session';
import { commandParameters } from '../host/runner-script';
import { logger } from '../log';
import { awsCall } from './aws-errors';
import { ssmClient } from './clients';
import { sessionComment } from './launch';
import { sendRunner } from './send-runner';

/** What Catch hands to Cleanup: whatever state existed when a step failed, plus the failure. */
export type CleanupState = ExecutionInput & {
  target?: ResolvedTarget;
  launch?: LaunchInfo;
  error: { Error: string; Cause: string };
};

/** The host's cleanup only removes a container and a directory. */
export const CLEANUP_TIMEOUT_SECONDS = 120;

export interface CleanupDeps {
  now?: () => number;
}

/**
 * Cleanup: stop what may still run on the host, then fail with the error that brought us here.
 *
 * Best effort: a failing cleanup call is logged and must not replace the original error, which
 * is what the user needs (CANCELLED, HOST_BUSY, ...). The host runner's own watchdog and the
 * sweeper remove whatever this misses.
 */
export async function cleanupSession(state: CleanupState, deps: CleanupDeps = {}): Promise<never> {
  const original: DebugTaskError = fromStepFunctionsFailure(state.error?.Error, state.error?.Cause);
  logger.info('cleaning up after failure', { code: original.code });

  if (state.launch?.commandId) {
    const { commandId, instanceId } = state.launch;
    await bestEffort('ssm:CancelCommand', () =>
      ssmClient().send(new CancelCommandCommand({ CommandId: commandId, InstanceIds: [instanceId] })),
    );
  }
  if (state.target) {
    const target = state.target;
    const values = cleanupValues(state, (deps.now ?? Date.now)());
    await bestEffort('ssm:SendCommand (cleanup)', () =>
      sendRunner({
        documentName: requireEnv('DOCUMENT_NAME'),
        instanceIds: [target.instanceId],
        parameters: commandParameters(values),
        comment: sessionComment(state.sessionId),
      }),
    );
  }
  throw original;
}

/**
 * What action `cleanup` needs: the session id (container label, work dir). Every other parameter
 * of the document is optional for SSM (default ''), and the runner requires only what the action
 * uses. expiresAt goes along for the host's log and the command's record in SSM.
 */
export function cleanupValues(
  state: { sessionId: string; launch?: Pick<LaunchInfo, 'expiresAt'> },
  nowMs: number,
): HostParamValues {
  return {
    action: 'cleanup',
    sessionId: state.sessionId,
    expiresAt: String(state.launch?.expiresAt ?? Math.floor(nowMs / 1000)),
    executionTimeout: String(CLEANUP_TIMEOUT_SECONDS),
  };
}

async function bestEffort(call: string, send: () => Promise<unknown>): Promise<void> {
  try {
    await awsCall(call, send);
  } catch (error) {
    logger.warn(`cleanup: ${call} failed; the original error is reported instead`, { error });
  }
}
