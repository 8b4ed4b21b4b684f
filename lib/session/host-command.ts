import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { optionalEnv, requireEnv } from '../config';
import { DebugTaskError } from '../domain/errors';
import { HOST_PARAMS, commandParameters, presignedUrlFitting, type HostParamValues } from '../domain/params';
import type { ExecutionInput } from '../domain/session';
import { auditValue, specCaptureValues } from '../domain/capture-values';

export { auditValue };
import { awsCall, type ErrorOverride } from '../aws/errors';
import { presignGet } from '../aws/s3-presign';
import { ssmClient } from '../aws/ssm';
import { pinnedDocument } from './pinned-document';

/**
 * The host command: what every step that reaches a host sends (Launch, Cleanup, the sweeper), and
 * the values a capture is told. One home, so the document version, timeouts and the audit values
 * cannot differ from one sender to the next.
 */

// In a module of its own so that the doctor function (doctor --stack) reads it without the presigner.
export { pinnedDocument, type PinnedDocument } from './pinned-document';

/**
 * How long a runner URL lives: it is read when the command reaches the host, at most the delivery
 * timeout after SendCommand, and only by a host whose cache does not hold that runner yet.
 */
export const RUNNER_URL_SECONDS = 300;

/**
 * A presigned GET of the runner file this deployment ships (RUNNER_BUCKET, RUNNER_KEY: the stack's
 * S3 asset), made per SendCommand with the function's own credentials. The document's bootstrap
 * fetches it only when its cache lacks the runner, and runs it only if its sha256 matches.
 */
export async function presignRunner(): Promise<string> {
  const bucket = requireEnv('RUNNER_BUCKET');
  const key = requireEnv('RUNNER_KEY');
  const url = await presignGet(bucket, key, RUNNER_URL_SECONDS, 's3:GetObject (presign runner)');
  return presignedUrlFitting(
    'runnerUrl',
    url,
    'runner URL',
    'RUNNER_BUCKET, RUNNER_KEY and AWS_ENDPOINT_URL_S3',
  );
}

/** SSM delivery timeout: a command that has not reached the agent within a minute is not worth running late. */
export const DELIVERY_TIMEOUT_SECONDS = 60;
/** A fan-out reaches every host of its call at once, and one failing host never stops the others. */
export const FAN_OUT = { MaxConcurrency: '100%', MaxErrors: '100%' } as const;
/** SSM execution timeout past duration + grace: the third time box, after the tool's and the watchdog's. */
export const EXECUTION_EXTRA_SECONDS = 60;
/** Past expiresAt an upload may still be running (S3 checks the URL at the start of a request only). */
export const UPLOAD_MARGIN_SECONDS = 120;
/** The host's cleanup only removes containers and directories. */
export const CLEANUP_TIMEOUT_SECONDS = 120;

export interface RunnerCommand {
  /** At most 50 hosts (SendCommand's limit). */
  instanceIds: readonly string[];
  /** The document's parameters but runnerUrl; checked here against params.ts before anything is sent. */
  values: HostParamValues;
  /** Ties the command to its session in CloudTrail and the SSM console; cut at SSM's 100 characters. */
  comment: string;
  /** The call as errors name it; default `ssm:SendCommand`. */
  call?: string;
  /** SendCommand errors that are about the target rather than AWS (`sendCommandOverride`). */
  override?: ErrorOverride;
}

/**
 * Sends our document, at the version this deployment pinned, once to up to 50 hosts, with a fresh
 * runner URL; its command id.
 */
export async function sendRunner(command: RunnerCommand): Promise<string> {
  const document = pinnedDocument();
  const parameters = commandParameters({ ...command.values, runnerUrl: await presignRunner() });
  const out = await awsCall(
    command.call ?? 'ssm:SendCommand',
    () =>
      ssmClient().send(
        new SendCommandCommand({
          DocumentName: document.name,
          DocumentVersion: document.version,
          DocumentHash: document.hash,
          DocumentHashType: 'Sha256',
          InstanceIds: [...command.instanceIds],
          Parameters: parameters,
          TimeoutSeconds: DELIVERY_TIMEOUT_SECONDS,
          ...FAN_OUT,
          Comment: command.comment.slice(0, 100),
        }),
      ),
    command.override,
  );
  const commandId = out.Command?.CommandId;
  if (!commandId) {
    throw new DebugTaskError(
      'AWS_ERROR',
      `ssm:SendCommand returned no command id for ${hostsOf(command.instanceIds)}.`,
      {
        details: { call: 'ssm:SendCommand', instances: command.instanceIds.length },
      },
    );
  }
  return commandId;
}

/**
 * What every capture is told (lib/domain/capture-values.ts), with this deployment's toolbox limits
 * and the caller the execution recorded.
 */
export function captureValues(input: ExecutionInput, image: string): HostParamValues {
  return specCaptureValues(input.spec, image, { caller: input.caller, limits: hostLimits() });
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
 * What action `cleanup` needs: the session id (its children's container labels and work dirs).
 * Every other parameter of the document is optional for SSM, and the runner requires only what the
 * action uses. expiresAt goes along for the host's log and the command's record in SSM.
 */
export function cleanupValues(sessionId: string, expiresAt: number): HostParamValues {
  return {
    action: 'cleanup',
    sessionId,
    expiresAt: String(expiresAt),
    executionTimeout: String(CLEANUP_TIMEOUT_SECONDS),
  };
}

/**
 * What action `stop` needs: the session id (a session's id covers its children on the host). The
 * runner ends those captures now and keeps them; it returns at once, so the cleanup's timeout is ample.
 */
export function stopValues(sessionId: string, expiresAt: number): HostParamValues {
  return {
    action: 'stop',
    sessionId,
    expiresAt: String(expiresAt),
    executionTimeout: String(CLEANUP_TIMEOUT_SECONDS),
  };
}

/** SendCommand's Comment (at most 100 characters) ties the command to the session in CloudTrail. */
export function sessionComment(sessionId: string, what = ''): string {
  return `debug-task ${what ? `${what} ` : ''}${sessionId}`.slice(0, 100);
}

/** SendCommand errors that are about the target, not about AWS: the user can act on those. */
export function sendCommandOverride(instanceIds: readonly string[]): ErrorOverride {
  const hosts = hostsOf(instanceIds);
  return (info) => {
    if (info.name === 'InvalidInstanceId') {
      return new DebugTaskError(
        'SSM_AGENT_OFFLINE',
        `SSM cannot send a command to ${hosts} (InvalidInstanceId: ${info.message.slice(0, 200)}).`,
        {
          hint: 'The instance is stopped, no longer managed, or its agent is not connected: `debug-task doctor TASK` checks it.',
          details: { instanceIds: [...instanceIds] },
        },
      );
    }
    if (info.name === 'UnsupportedPlatformType') {
      return new DebugTaskError(
        'PLATFORM_UNSUPPORTED',
        `SSM refuses the runner on ${hosts}: ${info.message.slice(0, 200)}.`,
        {
          details: { instanceIds: [...instanceIds] },
        },
      );
    }
    return undefined;
  };
}

function hostsOf(instanceIds: readonly string[]): string {
  return instanceIds.length === 1 ? instanceIds[0] : `${instanceIds.length} hosts`;
}
