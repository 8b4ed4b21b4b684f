import { numberEnv } from '../config';
import { DEFAULT_LIMITS, type SessionLimits } from '../domain/session-spec';

/**
 * The deployment's session limits, as the stack hands them to the functions that validate a
 * request (the api function's routes, the plan function's preview, the doctor function's doctor): one reading of them.
 */
export function sessionLimitsFromEnv(): SessionLimits {
  return {
    maxDurationSeconds: numberEnv('MAX_DURATION_SECONDS', DEFAULT_LIMITS.maxDurationSeconds),
    maxBytes: numberEnv('MAX_BYTES', DEFAULT_LIMITS.maxBytes),
    maxRingSeconds: numberEnv('MAX_RING_SECONDS', DEFAULT_LIMITS.maxRingSeconds),
  };
}
