import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { DebugTaskError } from '../domain/errors';
import { awsCall, type ErrorOverride } from './aws-errors';
import { ssmClient } from './clients';

/**
 * The stack updates the document by adding versions, and CloudFormation does not always make the
 * new one the default (see lib/infra/command-document.ts): ask for the latest explicitly.
 */
export const DOCUMENT_VERSION = '$LATEST';
/** SSM delivery timeout: a command that has not reached the agent within a minute is not worth running late. */
export const DELIVERY_TIMEOUT_SECONDS = 60;
/** A fan-out reaches every host of its call at once, and one failing host never stops the others. */
export const FAN_OUT = { MaxConcurrency: '100%', MaxErrors: '100%' } as const;

export interface RunnerCommand {
  /** DOCUMENT_NAME: our runner document, the only one the functions may send. */
  documentName: string;
  /** One host, or a batch of at most 50 (SendCommand's limit). */
  instanceIds: readonly string[];
  /** The document's parameters, already checked (`commandParameters`). */
  parameters: Record<string, string[]>;
  /** Ties the command to its session in CloudTrail and the SSM console; cut at SSM's 100 characters. */
  comment: string;
  /** Several hosts at once: FAN_OUT. */
  fanOut?: boolean;
  /** The call as errors name it; default `ssm:SendCommand`. */
  call?: string;
  /** SendCommand errors that are about the target rather than AWS (`sendCommandOverride`). */
  override?: ErrorOverride;
}

/** Sends our runner document once (every step that reaches a host does it this way); its command id. */
export async function sendRunner(command: RunnerCommand): Promise<string> {
  const out = await awsCall(
    command.call ?? 'ssm:SendCommand',
    () =>
      ssmClient().send(
        new SendCommandCommand({
          DocumentName: command.documentName,
          DocumentVersion: DOCUMENT_VERSION,
          InstanceIds: [...command.instanceIds],
          Parameters: command.parameters,
          TimeoutSeconds: DELIVERY_TIMEOUT_SECONDS,
          ...(command.fanOut && FAN_OUT),
          Comment: command.comment.slice(0, 100),
        }),
      ),
    command.override,
  );
  const commandId = out.Command?.CommandId;
  if (!commandId) {
    const hosts =
      command.instanceIds.length === 1 ? command.instanceIds[0] : `${command.instanceIds.length} hosts`;
    throw new DebugTaskError('AWS_ERROR', `ssm:SendCommand returned no command id for ${hosts}.`, {
      details: { call: 'ssm:SendCommand', instances: command.instanceIds.length },
    });
  }
  return commandId;
}
