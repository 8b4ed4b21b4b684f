import { DebugTaskError } from '../domain/errors';
import {
  childSessionId,
  type ChildResult,
  type ExecutionInput,
  type HostBatch,
  type PlanInfo,
  type PlanRecord,
  type PlanTarget,
} from '../domain/session';
import { sendCommandBatches } from './batches';
import { UPLOAD_MARGIN_SECONDS } from './host-command';
import type { Resolution } from './targets';

/**
 * The plan of a session: its targets (each a child `<id>-NNNN`), the hosts they run on in batches
 * of at most 50 (one SendCommand each), and its clock. Pure: Plan (lib/steps/plan.ts) writes the
 * record to S3 and puts the summary (PlanInfo) in the state.
 */

export interface PlanClock {
  nowMs: number;
  /** Seconds after the capture for compressing and uploading (GRACE_SECONDS). */
  graceSeconds: number;
  /**
   * How far ahead of now every capture of a service starts (FLEET_START_LEAD_SECONDS), so that all
   * hosts capture the same window. A one-task session starts at once.
   */
  startLeadSeconds: number;
}

/** How long a host keeps trying to re-upload a kept artifact before it is given up on. */
export const REUPLOAD_SECONDS = 3600;

export function capturePlan(
  input: ExecutionInput,
  resolution: Resolution,
  bucket: string,
  clock: PlanClock,
): { record: PlanRecord; info: PlanInfo } {
  const targets: PlanTarget[] = resolution.targets.map((t, index) => ({
    index,
    sessionId: childSessionId(input.sessionId, index),
    taskArn: t.taskArn,
    clusterArn: t.clusterArn,
    container: t.container.name,
    containerId: t.container.runtimeId,
    instanceId: t.instanceId,
    platform: t.platform,
    service: t.service,
    tags: t.tags,
    ...(t.launchType && { launchType: t.launchType }),
    ...(t.networkMode && { networkMode: t.networkMode }),
  }));
  const nowSeconds = Math.floor(clock.nowMs / 1000);
  const startAt = resolution.kind === 'service' ? nowSeconds + clock.startLeadSeconds : undefined;
  const expiresAt = (startAt ?? nowSeconds) + input.spec.durationSeconds + clock.graceSeconds;
  const record: PlanRecord = {
    v: 2,
    sessionId: input.sessionId,
    kind: resolution.kind,
    clusterArn: resolution.clusterArn,
    ...(resolution.service !== undefined && { service: resolution.service }),
    listed: resolution.listed,
    maxTasks: resolution.maxTasks,
    leftOut: resolution.leftOut,
    targets,
    skipped: resolution.skipped,
    calls: resolution.calls,
  };
  return {
    record,
    info: {
      kind: resolution.kind,
      bucket,
      ...(startAt !== undefined && { startAt }),
      expiresAt,
      deadline: expiresAt + UPLOAD_MARGIN_SECONDS,
      batches: hostBatches(targets),
      ...(input.reupload && { reupload: input.reupload }),
      counts: {
        listed: resolution.listed,
        targets: targets.length,
        skipped: resolution.skipped.length,
        leftOut: resolution.leftOut,
      },
    },
  };
}

/**
 * The plan of a re-upload: the children of `session` named by the request whose upload failed, on
 * the hosts that keep their artifacts. A child that did not end UPLOAD_FAILED has nothing to
 * upload again: the request is refused naming it.
 */
export function reuploadPlan(
  input: ExecutionInput,
  session: { kind: PlanRecord['kind']; clusterArn: string; service?: string; children: ChildResult[] },
  bucket: string,
  nowMs: number,
): { record: PlanRecord; info: PlanInfo } {
  const wanted = new Set(input.reupload?.children ?? []);
  const targets: PlanTarget[] = [];
  for (const child of session.children) {
    if (!wanted.has(child.sessionId)) continue;
    if (child.status !== 'FAILED' || child.error?.code !== 'UPLOAD_FAILED') {
      throw new DebugTaskError(
        'INVALID_ARGUMENT',
        `${child.sessionId} cannot be uploaded again: it ended ${child.error?.code ?? child.status}, not UPLOAD_FAILED.`,
      );
    }
    targets.push({
      index: child.index,
      sessionId: child.sessionId,
      taskArn: child.taskArn,
      clusterArn: child.clusterArn,
      container: child.container,
      // Nothing runs next to the container: the host uploads what it kept.
      containerId: '-',
      instanceId: child.instanceId,
    });
  }
  if (targets.length === 0) {
    throw new DebugTaskError('INVALID_ARGUMENT', `No child of ${input.sessionId} was named for a re-upload.`);
  }
  const expiresAt = Math.floor(nowMs / 1000) + REUPLOAD_SECONDS;
  return {
    record: {
      v: 2,
      sessionId: input.sessionId,
      kind: session.kind,
      clusterArn: session.clusterArn,
      ...(session.service !== undefined && { service: session.service }),
      listed: targets.length,
      maxTasks: targets.length,
      leftOut: 0,
      targets,
      skipped: [],
      calls: {},
    },
    info: {
      kind: session.kind,
      bucket,
      expiresAt,
      deadline: expiresAt + UPLOAD_MARGIN_SECONDS,
      batches: hostBatches(targets),
      ...(input.reupload && { reupload: input.reupload }),
      counts: { listed: targets.length, targets: targets.length, skipped: 0, leftOut: 0 },
    },
  };
}

/** The hosts of the targets (first-seen order), at most 50 to a SendCommand. */
export function hostBatches(targets: readonly Pick<PlanTarget, 'instanceId'>[]): HostBatch[] {
  return sendCommandBatches(targets.map((t) => t.instanceId)).map((instanceIds, batch) => ({
    batch,
    instanceIds,
  }));
}
