import { audit } from '../audit/audit';
import { resolvedEvent } from '../audit/session-events';
import { numberEnv, requireEnv } from '../config';
import { DEFAULT_GRACE_SECONDS, runKeys, type ExecutionInput, type PlanInfo } from '../domain/session';
import { capturePlan, reuploadPlan } from '../session/plan';
import { sessionRecordChildren } from '../session/record';
import { putJson } from '../session/store';
import { authorizeCapture, type AuthorizeDeps } from '../session/authorize';
import { resolveTargets, type TargetDeps } from '../session/targets';
import { assertExecutionInput } from './execution-input';

/** Default lead of a service's synchronized start: the Map's iterations, delivery, the hosts' checks. */
export const DEFAULT_START_LEAD_SECONDS = 15;

export interface PlanDeps extends TargetDeps, Omit<AuthorizeDeps, 'ecs'> {
  now?: () => number;
}

/**
 * Plan, the first step of every session: its targets (one task, or every running task of a service,
 * through the same checks), written to S3 as the plan record; the state gets the summary (hosts in
 * batches of 50, the clock), small whatever the number of targets. Nothing has started on a host
 * yet, so a failure here ends the session without a cleanup.
 *
 * A re-upload's plan is the session's own children that ended UPLOAD_FAILED, read from its record.
 */
export async function planSession(input: ExecutionInput, deps: PlanDeps = {}): Promise<PlanInfo> {
  assertExecutionInput(input);
  const bucket = requireEnv('BUCKET_NAME');
  const nowMs = (deps.now ?? Date.now)();
  const keys = runKeys(input);

  if (input.reupload) {
    const session = await sessionRecordChildren(bucket, input.sessionId);
    const { record, info } = reuploadPlan(input, session, bucket, nowMs);
    await putJson(bucket, keys.plan, record);
    audit.session(resolvedEvent(record));
    return info;
  }

  // Resolved first, then decided on what was resolved (the deployment's policy, when it has one).
  const resolution = await authorizeCapture(
    input.spec,
    // A session a trigger started is decided for that trigger (its rule's ARN and its name).
    input.trigger ? { arn: input.caller, trigger: input.trigger } : input.caller,
    await resolveTargets(input.spec, deps),
    { sessionId: input.sessionId, ...deps },
  );
  const { record, info } = capturePlan(input, resolution, bucket, {
    nowMs,
    graceSeconds: Math.floor(numberEnv('GRACE_SECONDS', DEFAULT_GRACE_SECONDS)),
    startLeadSeconds: Math.floor(numberEnv('FLEET_START_LEAD_SECONDS', DEFAULT_START_LEAD_SECONDS)),
  });
  // Both written before Launch runs: the record of which hosts a session reaches exists before
  // anything runs on them. At once (neither needs the other): one round trip off every session's
  // start. A failure of either fails the step, as before (withAudit's flush then has nothing left).
  audit.session(resolvedEvent(record));
  await Promise.all([putJson(bucket, keys.plan, record), audit.flush()]);
  return info;
}
