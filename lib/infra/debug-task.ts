import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Grant, Role, ServicePrincipal, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { uploadRoleMaxSessionSeconds } from '../domain/upload';
import { ArtifactBucket } from './artifact-bucket';
import { AuditLog } from './audit-log';
import { CommandDocument } from './command-document';
import { DebugFunction, LOG_RETENTION, type DebugFunctionProps, type HandlerName } from './debug-function';
import { grantSessionPermissions } from './permissions';
import { SessionStateMachine } from './session-state-machine';
import { PolicyLayer } from './policy-layer';
import { SessionsApi } from './sessions-api';
import { StackKeys } from './stack-keys';
import { resolveSettings, type DebugTaskProps, type DebugTaskSettings } from './stack-props';
import { SweepSchedule } from './sweep-schedule';
import { TRIGGERS_ENV } from '../triggers/presets';
import { presetsOf, TriggerRules } from './triggers';
import { ToolboxImage } from './toolbox-image';
import { UploadRole } from './upload-role';

export type { DebugTaskProps, DebugTaskSettings, ToolboxPlatform } from './stack-props';

/** Past duration + grace, the time a session may take to resolve, pull the image, upload and clean up. */
export const EXECUTION_MARGIN_SECONDS = 300;

/**
 * The sweeper walks the whole fleet: about N/25 sequential SDK calls for N hosts (lib/steps/sweep.ts),
 * so a few seconds for a thousand hosts; two minutes leave room for tens of thousands, and throttling.
 */
export const SWEEPER_TIMEOUT = Duration.minutes(2);

/**
 * debug-task as one construct: an HTTP API (IAM auth) that starts a Standard state machine whose
 * Lambda steps find an ECS task's host and run our SSM command document there; the artifact goes to
 * S3. A scheduled sweeper sends the same document (action `sweep`) to every host to remove expired
 * toolbox containers.
 *
 * The `DebugTask` stack (lib/infra/debug-task-stack.ts) holds one, and adds the outputs the CLI
 * reads; it can as well live in any stack of your own CDK app.
 */
export class DebugTask extends Construct {
  /** The props with their defaults applied. */
  public readonly settings: DebugTaskSettings;
  /** Bucket of session artifacts and manifests. */
  public readonly bucket: IBucket;
  /** State machine that runs one session per execution. */
  public readonly stateMachine: StateMachine;
  /** Base URL of the HTTP API (IAM auth): give it to the CLI (`--api-url`) or the typed client. */
  public readonly apiUrl: string;
  /** Name of the SSM command document of the host runner. */
  public readonly documentName: string;
  /** The HTTP API (IAM auth on every route). */
  public readonly api: HttpApi;
  /** The customer managed keys of the artifacts and of the log groups. */
  public readonly keys: StackKeys;
  /** The audit log: every authorization decision and session event (lib/audit/). */
  public readonly auditLog: AuditLog;
  /** The rules of the declared triggers (lib/infra/triggers.ts); undefined without triggers. */
  public readonly triggerRules?: TriggerRules;

  constructor(scope: Construct, id: string, props: DebugTaskProps = {}) {
    super(scope, id);
    const settings = resolveSettings(props);
    this.settings = settings;

    const keys = new StackKeys(this, 'Keys');
    const { bucket } = new ArtifactBucket(this, 'Artifacts', {
      retentionDays: settings.artifactRetentionDays,
      encryptionKey: keys.artifacts,
    });
    const audit = new AuditLog(this, 'Audit', {
      // resolveSettings admits only the values of RetentionDays.
      retention: settings.auditLogRetentionDays as RetentionDays,
      encryptionKey: keys.logs,
    });
    // The role of the deploy-time reads (the toolbox asset's digest, the document's version): the
    // custom resources' one Lambda function. Each read adds its own statement, on its one resource.
    // No log permission, hence no managed policy: a failed read shows in CloudFormation's events.
    const deployReads = new Role(this, 'DeployReadsRole', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'debug-task: reads, at deploy time, the toolbox digest and the pinned document version',
    });
    // Its log group, like every other: the logs key, kept a year (it may not write to it: no log
    // permission, above; the group exists so that none is made without the key).
    const deployReadLogs = new LogGroup(this, 'DeployReadsLogs', {
      retention: LOG_RETENTION,
      encryptionKey: keys.logs,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const toolbox = new ToolboxImage(this, 'Toolbox', {
      toolbox: settings.toolbox,
      role: deployReads,
      logGroup: deployReadLogs,
    });
    const document = new CommandDocument(this, 'RunnerDocument', {
      role: deployReads,
      logGroup: deployReadLogs,
      bucket,
      toolbox: toolbox.pattern,
      ...(settings.sandboxHost && { sandboxHost: settings.sandboxHost }),
    });
    // What every function that sends the document is told: the document at the version this
    // deployment created, and where the runner file it names is.
    const sendsDocument = {
      DOCUMENT_NAME: document.documentName,
      DOCUMENT_VERSION: document.version,
      DOCUMENT_HASH: document.hash,
      RUNNER_BUCKET: document.runner.bucketName,
      RUNNER_KEY: document.runner.objectKey,
    };

    const fn = (
      name: HandlerName,
      environment: Record<string, string>,
      options: Omit<DebugFunctionProps, 'environment' | 'logKey'> = {},
    ) => new DebugFunction(this, name, { environment, logKey: keys.logs, ...options });
    const hostSettings = {
      GRACE_SECONDS: String(settings.graceSeconds),
      HOST_CPUS: String(settings.hostCpus),
      HOST_MEMORY_MB: String(settings.hostMemoryMb),
      HOST_PIDS_LIMIT: String(settings.hostPidsLimit),
      HOST_MAX_SESSIONS: String(settings.maxSessionsPerHost),
    };
    const limits = {
      MAX_DURATION_SECONDS: String(settings.maxDurationSeconds),
      MAX_RING_SECONDS: String(settings.maxRingSeconds),
      MAX_BYTES: String(settings.maxBytes),
    };
    // Plan resolves the targets; it also answers the route that only resolves (preview).
    const plan = fn('plan', {
      BUCKET_NAME: bucket.bucketName,
      ALLOWED_CLUSTERS: settings.allowedClusters.join(','),
      GRACE_SECONDS: String(settings.graceSeconds),
      FLEET_START_LEAD_SECONDS: String(settings.fleetStartLeadSeconds),
      ...limits,
    });
    // The doctors (POST /clusters/{cluster}/doctor, POST /doctor): Plan's target checks and the
    // deployment's own, in a function of their own so that plan's bundle and role carry neither.
    const doctor = fn('doctor', {
      BUCKET_NAME: bucket.bucketName,
      ALLOWED_CLUSTERS: settings.allowedClusters.join(','),
      TOOLBOX_IMAGE: toolbox.imageUri,
      // doctor --stack checks the document at the pinned version (it never sends it).
      DOCUMENT_NAME: document.documentName,
      DOCUMENT_VERSION: document.version,
      DOCUMENT_HASH: document.hash,
      ...limits,
    });
    const launch = fn('launch', {
      BUCKET_NAME: bucket.bucketName,
      ...sendsDocument,
      TOOLBOX_IMAGE: toolbox.imageUri,
      ...hostSettings,
    });
    // Poll sends the document too: a stop (the API's stop marker) reaches the hosts as action=stop.
    const poll = fn('poll', { BUCKET_NAME: bucket.bucketName, ...sendsDocument });
    const collect = fn('collect', { BUCKET_NAME: bucket.bucketName });
    // Cleanup waits up to CLEANUP_CONFIRM_SECONDS (20 s) for the hosts to confirm, after its sends.
    const cleanup = fn(
      'cleanup',
      { ...sendsDocument, BUCKET_NAME: bucket.bucketName },
      { timeout: Duration.seconds(60) },
    );

    const { stateMachine } = new SessionStateMachine(this, 'Sessions', {
      steps: {
        plan: plan.function,
        launch: launch.function,
        poll: poll.function,
        collect: collect.function,
        cleanup: cleanup.function,
      },
      hostConcurrency: settings.fleetConcurrency,
      logKey: keys.logs,
      timeout: Duration.seconds(
        settings.longestCaptureSeconds + settings.graceSeconds + EXECUTION_MARGIN_SECONDS,
      ),
    });

    const api = fn('api', {
      STATE_MACHINE_ARN: stateMachine.stateMachineArn,
      BUCKET_NAME: bucket.bucketName,
      REQUIRE_REASON: String(settings.requireReason),
      ...limits,
    });
    if (settings.triggers.length > 0) {
      // Captures on an event: each trigger's rule invokes the api function, which looks its preset up here.
      api.function.addEnvironment(TRIGGERS_ENV, JSON.stringify(presetsOf(settings.triggers)));
      this.triggerRules = new TriggerRules(this, 'Triggers', {
        triggers: settings.triggers,
        handler: api.function,
      });
    }
    const http = new SessionsApi(this, 'Api', {
      handler: api.function,
      checksHandler: plan.function,
      doctorHandler: doctor.function,
      logKey: keys.logs,
    });
    if (settings.policy) {
      // The functions that decide: plan (capture, preview), doctor (would it allow a capture) and api
      // (read, cancel, fetch, list).
      const policy = new PolicyLayer(this, 'Policy', settings.policy);
      for (const decider of [plan, doctor, api]) policy.attachTo(decider, settings.policy.sha256);
    }
    // Launch signs each host's uploads with a session of this role, scoped to the session's
    // children's keys (a re-upload is an execution of the same path).
    const upload = new UploadRole(this, 'UploadRole', {
      bucket,
      assumedBy: [launch.role],
      maxSessionSeconds: uploadRoleMaxSessionSeconds(settings.longestCaptureSeconds, settings.graceSeconds),
    });
    launch.function.addEnvironment('UPLOAD_ROLE_ARN', upload.role.roleArn);
    // The upload role's session policy must allow kms:GenerateDataKey on the key too (it limits the
    // key policy's grant to the role): lib/domain/upload.ts.
    launch.function.addEnvironment('ARTIFACT_KEY_ARN', keys.artifacts.keyArn);
    // Every role that reads or writes the bucket's objects (presigned ones included: the URL acts
    // with its signer's rights), and no other, may use the artifact key.
    keys.allowArtifactUse(
      api.role,
      plan.role,
      doctor.role,
      launch.role,
      poll.role,
      collect.role,
      cleanup.role,
      upload.role,
    );
    // The functions that decide or see a session event emit audit events (lib/audit/).
    for (const writer of [api, plan, doctor, launch, collect, cleanup]) audit.addWriter(writer);

    const sweeper = fn(
      'sweeper',
      { ...sendsDocument, ALLOWED_CLUSTERS: settings.allowedClusters.join(',') },
      { timeout: SWEEPER_TIMEOUT },
    );
    new SweepSchedule(this, 'SweepSchedule', {
      handler: sweeper.function,
      intervalMinutes: settings.sweepIntervalMinutes,
    });

    grantSessionPermissions(Stack.of(this), {
      functions: { api, plan, launch, poll, collect, cleanup, sweeper, doctor },
      bucket,
      uploadRoleArn: upload.role.roleArn,
      documentArn: document.documentArn,
      ...(toolbox.repositoryArn !== undefined && { toolboxRepositoryArn: toolbox.repositoryArn }),
      runnerObjectArn: document.runner.objectArn,
      stateMachine,
      allowedClusters: settings.allowedClusters,
      decidesCaptures: settings.policy !== undefined,
    });

    this.bucket = bucket;
    this.stateMachine = stateMachine;
    this.apiUrl = http.url;
    this.api = http.api;
    this.documentName = document.documentName;
    this.keys = keys;
    this.auditLog = audit;
  }

  /**
   * Lets `grantee` (an on-call role, a deployment pipeline's role) use this deployment: start,
   * follow, fetch and cancel sessions, `doctor`. What it may then debug is narrowed by the props
   * (`allowedClusters`, `requireReason`, the tools' limits) and by owner isolation.
   */
  public grantInvoke(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:Invoke'],
      resourceArns: [this.api.arnForExecuteApi()],
    });
  }
}
