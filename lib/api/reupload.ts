import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetCommandInvocationCommand } from '@aws-sdk/client-ssm';
import type { DescribeExecutionCommandOutput } from '@aws-sdk/client-sfn';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { requireEnv } from '../config';
import { DebugTaskError, fromStepFunctionsFailure, isErrorCode, quoted } from '../domain/errors';
import type { HostParamValues } from '../domain/params';
import {
  sessionKeys,
  type ExecutionInput,
  type ReuploadStarted,
  type ReuploadView,
  type RunnerManifest,
  type SessionResult,
} from '../domain/session';
import { isServiceTarget } from '../domain/session-spec';
import { TOOLS, isToolName } from '../domain/tools';
import { ROLE_CHAINING_MAX_SECONDS } from '../domain/upload';
import { assertValidHostParams, commandParameters } from '../host/runner-script';
import { awsCall, isNotFound, translateAwsError } from '../steps/aws-errors';
import { ssmClient } from '../steps/clients';
import { artifactResult, checkObject, parseManifest } from '../steps/collect';
import { auditValue, sendCommandOverride } from '../steps/launch';
import { sendRunner } from '../steps/send-runner';
import { PLUGIN_NAME, finished, isTerminal } from '../steps/poll';
import { sessionUploadUrl } from '../steps/upload-url';
import { apiClients, type ApiClients } from './clients';
import { DOWNLOAD_URL_SECONDS, call, describe, type ApiConfig } from './sessions';

/**
 * The re-upload of an artifact a failed upload left on its host (issue 3, "no lost capture"),
 * without a long-running Lambda: POST sends the runner's `reupload` action to the host and answers
 * at once; GET follows the command and, once it is done, checks the object and answers its result.
 *
 * Everything comes from the failed execution itself (one DescribeExecution): the UPLOAD_FAILED
 * error that Collect raised carries the host (`instanceId`), where the artifact is kept
 * (`hostPath`) and the target; the input carries the tool, hence the artifact key. The bucket is the
 * deployment's own, never a value read from the execution.
 */

/** The upload role's session (role chaining caps it at one hour) and the URL's lifetime. */
export const REUPLOAD_ROLE_SECONDS = ROLE_CHAINING_MAX_SECONDS;
export const REUPLOAD_URL_SECONDS = ROLE_CHAINING_MAX_SECONDS;
/** A URL that dies sooner than this is refused before anything is sent. */
export const REUPLOAD_MIN_URL_SECONDS = 900;
/** SSM execution timeout of the re-upload: five tries of an artifact up to the deployment's maxBytes. */
export const REUPLOAD_EXECUTION_TIMEOUT_SECONDS = 3600;

const INSTANCE_ID = /^(i|mi)-[0-9a-f]{8,17}$/;
const COMMAND_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface ReuploadDeps {
  clients?: ApiClients;
  now?: () => number;
}

/** What the failed execution says about its kept artifact. */
interface KeptArtifact {
  sessionId: string;
  instanceId: string;
  hostPath: string;
  bucket: string;
  objectKey: string;
  tool: keyof typeof TOOLS;
  input: ExecutionInput;
  target: SessionResult['target'];
}

/** POST /sessions/{id}/reupload */
export async function startReupload(
  sessionId: string,
  caller: string,
  config: ApiConfig,
  deps: ReuploadDeps = {},
): Promise<ReuploadStarted | ReuploadView> {
  const clients = deps.clients ?? apiClients();
  const kept = keptArtifactOf(sessionId, await describe(sessionId, config, clients), config);
  // Already re-uploaded (a second fetch): the record says so, and nothing is left on the host.
  const done = await reuploadRecord(kept, clients);
  if (done) return done;

  const documentName = requireEnv('DOCUMENT_NAME');
  const roleArn = requireEnv('UPLOAD_ROLE_ARN');
  const nowMs = (deps.now ?? Date.now)();
  const values: HostParamValues = {
    action: 'reupload',
    sessionId,
    // For an artifact kept without its facts (an older runner), the manifest still names the tool.
    tool: kept.tool,
    caller: auditValue('caller', caller),
    executionTimeout: String(REUPLOAD_EXECUTION_TIMEOUT_SECONDS),
  };
  assertValidHostParams(values);
  const uploadUrl = await sessionUploadUrl({
    roleArn,
    sessionId,
    bucket: kept.bucket,
    objectKey: kept.objectKey,
    roleSeconds: REUPLOAD_ROLE_SECONDS,
    urlSeconds: REUPLOAD_URL_SECONDS,
    mustOutliveSeconds: REUPLOAD_MIN_URL_SECONDS,
    nowMs,
  });
  const commandId = await sendRunner({
    documentName,
    instanceIds: [kept.instanceId],
    parameters: commandParameters({ ...values, uploadUrl }),
    comment: `debug-task reupload ${sessionId}`,
    override: sendCommandOverride(kept.instanceId),
  });
  return { sessionId, commandId, instanceId: kept.instanceId, status: 'RUNNING' };
}

/** GET /sessions/{id}/reupload/{commandId} */
export async function getReupload(
  sessionId: string,
  commandId: string,
  caller: string,
  config: ApiConfig,
  deps: ReuploadDeps = {},
): Promise<ReuploadView> {
  if (!COMMAND_ID.test(commandId)) {
    throw new DebugTaskError('INVALID_ARGUMENT', `${quoted(commandId, 60)} is not an SSM command id.`, {
      hint: 'Give the commandId that POST /sessions/{id}/reupload answered.',
    });
  }
  const clients = deps.clients ?? apiClients();
  const kept = keptArtifactOf(sessionId, await describe(sessionId, config, clients), config);
  const base = { sessionId, commandId, instanceId: kept.instanceId };

  let invocation;
  try {
    invocation = await ssmClient().send(
      new GetCommandInvocationCommand({
        CommandId: commandId,
        InstanceId: kept.instanceId,
        PluginName: PLUGIN_NAME,
      }),
    );
  } catch (error) {
    const name = (error as { name?: string })?.name;
    // Run Command is eventually consistent: a command just sent may not be known yet.
    if (name === 'InvocationDoesNotExist' || name === 'InvocationDoesNotExistException') {
      return { ...base, status: 'RUNNING', ssmStatus: 'Pending' };
    }
    throw translateAwsError('ssm:GetCommandInvocation', error);
  }
  if (!isTerminal(invocation)) return { ...base, status: 'RUNNING', ssmStatus: invocation.Status };

  const poll = finished(invocation);
  const manifest = parseManifest({ sessionId, poll });
  if (manifest.status !== 'OK') throw reuploadFailure(manifest, kept);
  const artifact = manifest.artifact;
  if (!artifact?.uploaded) {
    throw new DebugTaskError(
      'UPLOAD_FAILED',
      'The host runner reported a re-upload but no uploaded artifact.',
      {
        details: { instanceId: kept.instanceId, commandId },
      },
    );
  }
  await checkObject(kept.bucket, kept.objectKey, artifact.objectBytes);

  const reuploadedAt = new Date((deps.now ?? Date.now)()).toISOString();
  const result: SessionResult = {
    sessionId,
    status: 'SUCCEEDED',
    target: kept.target,
    tool: { ...manifest.tool, name: kept.tool },
    artifact: artifactResult(kept.bucket, kept.objectKey, artifact),
    timings: {
      requestedAt: kept.input.requestedAt,
      hostStartedAt: manifest.timings.startedAt,
      hostEndedAt: manifest.timings.endedAt,
      reuploadedAt,
    },
  };
  // The session's audit record, as Collect writes it for a session whose first upload worked; a
  // later POST finds it and answers at once (the host has nothing left to send).
  await awsCall('s3:PutObject', () =>
    clients.s3.send(
      new PutObjectCommand({
        Bucket: kept.bucket,
        Key: sessionKeys.manifest(sessionId),
        Body: JSON.stringify(
          {
            v: 1,
            sessionId,
            kind: 'reupload',
            caller: kept.input.caller,
            reuploadedBy: caller,
            reason: kept.input.spec.reason ?? null,
            requestedAt: kept.input.requestedAt,
            spec: kept.input.spec,
            reupload: { commandId, instanceId: kept.instanceId, hostPath: kept.hostPath, reuploadedAt },
            runner: manifest,
            result,
          },
          null,
          2,
        ),
        ContentType: 'application/json',
      }),
    ),
  );
  return { ...base, status: 'SUCCEEDED', result, downloadUrl: await downloadUrlOf(kept, clients) };
}

/**
 * Only a FAILED session whose error is UPLOAD_FAILED, with the host and the kept path, has an
 * artifact on a host; everything else is refused, saying why.
 */
function keptArtifactOf(
  sessionId: string,
  execution: DescribeExecutionCommandOutput,
  config: ApiConfig,
): KeptArtifact {
  const refuse = (why: string, hint: string, details: Record<string, unknown> = {}) =>
    new DebugTaskError('INVALID_ARGUMENT', `Session ${sessionId} cannot be re-uploaded: ${why}`, {
      hint,
      details: { sessionId, status: execution.status, ...details },
    });
  switch (execution.status) {
    case 'RUNNING':
      throw refuse('it is still running.', `Wait for it to end: \`debug-task status ${sessionId}\`.`);
    case 'SUCCEEDED':
      throw refuse(
        'it SUCCEEDED, so its artifact is already in S3.',
        `Just fetch it: \`debug-task fetch ${sessionId}\` (GET /sessions/${sessionId} has its downloadUrl).`,
      );
    case 'FAILED':
      break;
    default:
      throw refuse(
        `it ended ${execution.status}, before any artifact was kept on its host.`,
        'Nothing was kept: run the capture again.',
      );
  }
  const error = fromStepFunctionsFailure(execution.error, execution.cause);
  if (error.code !== 'UPLOAD_FAILED') {
    throw refuse(
      `it failed with ${error.code}, not UPLOAD_FAILED, so no artifact was kept on its host (${error.message.slice(0, 300)}).`,
      error.hint,
      { code: error.code },
    );
  }
  const details = error.details ?? {};
  const instanceId = typeof details.instanceId === 'string' ? details.instanceId : '';
  const hostPath = typeof details.hostPath === 'string' ? details.hostPath : '';
  if (!INSTANCE_ID.test(instanceId) || !hostPath) {
    throw refuse(
      'its upload failed, but the host reported no kept artifact (the object in S3 did not match what the host sent, or the host is unknown).',
      'Nothing was kept on the host: run the capture again.',
      { code: error.code },
    );
  }
  let input: ExecutionInput;
  try {
    input = JSON.parse(execution.input ?? '') as ExecutionInput;
  } catch (cause) {
    throw new DebugTaskError('AWS_ERROR', `The execution of session ${sessionId} has no readable input.`, {
      cause,
    });
  }
  const tool = input?.spec?.tool;
  if (!isToolName(tool) || !input.spec.target) {
    throw new DebugTaskError(
      'AWS_ERROR',
      `The execution of session ${sessionId} names no tool of the catalog.`,
    );
  }
  const objectKey = sessionKeys.artifact(sessionId, TOOLS[tool].extension);
  // The host keeps `<work root>/<session>/artifact.<ext>.gz`: the key's own file name.
  if (!hostPath.endsWith(`/${sessionId}/${objectKey.slice(objectKey.lastIndexOf('/') + 1)}`)) {
    throw refuse(
      `the host reported an unexpected kept path ${quoted(hostPath, 200)}.`,
      'Copy the artifact from the host by hand.',
    );
  }
  const spec = input.spec.target;
  const target = isServiceTarget(spec) ? undefined : spec;
  const text = (name: string, fallback: string) =>
    typeof details[name] === 'string' ? (details[name] as string) : fallback;
  return {
    sessionId,
    instanceId,
    hostPath,
    bucket: config.bucket,
    objectKey,
    tool,
    input,
    target: {
      taskArn: text('taskArn', target?.task ?? ''),
      clusterArn: text('clusterArn', target?.cluster ?? ''),
      container: text('container', target?.container ?? ''),
      instanceId,
    },
  };
}

/** The audit record a successful re-upload wrote; undefined when there is none. */
async function reuploadRecord(kept: KeptArtifact, clients: ApiClients): Promise<ReuploadView | undefined> {
  let body: string | undefined;
  try {
    const out = await clients.s3.send(
      new GetObjectCommand({ Bucket: kept.bucket, Key: sessionKeys.manifest(kept.sessionId) }),
    );
    body = await out.Body?.transformToString();
  } catch (error) {
    if (isNotFound(error) || (error as { name?: string })?.name === 'NoSuchKey') return undefined;
    throw translateAwsError('s3:GetObject', error);
  }
  let record: { kind?: string; reupload?: { commandId?: string }; result?: SessionResult };
  try {
    record = JSON.parse(body ?? '');
  } catch {
    return undefined;
  }
  if (record?.kind !== 'reupload' || !record.result?.artifact) return undefined;
  return {
    sessionId: kept.sessionId,
    commandId: record.reupload?.commandId ?? '',
    instanceId: kept.instanceId,
    status: 'SUCCEEDED',
    result: record.result,
    downloadUrl: await downloadUrlOf(kept, clients),
  };
}

function downloadUrlOf(kept: KeptArtifact, clients: ApiClients): Promise<string> {
  return call('s3:GetObject (presign)', () =>
    getSignedUrl(clients.s3, new GetObjectCommand({ Bucket: kept.bucket, Key: kept.objectKey }), {
      expiresIn: DOWNLOAD_URL_SECONDS,
    }),
  );
}

/** The host's own error (ARTIFACT_NOT_ON_HOST, UPLOAD_FAILED again, ...), with where and what next. */
function reuploadFailure(manifest: RunnerManifest, kept: KeptArtifact): DebugTaskError {
  const code = isErrorCode(manifest.error?.code) ? manifest.error.code : 'UPLOAD_FAILED';
  const message = (manifest.error?.message ?? 'The re-upload failed on the host without a message.').slice(
    0,
    1000,
  );
  const hint =
    code === 'UPLOAD_FAILED'
      ? `The artifact is still kept on ${kept.instanceId}: run \`debug-task fetch ${kept.sessionId}\` again once the host can reach S3, or copy ${kept.hostPath} from the host.`
      : undefined;
  return new DebugTaskError(code, message, {
    ...(hint && { hint }),
    details: {
      instanceId: kept.instanceId,
      hostPath: kept.hostPath,
      ...(manifest.error && !isErrorCode(manifest.error.code) && { hostCode: manifest.error.code }),
    },
  });
}
