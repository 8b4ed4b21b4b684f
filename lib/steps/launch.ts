import { audit } from '../audit/audit';
import { numberEnv, optionalEnv, requireEnv } from '../config';
import { renderPlan, type PlanLine } from '../domain/host-plan';
import { presignedUrlFitting, type HostParamValues } from '../domain/params';
import {
  DEFAULT_GRACE_SECONDS,
  runKeys,
  sessionKeys,
  type BatchCommand,
  type BatchState,
  type PlanRecord,
} from '../domain/session';
import { TOOLS } from '../domain/tools';
import { URL_EXTRA_SECONDS, uploadSessionSeconds } from '../domain/upload';
import { presignGet } from '../aws/s3-presign';
import {
  DELIVERY_TIMEOUT_SECONDS,
  EXECUTION_EXTRA_SECONDS,
  auditValue,
  captureValues,
  pinnedDocument,
  sendCommandOverride,
  sendRunner,
  sessionComment,
} from '../session/host-command';
import { getJson, putText } from '../session/store';
import { assumeUploadRole, uploadPresigner, urlLifetime } from '../session/upload';

/** The plan URL is read once, right when the runner starts; a delivery timeout later it is useless. */
export const PLAN_URL_SECONDS = DELIVERY_TIMEOUT_SECONDS + 240;

export interface LaunchDeps {
  /** Milliseconds since the epoch; injectable so tests can fix the time. */
  now?: () => number;
}

/**
 * Launch, once per batch of at most 50 hosts (an iteration of the Map): presign each child's uploads,
 * write the batch's host plan, and send the runner to the batch's hosts in one SendCommand.
 *
 * The upload URLs are minted here, right before the command, because a presigned URL dies with the
 * credentials that signed it (DESIGN.md section 6): they are signed with a session of the upload role
 * made for this batch (`assumeUploadRole`), which lasts as long as the session and may write only
 * the session's children's keys, not with the function's own credentials. They travel to the hosts
 * in the plan object (SendCommand gives every host of a call the same parameters), never through
 * the state or its logs.
 */
export async function launchBatch(state: BatchState, deps: LaunchDeps = {}): Promise<BatchCommand> {
  // The pinned document first: a deployment without it writes and sends nothing.
  pinnedDocument();
  const uploadRoleArn = requireEnv('UPLOAD_ROLE_ARN');
  const grace = Math.floor(numberEnv('GRACE_SECONDS', DEFAULT_GRACE_SECONDS));
  const now = deps.now ?? Date.now;
  const nowMs = now();
  const { sessionId, spec, plan, batch } = state;
  const keys = runKeys({ sessionId, reupload: plan.reupload });

  const values = hostValues(state, nowMs, grace);
  const record = await getJson<PlanRecord>(plan.bucket, keys.plan);
  const hosts = new Set(batch.instanceIds);
  const targets = record.targets.filter((t) => hosts.has(t.instanceId));

  // One role session for the batch, limited to the session's children's keys; each URL names one key.
  const captureSeconds =
    Math.max(0, (plan.startAt ?? Math.floor(nowMs / 1000)) - Math.floor(nowMs / 1000)) +
    (plan.reupload ? 0 : spec.durationSeconds);
  const credentials = await assumeUploadRole({
    roleArn: uploadRoleArn,
    sessionId,
    bucket: plan.bucket,
    objectKeys: targets.map((t) => `${sessionKeys.childrenPrefix(sessionId)}${t.sessionId}/*`),
    fallbackKey: `${sessionKeys.childrenPrefix(sessionId)}*`,
    durationSeconds: uploadSessionSeconds(captureSeconds, grace),
    keyArn: optionalEnv('ARTIFACT_KEY_ARN', '') || undefined,
  });
  const expiresIn = urlLifetime(
    captureSeconds,
    captureSeconds + grace + URL_EXTRA_SECONDS,
    credentials,
    nowMs,
  );
  const extension = TOOLS[spec.tool].extension;
  // One presigning client for the batch's URLs (up to 100: an artifact and a manifest per host).
  const presigner = uploadPresigner(credentials);
  const lines: PlanLine[] = await Promise.all(
    targets.map(async (t) => {
      const manifestKey = plan.reupload
        ? sessionKeys.childReuploadManifest(t.sessionId, plan.reupload.id)
        : sessionKeys.childManifest(t.sessionId);
      // --follow: a form for the child's chunks too, signed only when the session asks for it.
      const follow = spec.follow && !plan.reupload;
      const [artifactUrl, manifestUrl, chunkUrl] = await Promise.all([
        presigner.presign(plan.bucket, sessionKeys.childArtifact(t.sessionId, extension), expiresIn, nowMs),
        presigner.presign(plan.bucket, manifestKey, expiresIn, nowMs),
        follow
          ? presigner.presignChunks(plan.bucket, sessionKeys.childChunks(t.sessionId), expiresIn)
          : undefined,
      ]);
      return {
        instanceId: t.instanceId,
        childSessionId: t.sessionId,
        containerId: t.containerId,
        artifactUrl,
        manifestUrl,
        ...(chunkUrl && { chunkUrl }),
      };
    }),
  ).finally(() => presigner.destroy());
  const planKey = keys.hostPlan(batch.batch);
  // Signed while the plan is written (a URL does not need its object); sent once both are done.
  const [, planUrl] = await Promise.all([
    putText(plan.bucket, planKey, renderPlan(lines), 'text/tab-separated-values'),
    presignPlan(plan.bucket, planKey),
  ]);

  const commandId = await sendRunner({
    instanceIds: batch.instanceIds,
    values: { ...values, planUrl },
    comment: sessionComment(sessionId, plan.reupload ? 'reupload' : ''),
    override: sendCommandOverride(batch.instanceIds),
  });
  audit.session({
    type: 'session.started',
    sessionId,
    commandId,
    batch: batch.batch,
    instanceIds: batch.instanceIds,
    children: targets.map((t) => t.sessionId),
  });
  return { commandId, sentAt: new Date(now()).toISOString() };
}

/** The document's parameters for this batch: the same for every host of the call. */
function hostValues(state: BatchState, nowMs: number, grace: number): HostParamValues {
  const { sessionId, spec, plan } = state;
  const nowSeconds = Math.floor(nowMs / 1000);
  if (plan.reupload) {
    return {
      action: 'reupload',
      sessionId,
      tool: spec.tool,
      caller: auditValue('caller', state.caller),
      expiresAt: String(plan.expiresAt),
      executionTimeout: String(Math.max(60, plan.expiresAt - nowSeconds)),
    };
  }
  const lead = Math.max(0, (plan.startAt ?? nowSeconds) - nowSeconds);
  return {
    action: 'plan',
    sessionId,
    ...captureValues(state, requireEnv('TOOLBOX_IMAGE')),
    ...(plan.startAt !== undefined && { startAt: String(plan.startAt) }),
    expiresAt: String(plan.expiresAt),
    executionTimeout: String(lead + spec.durationSeconds + grace + EXECUTION_EXTRA_SECONDS),
  };
}

/** The function's own credentials sign the plan's GET: it is read seconds after, never later. */
async function presignPlan(bucket: string, key: string): Promise<string> {
  const url = await presignGet(bucket, key, PLAN_URL_SECONDS);
  return presignedUrlFitting('planUrl', url, 'plan URL', 'BUCKET_NAME and AWS_ENDPOINT_URL_S3');
}
