import { numberEnv, optionalEnv, requireEnv } from '../config';
import { DebugTaskError } from '../domain/errors';
import { HOST_PARAMS, hostParamRegExp, isValidHostParam, type HostParamValues } from '../domain/params';
import {
  DEFAULT_GRACE_SECONDS,
  sessionKeys,
  type ExecutionInput,
  type LaunchInfo,
  type ResolvedTarget,
} from '../domain/session';
import { TOOLS } from '../domain/tools';
import { URL_EXTRA_SECONDS, uploadSessionSeconds } from '../domain/upload';
import { assertValidHostParams, commandParameters } from '../host/runner-script';
import { assertLaunchStateShape } from './launch-state';
import { sendRunner } from './send-runner';
import { sessionUploadUrl } from './upload-url';

export { URL_EXTRA_SECONDS } from '../domain/upload';
// The upload role's code is shared with the api's re-upload (lib/steps/upload-url.ts).
export {
  assumeRoleOverride,
  assumeUploadRole,
  presignUpload,
  urlLifetime,
  type UploadRoleRequest,
} from './upload-url';

/** State after Resolve. */
export type LaunchState = ExecutionInput & { target: ResolvedTarget };

export { DEFAULT_GRACE_SECONDS };
/** Past expiresAt an upload may still be running (S3 checks the URL at the start of a request only). */
export const UPLOAD_MARGIN_SECONDS = 120;
// Shared by every step that sends the runner (lib/steps/send-runner.ts).
export { DELIVERY_TIMEOUT_SECONDS, DOCUMENT_VERSION } from './send-runner';
/** SSM execution timeout past duration + grace: the third time box, after the tool's and the watchdog's. */
export const EXECUTION_EXTRA_SECONDS = 60;

export interface LaunchDeps {
  /** Milliseconds since the epoch; injectable so tests can fix the time. */
  now?: () => number;
}

/**
 * Launch: presign the artifact upload, then start the runner on the host with SendCommand.
 *
 * The URL is minted here, right before the command, because a presigned URL dies with the
 * credentials that signed it (see DESIGN.md section 6): it is signed with a session of the upload
 * role made for this session (`assumeUploadRole`), which lasts as long as the session and may write
 * only its artifact key, not with the function's own credentials.
 */
export async function launchSession(state: LaunchState, deps: LaunchDeps = {}): Promise<LaunchInfo> {
  assertLaunchStateShape(state);
  const bucket = requireEnv('BUCKET_NAME');
  const documentName = requireEnv('DOCUMENT_NAME');
  const image = requireEnv('TOOLBOX_IMAGE');
  const uploadRoleArn = requireEnv('UPLOAD_ROLE_ARN');
  const grace = Math.floor(numberEnv('GRACE_SECONDS', DEFAULT_GRACE_SECONDS));
  const { sessionId, spec, target } = state;

  const now = deps.now ?? Date.now;
  const nowMs = now();
  const nowSeconds = Math.floor(nowMs / 1000);
  const expiresAt = nowSeconds + spec.durationSeconds + grace;
  const deadline = expiresAt + UPLOAD_MARGIN_SECONDS;
  const objectKey = sessionKeys.artifact(sessionId, TOOLS[spec.tool].extension);

  const values: HostParamValues = {
    action: 'run',
    sessionId,
    containerId: target.container.runtimeId,
    ...captureValues(state, image),
    expiresAt: String(expiresAt),
    executionTimeout: String(spec.durationSeconds + grace + EXECUTION_EXTRA_SECONDS),
  };
  // Every value but the URL is checked before any call: a state SSM would refuse costs no AssumeRole.
  assertValidHostParams(values);

  const uploadUrl = await sessionUploadUrl({
    roleArn: uploadRoleArn,
    sessionId,
    bucket,
    objectKey,
    roleSeconds: uploadSessionSeconds(spec.durationSeconds, grace),
    urlSeconds: spec.durationSeconds + grace + URL_EXTRA_SECONDS,
    // The URL must outlive the capture: the host uploads once it has ended.
    mustOutliveSeconds: spec.durationSeconds,
    nowMs,
  });

  const commandId = await sendRunner({
    documentName,
    instanceIds: [target.instanceId],
    parameters: commandParameters({ ...values, uploadUrl }),
    comment: sessionComment(sessionId),
    override: sendCommandOverride(target.instanceId),
  });
  return {
    commandId,
    instanceId: target.instanceId,
    bucket,
    objectKey,
    // When the command left, for the poll schedule; the deadlines above count from before, which is safer.
    startedAt: new Date(now()).toISOString(),
    deadline,
    expiresAt,
  };
}

/**
 * What every capture on a host is told, whoever sends it (Launch for one task, LaunchBatch for a
 * fleet's children): the tool and its arguments, the image, the deployment's limits, the audit.
 */
export function captureValues(state: ExecutionInput, image: string): HostParamValues {
  const { spec } = state;
  return {
    tool: spec.tool,
    durationSeconds: String(spec.durationSeconds),
    maxBytes: String(spec.maxBytes),
    filter: spec.filter,
    iface: spec.iface,
    snaplen: String(spec.snaplen),
    // Only a boolean true lets the host debug a target in the host's network mode.
    allowHostNetwork: spec.allowHostNetwork === true ? 'true' : 'false',
    // Only a boolean true lets the host debug a target in the host's pid namespace.
    allowHostPid: spec.allowHostPid === true ? 'true' : 'false',
    image,
    ...hostLimits(),
    // Audit: the runner labels the toolbox container with them and echoes them in its manifest.
    caller: auditValue('caller', state.caller),
    reason: auditValue('reason', spec.reason),
  };
}

/** Toolbox limits of this deployment; an unset variable leaves the runner's own default. */
export function hostLimits(): Pick<HostParamValues, 'cpus' | 'memoryMb' | 'pidsLimit' | 'maxSessions'> {
  return {
    cpus: optionalEnv('HOST_CPUS', HOST_PARAMS.cpus.default),
    memoryMb: optionalEnv('HOST_MEMORY_MB', HOST_PARAMS.memoryMb.default),
    pidsLimit: optionalEnv('HOST_PIDS_LIMIT', HOST_PARAMS.pidsLimit.default),
    maxSessions: optionalEnv('HOST_MAX_SESSIONS', HOST_PARAMS.maxSessions.default),
  };
}

/**
 * The caller's IAM ARN and the reason as their host parameters take them. An ARN always fits, and
 * the API accepts only reasons that fit; anything else (an unusual principal, an execution started
 * some other way) is made to fit rather than refused, since the labels are for audit only:
 * characters outside the pattern become `_`, and the value is cut at the length limit. The audit
 * record in S3 (manifest.json) keeps both exactly as the execution received them.
 */
export function auditValue(name: 'caller' | 'reason', given: string | undefined): string {
  const value = given ?? '';
  if (isValidHostParam(name, value)) return value;
  // One character at a time against the parameter's own pattern: no second copy of it here.
  const allowed = hostParamRegExp(name);
  return [...value]
    .map((ch) => (allowed.test(ch) ? ch : '_'))
    .join('')
    .slice(0, HOST_PARAMS[name].maxChars);
}

/** SendCommand's Comment (at most 100 characters) ties the command to the session in CloudTrail. */
export function sessionComment(sessionId: string): string {
  return `debug-task ${sessionId}`.slice(0, 100);
}

/** SendCommand errors that are about the target, not about AWS: the user can act on those. */
export function sendCommandOverride(instanceId: string) {
  return (info: { name: string; message: string }): DebugTaskError | undefined => {
    if (info.name === 'InvalidInstanceId') {
      return new DebugTaskError(
        'SSM_AGENT_OFFLINE',
        `SSM cannot send a command to ${instanceId} (InvalidInstanceId: ${info.message.slice(0, 200)}).`,
        {
          hint: 'The instance is stopped, no longer managed, or its agent is not connected: `debug-task doctor TASK` checks it.',
          details: { instanceId },
        },
      );
    }
    if (info.name === 'UnsupportedPlatformType') {
      return new DebugTaskError(
        'PLATFORM_UNSUPPORTED',
        `SSM refuses the runner on ${instanceId}: ${info.message.slice(0, 200)}.`,
        {
          details: { instanceId },
        },
      );
    }
    return undefined;
  };
}
