import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { numberEnv, requireEnv } from '../config';
import { DebugTaskError } from '../domain/errors';
import {
  childSessionId,
  fleetKeys,
  renderPlan,
  type FleetBatch,
  type FleetLaunchInfo,
  type FleetResolutionRecord,
  type FleetTargetRecord,
  type PlanLine,
} from '../domain/fleet';
import { isValidHostParam, type HostParamValues } from '../domain/params';
import type { ExecutionInput } from '../domain/session';
import { isServiceTarget, type ServiceTarget } from '../domain/session-spec';
import { TOOLS } from '../domain/tools';
import { uploadSessionSeconds } from '../domain/upload';
import { assertValidHostParams, commandParameters } from '../host/runner-script';
import { awsCall } from './aws-errors';
import { s3Client } from './clients';
import { sendRunner } from './send-runner';
import { fleetPlan } from './fleet-plan';
import { resolveService, type FleetDeps } from './fleet-resolve';
import {
  DEFAULT_GRACE_SECONDS,
  DELIVERY_TIMEOUT_SECONDS,
  EXECUTION_EXTRA_SECONDS,
  UPLOAD_MARGIN_SECONDS,
  URL_EXTRA_SECONDS,
  captureValues,
  sendCommandOverride,
  sessionComment,
} from './launch';
import { assumeUploadRole, presignUpload, urlLifetime } from './upload-url';

/**
 * A fleet session's launch, in two steps of the state machine (docs/ARCHITECTURE.md, "Fleet sessions"):
 *
 * - FleetPlan (`planFleet`, once): resolve the service's tasks (batched: lib/steps/fleet-resolve.ts),
 *   presign one upload URL per target with ONE upload-role session whose policy allows the fleet's
 *   children keys only, write one plan object per SendCommand batch and the resolution record to
 *   S3, and put a small summary in the state (`$.fleet`): 1,000 targets' URLs are megabytes, far
 *   over Step Functions' 256 KiB state, so they travel in S3 and never through the state or its logs.
 * - LaunchBatch (`launchBatch`, once per batch, inside the Map): presign a GET of the batch's plan and
 *   send the document with `action=fleet` to the batch's hosts (at most 50, SendCommand's limit).
 *
 * Every capture starts at `startAt` (synchronized start): FleetPlan sets it FLEET_START_LEAD_SECONDS
 * ahead, time enough for every batch to be sent and every host to check its targets first.
 */

/** Default lead of the synchronized start: Map iterations, SendCommand delivery, the hosts' checks. */
export const DEFAULT_START_LEAD_SECONDS = 15;
/** The plan URL is read once, right when the runner starts; a delivery timeout later it is useless. */
export const PLAN_URL_SECONDS = DELIVERY_TIMEOUT_SECONDS + 240;

export interface FleetPlanDeps extends FleetDeps {
  now?: () => number;
}

export async function planFleet(state: ExecutionInput, deps: FleetPlanDeps = {}): Promise<FleetLaunchInfo> {
  const target = serviceTargetOf(state);
  const bucket = requireEnv('BUCKET_NAME');
  const uploadRoleArn = requireEnv('UPLOAD_ROLE_ARN');
  const grace = Math.floor(numberEnv('GRACE_SECONDS', DEFAULT_GRACE_SECONDS));
  const lead = Math.floor(numberEnv('FLEET_START_LEAD_SECONDS', DEFAULT_START_LEAD_SECONDS));
  const { sessionId, spec } = state;

  const resolution = await resolveService(
    {
      cluster: target.cluster,
      service: target.service,
      maxTasks: target.maxTasks,
      ...(target.container !== undefined && { container: target.container }),
    },
    deps,
  );

  const nowMs = (deps.now ?? Date.now)();
  const startAt = Math.floor(nowMs / 1000) + lead;
  const expiresAt = startAt + spec.durationSeconds + grace;
  const deadline = expiresAt + UPLOAD_MARGIN_SECONDS;
  const extension = TOOLS[spec.tool].extension;

  const records: FleetTargetRecord[] = resolution.targets.map((t, index) => {
    const childId = childSessionId(sessionId, index);
    return {
      index,
      sessionId: childId,
      taskArn: t.taskArn,
      container: t.container.name,
      instanceId: t.instanceId,
      key: fleetKeys.childArtifact(sessionId, childId, extension),
    };
  });

  // One role session for the whole fleet, limited to its children's keys; each URL names one key.
  const captureSeconds = lead + spec.durationSeconds;
  const credentials = await assumeUploadRole({
    roleArn: uploadRoleArn,
    sessionId,
    bucket,
    objectKey: `${fleetKeys.childrenPrefix(sessionId)}*`,
    durationSeconds: uploadSessionSeconds(captureSeconds, grace),
  });
  const expiresIn = urlLifetime(
    captureSeconds,
    captureSeconds + grace + URL_EXTRA_SECONDS,
    credentials,
    nowMs,
  );
  const urls = await Promise.all(
    records.map((r) => presignUpload(bucket, r.key, expiresIn, nowMs, credentials)),
  );

  const hosts = fleetPlan(resolution.targets);
  const byInstance = new Map<string, PlanLine[]>();
  records.forEach((r, i) => {
    const line = {
      instanceId: r.instanceId,
      childSessionId: r.sessionId,
      containerId: resolution.targets[i].container.runtimeId,
      artifactUrl: urls[i],
      // Plan v2: the lead's steps presign each child's manifest here (host side: lib/host/runner/).
      manifestUrl: '',
    };
    byInstance.set(r.instanceId, [...(byInstance.get(r.instanceId) ?? []), line]);
  });
  const batches: FleetBatch[] = hosts.sendCommands.map((instanceIds, batch) => ({ batch, instanceIds }));

  const record: FleetResolutionRecord = {
    v: 1,
    sessionId,
    cluster: target.cluster,
    clusterArn: resolution.clusterArn,
    service: resolution.service,
    maxTasks: resolution.maxTasks,
    listed: resolution.listed,
    leftOut: resolution.leftOut,
    targets: records,
    skipped: resolution.skipped,
    calls: resolution.calls,
  };
  await Promise.all([
    putJson(bucket, fleetKeys.resolution(sessionId), record),
    ...batches.map((b) =>
      putObject(
        bucket,
        fleetKeys.plan(sessionId, b.batch),
        renderPlan(b.instanceIds.flatMap((id) => byInstance.get(id) ?? [])),
        'text/tab-separated-values',
      ),
    ),
  ]);

  return {
    bucket,
    startAt,
    expiresAt,
    deadline,
    batches,
    counts: {
      listed: resolution.listed,
      targets: records.length,
      skipped: resolution.skipped.length,
      leftOut: resolution.leftOut,
    },
    cluster: target.cluster,
    service: resolution.service,
  };
}

/** The state of one Map iteration: the execution's input and plan summary, and its batch. */
export type BatchState = ExecutionInput & { fleet: FleetLaunchInfo; batch: FleetBatch };

export interface BatchCommand {
  commandId: string;
  /** ISO time SendCommand returned. */
  sentAt: string;
}

export async function launchBatch(
  state: BatchState,
  deps: { now?: () => number } = {},
): Promise<BatchCommand> {
  const documentName = requireEnv('DOCUMENT_NAME');
  const image = requireEnv('TOOLBOX_IMAGE');
  const grace = Math.floor(numberEnv('GRACE_SECONDS', DEFAULT_GRACE_SECONDS));
  const { sessionId, spec, fleet, batch } = state;
  const now = deps.now ?? Date.now;

  const values: HostParamValues = {
    action: 'plan',
    sessionId,
    ...captureValues(state, image),
    startAt: String(fleet.startAt),
    expiresAt: String(fleet.expiresAt),
    executionTimeout: String(
      Math.max(1, fleet.startAt - Math.floor(now() / 1000)) +
        spec.durationSeconds +
        grace +
        EXECUTION_EXTRA_SECONDS,
    ),
  };
  assertValidHostParams(values);

  const planUrl = await presignPlan(fleet.bucket, fleetKeys.plan(sessionId, batch.batch));
  // One host failing never stops the others; a batch is at most 50 hosts, all at once.
  const commandId = await sendRunner({
    documentName,
    instanceIds: batch.instanceIds,
    parameters: commandParameters({ ...values, planUrl }),
    comment: sessionComment(sessionId),
    fanOut: true,
    override: sendCommandOverride(
      batch.instanceIds.length === 1 ? batch.instanceIds[0] : `${batch.instanceIds.length} hosts`,
    ),
  });
  return { commandId, sentAt: new Date(now()).toISOString() };
}

/** The function's own credentials sign the plan's GET: it is read seconds after, never later. */
async function presignPlan(bucket: string, key: string): Promise<string> {
  const url = await awsCall('s3:GetObject (presign)', () =>
    getSignedUrl(s3Client(), new GetObjectCommand({ Bucket: bucket, Key: key }), {
      expiresIn: PLAN_URL_SECONDS,
    }),
  );
  if (!isValidHostParam('planUrl', url)) {
    throw new DebugTaskError(
      'AWS_ERROR',
      `The presigned plan URL (${url.length} characters) does not fit the planUrl parameter.`,
      {
        hint: 'Check BUCKET_NAME and AWS_ENDPOINT_URL_S3.',
      },
    );
  }
  return url;
}

function serviceTargetOf(state: ExecutionInput): ServiceTarget {
  if (!isServiceTarget(state.spec.target)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      'FleetPlan takes a service target; this execution names one task.',
    );
  }
  return state.spec.target;
}

async function putJson(bucket: string, key: string, value: unknown): Promise<void> {
  await putObject(bucket, key, JSON.stringify(value), 'application/json');
}

async function putObject(bucket: string, key: string, body: string, contentType: string): Promise<void> {
  await awsCall('s3:PutObject', () =>
    s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType })),
  );
}
