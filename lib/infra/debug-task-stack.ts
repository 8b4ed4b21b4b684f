import { CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { uploadRoleMaxSessionSeconds } from '../domain/upload';
import { ArtifactBucket } from './artifact-bucket';
import { CommandDocument } from './command-document';
import { DebugFunction, type DebugFunctionProps, type HandlerName } from './debug-function';
import { grantSessionPermissions } from './permissions';
import { SessionStateMachine } from './session-state-machine';
import { SessionsApi } from './sessions-api';
import { resolveSettings, type DebugTaskSettings, type DebugTaskStackProps } from './stack-props';
import { SweepSchedule } from './sweep-schedule';
import { ToolboxImage } from './toolbox-image';
import { UploadRole } from './upload-role';

export type { DebugTaskStackProps, DebugTaskSettings, ToolboxPlatform } from './stack-props';
export { STACK_DEFAULTS } from './stack-props';

/** Past duration + grace, the time a session may take to resolve, pull the image, upload and clean up. */
export const EXECUTION_MARGIN_SECONDS = 300;

/**
 * The sweeper walks the whole fleet: about N/25 sequential SDK calls for N hosts (lib/steps/sweep.ts),
 * so a few seconds for a thousand hosts; two minutes leave room for tens of thousands, and throttling.
 */
export const SWEEPER_TIMEOUT = Duration.minutes(2);

/**
 * debug-task: an HTTP API (IAM auth) that starts a Standard state machine whose Lambda steps find
 * an ECS task's host and run our SSM command document there; the artifact goes to S3. A scheduled
 * sweeper sends the same document (action `sweep`) to every host to remove expired toolbox containers.
 *
 * Outputs (the CLI reads them from the stack named `DebugTask`): ApiUrl, BucketName,
 * StateMachineArn, DocumentName, Region.
 */
export class DebugTaskStack extends Stack {
  /** The props with their defaults applied. */
  public readonly settings: DebugTaskSettings;

  constructor(scope: Construct, id: string, props: DebugTaskStackProps = {}) {
    super(scope, id, props);
    const settings = resolveSettings(props);
    this.settings = settings;

    const { bucket } = new ArtifactBucket(this, 'Artifacts', {
      retentionDays: settings.artifactRetentionDays,
    });
    const document = new CommandDocument(this, 'RunnerDocument');
    const toolbox = new ToolboxImage(this, 'Toolbox', { toolbox: settings.toolbox });

    const fn = (
      name: HandlerName,
      environment: Record<string, string>,
      options: Omit<DebugFunctionProps, 'environment'> = {},
    ) => new DebugFunction(this, name, { environment, ...options });
    const hostSettings = {
      GRACE_SECONDS: String(settings.graceSeconds),
      HOST_CPUS: String(settings.hostCpus),
      HOST_MEMORY_MB: String(settings.hostMemoryMb),
      HOST_PIDS_LIMIT: String(settings.hostPidsLimit),
      HOST_MAX_SESSIONS: String(settings.maxSessionsPerHost),
    };
    const limits = {
      MAX_DURATION_SECONDS: String(settings.maxDurationSeconds),
      MAX_BYTES: String(settings.maxBytes),
    };
    // Plan resolves the targets; it also answers the routes that only check (preview, doctor).
    const plan = fn('plan', {
      BUCKET_NAME: bucket.bucketName,
      ALLOWED_CLUSTERS: settings.allowedClusters.join(','),
      GRACE_SECONDS: String(settings.graceSeconds),
      FLEET_START_LEAD_SECONDS: String(settings.fleetStartLeadSeconds),
      TOOLBOX_IMAGE: toolbox.imageUri,
      ...limits,
    });
    const launch = fn('launch', {
      BUCKET_NAME: bucket.bucketName,
      DOCUMENT_NAME: document.documentName,
      TOOLBOX_IMAGE: toolbox.imageUri,
      ...hostSettings,
    });
    const poll = fn('poll', { BUCKET_NAME: bucket.bucketName });
    const collect = fn('collect', { BUCKET_NAME: bucket.bucketName });
    const cleanup = fn('cleanup', { DOCUMENT_NAME: document.documentName, BUCKET_NAME: bucket.bucketName });

    const { stateMachine } = new SessionStateMachine(this, 'Sessions', {
      steps: {
        plan: plan.function,
        launch: launch.function,
        poll: poll.function,
        collect: collect.function,
        cleanup: cleanup.function,
      },
      hostConcurrency: settings.fleetConcurrency,
      timeout: Duration.seconds(
        settings.maxDurationSeconds + settings.graceSeconds + EXECUTION_MARGIN_SECONDS,
      ),
    });

    const api = fn('api', {
      STATE_MACHINE_ARN: stateMachine.stateMachineArn,
      BUCKET_NAME: bucket.bucketName,
      REQUIRE_REASON: String(settings.requireReason),
      ...limits,
    });
    const http = new SessionsApi(this, 'Api', { handler: api.function, checksHandler: plan.function });
    // Launch signs each host's uploads with a session of this role, scoped to the session's
    // children's keys (a re-upload is an execution of the same path).
    const upload = new UploadRole(this, 'UploadRole', {
      bucket,
      assumedBy: [launch.role],
      maxSessionSeconds: uploadRoleMaxSessionSeconds(settings.maxDurationSeconds, settings.graceSeconds),
    });
    launch.function.addEnvironment('UPLOAD_ROLE_ARN', upload.role.roleArn);

    const sweeper = fn(
      'sweeper',
      { DOCUMENT_NAME: document.documentName, ALLOWED_CLUSTERS: settings.allowedClusters.join(',') },
      { timeout: SWEEPER_TIMEOUT },
    );
    new SweepSchedule(this, 'SweepSchedule', {
      handler: sweeper.function,
      intervalMinutes: settings.sweepIntervalMinutes,
    });

    grantSessionPermissions(this, {
      functions: { api, plan, launch, poll, collect, cleanup, sweeper },
      bucket,
      uploadRoleArn: upload.role.roleArn,
      documentArn: document.documentArn,
      stateMachine,
      allowedClusters: settings.allowedClusters,
    });

    // ---- Outputs: the CLI finds the deployment through these.
    new CfnOutput(this, 'ApiUrl', {
      value: http.url,
      description: 'Base URL of the debug-task HTTP API (IAM auth)',
    });
    new CfnOutput(this, 'BucketName', {
      value: bucket.bucketName,
      description: 'Bucket of session artifacts',
    });
    new CfnOutput(this, 'StateMachineArn', {
      value: stateMachine.stateMachineArn,
      description: 'State machine that runs one session per execution',
    });
    new CfnOutput(this, 'DocumentName', {
      value: document.documentName,
      description: 'SSM command document of the host runner',
    });
    new CfnOutput(this, 'Region', { value: this.region, description: 'Region of this deployment' });
  }
}
