import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  AwsApiError,
  optionalInteger,
  optionalString,
  optionalStringList,
  requiredString,
  type JsonObject,
  type JsonService,
} from './aws-json-server';
import type { SandboxInstance } from './ecs-api';
import { prepareRunShellScript, resolveParameters, type SsmDocument } from './ssm-document';
import { ScriptProcess } from './ssm-script-process';

/**
 * SSM Run Command over local bash: the one managed instance is this machine, and SendCommand
 * runs the one document the stand-in was given, as the agent would (see ssm-document.ts and
 * ssm-script-process.ts for the two halves).
 */

export interface SsmStandInConfig {
  readonly document: SsmDocument;
  readonly documentName: string;
  /** DEBUG_TASK_HOME of every script run. */
  readonly home: string;
  readonly instance: SandboxInstance;
  readonly platform: { readonly name: string; readonly version: string };
  readonly agentVersion: string;
  /**
   * How the agent passes parameters: `env` (3.3.2746.0 and later: SSM_<name> for ENV_VAR
   * parameters, and `{{ }}` text references substituted) or `text` (older agents: only the text).
   */
  readonly paramMode: 'env' | 'text';
  /** Where each command's `_script.sh`, stdout and stderr are written. */
  readonly workDir: string;
  readonly killGraceMs: number;
  /** GetCommandInvocation answers InvocationDoesNotExist for this long after SendCommand. */
  readonly consistencyDelayMs: number;
}

interface Invocation {
  readonly commandId: string;
  readonly comment: string;
  readonly documentVersion: string;
  readonly requestedAt: Date;
  readonly stepName: string;
  readonly timeoutSeconds: number;
  readonly run: ScriptProcess;
}

/** Variables of the agent's own environment passed on to scripts; nothing else leaks in. */
const INHERITED_ENV = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'DOCKER_HOST'];
const COMMAND_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The one version the stand-in holds of its document: what CloudFormation's first version is. */
export const STANDIN_DOCUMENT_VERSION = '1';

/** The document's hash as SSM reports it (DescribeDocument's Hash): sha256 of its content. */
export function documentHash(document: unknown): string {
  return createHash('sha256').update(JSON.stringify(document)).digest('hex');
}

/** What one SendCommand asked for: the version (and hash) of the document it named. */
export interface DocumentRequest {
  readonly documentVersion: string | undefined;
  readonly documentHash: string | undefined;
  readonly documentHashType: string | undefined;
}

export interface SsmStandIn {
  readonly service: JsonService;
  /** Every SendCommand's document version and hash, in order, refused ones included. */
  readonly documentRequests: DocumentRequest[];
  /** Stops every script still running (SIGTERM, SIGKILL after the grace) and waits for them. */
  stopAll(): Promise<void>;
  /** SIGKILL to every script's process group, synchronously. */
  killAllNow(): void;
}

export function ssmService(config: SsmStandInConfig): SsmStandIn {
  const invocations = new Map<string, Invocation>();
  const documentRequests: DocumentRequest[] = [];
  const hash = documentHash(config.document);
  const { instance } = config;

  const find = (commandId: string, instanceId: string): Invocation => {
    const invocation = invocations.get(commandId);
    const visible = invocation && Date.now() - invocation.requestedAt.getTime() >= config.consistencyDelayMs;
    if (!invocation || !visible || instanceId !== instance.ec2InstanceId) {
      throw new AwsApiError(
        'InvocationDoesNotExist',
        'The command ID and instance ID you specified did not match any invocations. Verify the command ID and the instance ID and try again.',
      );
    }
    return invocation;
  };

  const sendCommand = async (input: JsonObject): Promise<JsonObject> => {
    const documentName = requiredString(input, 'DocumentName');
    if (documentName !== config.documentName && !documentName.endsWith(`:document/${config.documentName}`)) {
      throw new AwsApiError('InvalidDocument', `Document ${documentName} does not exist in your account.`);
    }
    // Stricter than SSM, on purpose: debug-task must name the version its deployment created,
    // never $LATEST or $DEFAULT (which run whatever was added last, or made default, by anyone).
    const requested: DocumentRequest = {
      documentVersion: optionalString(input, 'DocumentVersion'),
      documentHash: optionalString(input, 'DocumentHash'),
      documentHashType: optionalString(input, 'DocumentHashType'),
    };
    documentRequests.push(requested);
    const documentVersion = requested.documentVersion;
    if (documentVersion === undefined || documentVersion === '$LATEST' || documentVersion === '$DEFAULT') {
      throw new AwsApiError(
        'InvalidDocumentVersion',
        `The sandbox refuses DocumentVersion ${documentVersion ?? '(none)'}: name the version the deployment pinned.`,
      );
    }
    if (documentVersion !== STANDIN_DOCUMENT_VERSION) {
      throw new AwsApiError('InvalidDocumentVersion', `Document version ${documentVersion} does not exist.`);
    }
    if (requested.documentHash !== undefined) {
      if ((requested.documentHashType ?? 'Sha256') !== 'Sha256' || requested.documentHash !== hash) {
        throw new AwsApiError('InvalidDocument', 'The document hash does not match the document version.');
      }
    }
    const targets = input.Targets;
    if (Array.isArray(targets) && targets.length > 0) {
      throw new AwsApiError('InvalidTarget', 'The stand-in takes InstanceIds, not Targets.');
    }
    const instanceIds = optionalStringList(input, 'InstanceIds') ?? [];
    if (instanceIds.length === 0) throw new AwsApiError('InvalidInstanceId', 'Specify InstanceIds.');
    if (new Set(instanceIds).size !== instanceIds.length) {
      throw new AwsApiError('DuplicateInstanceId', 'The instance ID list contains duplicates.');
    }
    if (instanceIds.some((id) => id !== instance.ec2InstanceId)) {
      throw new AwsApiError('InvalidInstanceId', 'Instances not in a valid state for account.');
    }
    const comment = optionalString(input, 'Comment') ?? '';
    if (comment.length > 100)
      throw new AwsApiError('ValidationException', 'Comment is longer than 100 characters.');
    const deliveryTimeout = optionalInteger(input, 'TimeoutSeconds', 30, 2_592_000) ?? 3600;

    const values = resolveParameters(config.document, input.Parameters);
    const prepared = prepareRunShellScript(config.document, values, config.paramMode);
    const commandId = randomUUID();
    const requestedAt = new Date();
    const run = await ScriptProcess.start({
      dir: join(config.workDir, commandId, prepared.stepName),
      script: prepared.script,
      env: scriptEnv(prepared.env, config),
      timeoutSeconds: prepared.timeoutSeconds,
      workingDirectory: prepared.workingDirectory,
      killGraceMs: config.killGraceMs,
    });
    invocations.set(commandId, {
      commandId,
      comment,
      documentVersion,
      requestedAt,
      stepName: prepared.stepName,
      timeoutSeconds: prepared.timeoutSeconds,
      run,
    });
    return {
      Command: {
        CommandId: commandId,
        DocumentName: documentName,
        DocumentVersion: documentVersion,
        Comment: comment,
        ExpiresAfter: new Date(requestedAt.getTime() + (deliveryTimeout + prepared.timeoutSeconds) * 1000),
        Parameters: values,
        InstanceIds: instanceIds,
        Targets: [],
        RequestedDateTime: requestedAt,
        Status: 'Pending',
        StatusDetails: 'Pending',
        OutputS3Region: instance.region,
        OutputS3BucketName: '',
        OutputS3KeyPrefix: '',
        MaxConcurrency: '50',
        MaxErrors: '0',
        TargetCount: 1,
        CompletedCount: 0,
        ErrorCount: 0,
        DeliveryTimedOutCount: 0,
        ServiceRole: '',
        NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
        CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
        TimeoutSeconds: deliveryTimeout,
      },
    };
  };

  const invocationShape = (inv: Invocation, withDetails: boolean): JsonObject => {
    const result = inv.run.result;
    const plugin = {
      Name: inv.stepName,
      Status: inv.run.status,
      StatusDetails: result?.statusDetails ?? inv.run.status,
      ResponseCode: result?.responseCode ?? -1,
      ResponseStartDateTime: inv.run.startedAt,
      ...(result && { ResponseFinishDateTime: result.endedAt }),
      // ListCommandInvocations' plugin output is a 2,500-character preview.
      Output: (result?.stdout ?? '').slice(0, 2500),
      StandardOutputUrl: '',
      StandardErrorUrl: '',
      OutputS3Region: instance.region,
      OutputS3BucketName: '',
      OutputS3KeyPrefix: '',
    };
    return {
      CommandId: inv.commandId,
      InstanceId: instance.ec2InstanceId,
      InstanceName: hostname(),
      Comment: inv.comment,
      DocumentName: config.documentName,
      DocumentVersion: inv.documentVersion,
      RequestedDateTime: inv.requestedAt,
      Status: inv.run.status,
      StatusDetails: result?.statusDetails ?? inv.run.status,
      TraceOutput: '',
      StandardOutputUrl: '',
      StandardErrorUrl: '',
      CommandPlugins: withDetails ? [plugin] : [],
      ServiceRole: '',
      NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
      CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
    };
  };

  const service: JsonService = {
    service: 'ssm',
    targetPrefix: 'AmazonSSM',
    internalErrorType: 'InternalServerError',
    actions: {
      DescribeInstanceInformation: (input) => {
        optionalInteger(input, 'MaxResults', 5, 50);
        const list = selectsInstance(input, instance.ec2InstanceId) ? [instanceInformation(config)] : [];
        return { InstanceInformationList: list };
      },

      SendCommand: sendCommand,

      // The one document, at its one version (what `doctor --stack` checks against DOCUMENT_HASH).
      DescribeDocument: (input) => {
        const name = requiredString(input, 'Name');
        const version = optionalString(input, 'DocumentVersion') ?? STANDIN_DOCUMENT_VERSION;
        const ours = name === config.documentName || name.endsWith(`:document/${config.documentName}`);
        if (!ours || !['$LATEST', '$DEFAULT', STANDIN_DOCUMENT_VERSION].includes(version)) {
          throw new AwsApiError('InvalidDocument', `Document ${name} version ${version} does not exist.`);
        }
        return {
          Document: {
            Name: config.documentName,
            DocumentVersion: STANDIN_DOCUMENT_VERSION,
            LatestVersion: STANDIN_DOCUMENT_VERSION,
            DefaultVersion: STANDIN_DOCUMENT_VERSION,
            Hash: hash,
            HashType: 'Sha256',
            Status: 'Active',
            DocumentType: 'Command',
            SchemaVersion: '2.2',
            DocumentFormat: 'JSON',
          },
        };
      },

      GetCommandInvocation: (input) => {
        const commandId = requiredString(input, 'CommandId');
        if (!COMMAND_ID.test(commandId))
          throw new AwsApiError('InvalidCommandId', `${commandId} is not a command id.`);
        const inv = find(commandId, requiredString(input, 'InstanceId'));
        const pluginName = optionalString(input, 'PluginName');
        // SSM wants the step's name here, not the plugin's (aws:runShellScript).
        if (pluginName !== undefined && pluginName !== inv.stepName) {
          throw new AwsApiError('InvalidPluginName', `The plugin name ${pluginName} isn't valid.`);
        }
        const result = inv.run.result;
        const elapsed = ((result?.endedAt.getTime() ?? Date.now()) - inv.run.startedAt.getTime()) / 1000;
        return {
          CommandId: inv.commandId,
          InstanceId: instance.ec2InstanceId,
          Comment: inv.comment,
          DocumentName: config.documentName,
          DocumentVersion: inv.documentVersion,
          PluginName: inv.stepName,
          ResponseCode: result?.responseCode ?? -1,
          ExecutionStartDateTime: inv.run.startedAt.toISOString(),
          ExecutionElapsedTime: `PT${elapsed.toFixed(3)}S`,
          ExecutionEndDateTime: result ? result.endedAt.toISOString() : '',
          Status: inv.run.status,
          StatusDetails: result?.statusDetails ?? inv.run.status,
          // Empty until the command ends, as SSM reports it.
          StandardOutputContent: result?.stdout ?? '',
          StandardOutputUrl: '',
          StandardErrorContent: result?.stderr ?? '',
          StandardErrorUrl: '',
          CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
        };
      },

      CancelCommand: (input) => {
        const commandId = requiredString(input, 'CommandId');
        const inv = invocations.get(commandId);
        if (!inv) throw new AwsApiError('InvalidCommandId', `Command ${commandId} does not exist.`);
        const ids = optionalStringList(input, 'InstanceIds');
        if (ids && ids.some((id) => id !== instance.ec2InstanceId)) {
          throw new AwsApiError('InvalidInstanceId', 'The command was not sent to that instance.');
        }
        inv.run.cancel();
        return {};
      },

      ListCommandInvocations: (input) => {
        const commandId = optionalString(input, 'CommandId');
        const instanceId = optionalString(input, 'InstanceId');
        const maxResults = optionalInteger(input, 'MaxResults', 1, 50) ?? 50;
        const offset = Number(optionalString(input, 'NextToken') ?? '0');
        if (!Number.isInteger(offset) || offset < 0)
          throw new AwsApiError('InvalidNextToken', 'The NextToken is not valid.');
        const details = input.Details === true;
        const all = [...invocations.values()]
          .filter(
            (inv) =>
              (commandId === undefined || inv.commandId === commandId) &&
              (instanceId === undefined || instanceId === instance.ec2InstanceId),
          )
          .sort((a, b) => b.requestedAt.getTime() - a.requestedAt.getTime());
        const page = all.slice(offset, offset + maxResults).map((inv) => invocationShape(inv, details));
        const next = offset + maxResults < all.length ? String(offset + maxResults) : undefined;
        return { CommandInvocations: page, ...(next && { NextToken: next }) };
      },
    },
  };

  return {
    service,
    documentRequests,
    stopAll: async () => {
      await Promise.all([...invocations.values()].map((inv) => inv.run.terminate()));
    },
    killAllNow: () => {
      for (const inv of invocations.values()) inv.run.killNow();
    },
  };
}

/**
 * The script's environment: what the agent's own process has that a script needs (PATH, locale,
 * the engine's address; no HOME, none of this process's AWS settings or credentials), the two
 * variables the agent always adds, the ENV_VAR parameters, and DEBUG_TASK_HOME.
 */
function scriptEnv(params: Record<string, string>, config: SsmStandInConfig): Record<string, string> {
  const inherited = Object.fromEntries(
    INHERITED_ENV.flatMap((name) =>
      process.env[name] === undefined ? [] : [[name, process.env[name] as string]],
    ),
  );
  return {
    ...inherited,
    AWS_SSM_INSTANCE_ID: config.instance.ec2InstanceId,
    AWS_SSM_REGION_NAME: config.instance.region,
    ...params,
    DEBUG_TASK_HOME: config.home,
  };
}

/**
 * Whether the filters (`Filters`, or the legacy `InstanceInformationFilterList`) select the one
 * instance. Filters combine with AND; an unknown instance id just matches nothing.
 */
function selectsInstance(input: JsonObject, instanceId: string): boolean {
  const filters = Array.isArray(input.Filters)
    ? (input.Filters as Array<{ Key?: unknown; Values?: unknown }>)
    : [];
  const legacy = Array.isArray(input.InstanceInformationFilterList)
    ? (input.InstanceInformationFilterList as Array<{ key?: unknown; valueSet?: unknown }>)
    : [];
  if (filters.length && legacy.length) {
    throw new AwsApiError('InvalidFilter', 'Use Filters or InstanceInformationFilterList, not both.');
  }
  const ours: Record<string, string> = {
    InstanceIds: instanceId,
    PingStatus: 'Online',
    PlatformTypes: 'Linux',
    ResourceType: 'EC2Instance',
  };
  let selected = true;
  for (const { key, values } of [
    ...filters.map((f) => ({ key: f.Key, values: f.Values })),
    ...legacy.map((f) => ({ key: f.key, values: f.valueSet })),
  ]) {
    if (typeof key !== 'string' || !Object.hasOwn(ours, key)) {
      throw new AwsApiError(
        'InvalidFilterKey',
        `The filter key ${String(key)} is not supported by the stand-in.`,
      );
    }
    if (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === 'string')) {
      throw new AwsApiError('InvalidFilterValue', `The values of filter ${key} are not valid.`);
    }
    selected &&= values.includes(ours[key]);
  }
  return selected;
}

function instanceInformation(config: SsmStandInConfig): JsonObject {
  return {
    InstanceId: config.instance.ec2InstanceId,
    PingStatus: 'Online',
    LastPingDateTime: new Date(),
    AgentVersion: config.agentVersion,
    IsLatestVersion: false,
    PlatformType: 'Linux',
    PlatformName: config.platform.name,
    PlatformVersion: config.platform.version,
    ResourceType: 'EC2Instance',
    IPAddress: '127.0.0.1',
    ComputerName: hostname(),
    SourceId: config.instance.ec2InstanceId,
    SourceType: 'AWS::EC2::Instance',
    AssociationStatus: 'Success',
  };
}
