import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { numberEnv, optionalEnv, requireEnv } from '../config';
import { DebugTaskError } from '../domain/errors';
import { HOST_PARAMS, hostParamRegExp, isValidHostParam, type HostParamValues } from '../domain/params';
import { sessionKeys, type ExecutionInput, type LaunchInfo, type ResolvedTarget } from '../domain/session';
import { TOOLS } from '../domain/tools';
import {
  URL_EXTRA_SECONDS,
  partitionOfRoleArn,
  roleSessionName,
  uploadSessionPolicy,
  uploadSessionSeconds,
} from '../domain/upload';
import { assertValidHostParams, commandParameters } from '../host/runner-script';
import { assertLaunchStateShape } from './launch-state';
import { awsCall, type SdkErrorInfo } from './aws-errors';
import { presigningS3Client, ssmClient, stsClient, type SessionCredentials } from './clients';

export { URL_EXTRA_SECONDS } from '../domain/upload';

/** State after Resolve. */
export type LaunchState = ExecutionInput & { target: ResolvedTarget };

/** Seconds after the end of the capture the host gets to compress and upload (the stack's default). */
export const DEFAULT_GRACE_SECONDS = 30;
/** Past expiresAt an upload may still be running (S3 checks the URL at the start of a request only). */
export const UPLOAD_MARGIN_SECONDS = 120;
/**
 * The stack updates the document by adding versions, and CloudFormation does not always make the
 * new one the default (see lib/infra/command-document.ts): ask for the latest explicitly.
 */
export const DOCUMENT_VERSION = '$LATEST';
/** SSM delivery timeout: a command that has not reached the agent within a minute is not worth running late. */
export const DELIVERY_TIMEOUT_SECONDS = 60;
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
    tool: spec.tool,
    durationSeconds: String(spec.durationSeconds),
    maxBytes: String(spec.maxBytes),
    filter: spec.filter,
    iface: spec.iface,
    snaplen: String(spec.snaplen),
    // Only a boolean true lets the host debug a target in the host's network mode.
    allowHostNetwork: spec.allowHostNetwork === true ? 'true' : 'false',
    image,
    expiresAt: String(expiresAt),
    ...hostLimits(),
    // Audit: the runner labels the toolbox container with them and echoes them in its manifest.
    caller: auditValue('caller', state.caller),
    reason: auditValue('reason', spec.reason),
    executionTimeout: String(spec.durationSeconds + grace + EXECUTION_EXTRA_SECONDS),
  };
  // Every value but the URL is checked before any call: a state SSM would refuse costs no AssumeRole.
  assertValidHostParams(values);

  const credentials = await assumeUploadRole({
    roleArn: uploadRoleArn,
    sessionId,
    bucket,
    objectKey,
    durationSeconds: uploadSessionSeconds(spec.durationSeconds, grace),
  });
  const uploadUrl = await presignUpload(
    bucket,
    objectKey,
    urlLifetime(spec.durationSeconds, spec.durationSeconds + grace + URL_EXTRA_SECONDS, credentials, nowMs),
    nowMs,
    credentials,
  );

  const out = await awsCall(
    'ssm:SendCommand',
    () =>
      ssmClient().send(
        new SendCommandCommand({
          DocumentName: documentName,
          DocumentVersion: DOCUMENT_VERSION,
          InstanceIds: [target.instanceId],
          Parameters: commandParameters({ ...values, uploadUrl }),
          TimeoutSeconds: DELIVERY_TIMEOUT_SECONDS,
          Comment: sessionComment(sessionId),
        }),
      ),
    sendCommandOverride(target.instanceId),
  );
  const commandId = out.Command?.CommandId;
  if (!commandId) {
    throw new DebugTaskError('AWS_ERROR', `ssm:SendCommand returned no command id for ${target.instanceId}.`);
  }
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

export interface UploadRoleRequest {
  /** UPLOAD_ROLE_ARN: the stack's upload role, which the launch function's role alone may assume. */
  roleArn: string;
  sessionId: string;
  bucket: string;
  /** The one key the session may write. */
  objectKey: string;
  /** AssumeRole's DurationSeconds (`uploadSessionSeconds`). */
  durationSeconds: number;
}

/**
 * One AssumeRole per session: the upload role, for the session's length, named after the session
 * (CloudTrail's AssumeRole and the upload's PutObject then carry the session id), with a session
 * policy that narrows it to s3:PutObject on exactly the artifact key. No session tags (no
 * sts:TagSession needed).
 */
export async function assumeUploadRole(request: UploadRoleRequest): Promise<SessionCredentials> {
  const partition = partitionOfRoleArn(request.roleArn);
  const sessionName = roleSessionName(request.sessionId);
  const out = await awsCall(
    'sts:AssumeRole',
    () =>
      stsClient().send(
        new AssumeRoleCommand({
          RoleArn: request.roleArn,
          RoleSessionName: sessionName,
          DurationSeconds: request.durationSeconds,
          Policy: uploadSessionPolicy(partition, request.bucket, request.objectKey),
        }),
      ),
    assumeRoleOverride(request.roleArn),
  );
  const c = out.Credentials;
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !(c.Expiration instanceof Date)) {
    throw new DebugTaskError('AWS_ERROR', `sts:AssumeRole returned no credentials for ${request.roleArn}.`, {
      details: { call: 'sts:AssumeRole' },
    });
  }
  return {
    accessKeyId: c.AccessKeyId,
    secretAccessKey: c.SecretAccessKey,
    sessionToken: c.SessionToken,
    expiration: c.Expiration,
  };
}

/**
 * `expiresIn` of the URL: `wanted`, but never past the credentials' expiry (S3 would refuse the URL
 * from then on anyway, whatever it says). Credentials that would not even outlast the capture are
 * refused here, before anything runs on the host.
 */
export function urlLifetime(
  captureSeconds: number,
  wanted: number,
  credentials: Pick<SessionCredentials, 'expiration'>,
  nowMs: number,
): number {
  // The URL is valid from X-Amz-Date (the signing time, to the second) for expiresIn seconds.
  const remaining = Math.floor(credentials.expiration.getTime() / 1000) - Math.floor(nowMs / 1000);
  if (remaining <= captureSeconds) {
    throw new DebugTaskError(
      'AWS_ERROR',
      `The upload role's credentials expire in ${remaining} s, before the capture of ${captureSeconds} s ends: the upload URL would be dead by then.`,
      {
        hint: "STS returned a shorter session than asked for: check the upload role's MaxSessionDuration and the clock of the function.",
        details: {
          call: 'sts:AssumeRole',
          remainingSeconds: remaining,
          expiration: credentials.expiration.toISOString(),
        },
      },
    );
  }
  return Math.min(wanted, remaining);
}

/** AccessDenied on AssumeRole is about the two policies that must name each other. */
export function assumeRoleOverride(roleArn: string) {
  return (info: SdkErrorInfo): DebugTaskError | undefined => {
    if (info.name !== 'AccessDenied' && info.name !== 'AccessDeniedException') return undefined;
    return new DebugTaskError(
      'AWS_ERROR',
      `sts:AssumeRole failed: ${info.name}: ${info.message.slice(0, 300)}`,
      {
        hint:
          `The launch function's role may not assume the upload role ${roleArn} (UPLOAD_ROLE_ARN): the ` +
          "upload role's trust policy must name the launch function's role, and the launch role must be " +
          'allowed sts:AssumeRole on it (both are in the deployed stack); check for an SCP or permission boundary too.',
        details: {
          call: 'sts:AssumeRole',
          awsError: info.name,
          ...(info.httpStatus !== undefined && { httpStatus: info.httpStatus }),
          ...(info.requestId && { requestId: info.requestId }),
        },
      },
    );
  };
}

/**
 * A presigned PUT whose only signed header is `host`: the runner's curl may then send any
 * Content-Type (application/gzip) and Content-Length without breaking the signature. Signed with
 * `credentials` (the upload role's session), so the URL carries its X-Amz-Security-Token.
 */
export async function presignUpload(
  bucket: string,
  key: string,
  expiresIn: number,
  nowMs: number,
  credentials: SessionCredentials,
): Promise<string> {
  const client = presigningS3Client(credentials);
  const url = await awsCall('s3:PutObject (presign)', () =>
    getSignedUrl(client, new PutObjectCommand({ Bucket: bucket, Key: key }), {
      expiresIn,
      signingDate: new Date(nowMs),
    }),
  ).finally(() => client.destroy());
  // The SSM document would refuse it anyway, with a less helpful message, after the command is sent.
  if (!isValidHostParam('uploadUrl', url)) {
    throw new DebugTaskError(
      'AWS_ERROR',
      `The presigned upload URL (${url.length} characters) does not fit the uploadUrl parameter of the SSM document.`,
      {
        hint: `Check BUCKET_NAME and AWS_ENDPOINT_URL_S3 (the upload role's session token is part of the URL too); the URL may have at most ${HOST_PARAMS.uploadUrl.maxChars} characters.`,
        details: { length: url.length, host: safeHost(url) },
      },
    );
  }
  return url;
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

function safeHost(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}
