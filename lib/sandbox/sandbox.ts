import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { resetAwsClients } from '../aws/registry';
import { buildRunnerScript, runnerSha256 } from '../host/runner-script';
import { startApiServer, type ApiHandler, type ApiPrincipal } from './api-server';
import { startLogsStandIn } from './logs';
import { startEcsSsmStandIn } from './ecs-ssm';
import type { DocumentRequest } from './ssm-api';
import { startS3 } from './s3';
import { createEventBus, startEventsStandIn, type Delivery, type EventHandler } from './events';
import { TRIGGERS_ENV } from '../triggers/presets';
import type { TriggerDeclaration } from '../triggers/declaration';
import { startStepFunctionsStandIn } from './sfn';
import { startStsStandIn } from './sts';
import {
  apiRouteHandlers,
  apiRouteKeys,
  commandDocument,
  eventRules,
  functionEnvironment,
  stateMachineDefinition,
  synthesizeTemplate,
} from './template';

/**
 * The local sandbox (DESIGN.md section 5): the real handlers, the real state machine definition
 * and the real SSM document from the synthesized template, with loopback stand-ins for AWS.
 * SDK clients reach the stand-ins through the standard AWS_ENDPOINT_URL_<SERVICE> variables, so
 * no handler knows it runs here.
 */
export const SANDBOX_REGION = 'xx-sandbox-1';
export const SANDBOX_ACCOUNT = '000000000000';
export const SANDBOX_CLUSTER = 'sandbox';
export const SANDBOX_CREDENTIALS = {
  accessKeyId: 'AKIASANDBOX000000000',
  secretAccessKey: 'sandbox-secret-not-real',
};
/** The audit log group of the sandbox (AUDIT_LOG_GROUP; lib/sandbox/logs.ts stands in for it). */
export const SANDBOX_AUDIT_LOG_GROUP = 'debug-task-sandbox-audit';

/**
 * The two principals of the sandbox API, each with its own access key: `owner` starts sessions,
 * `other` is anyone else of the account (owner isolation and the deployment's policy tell them
 * apart). The secrets are new for every sandbox.
 */
export interface SandboxPrincipals {
  owner: ApiPrincipal;
  other: ApiPrincipal;
}

function newPrincipals(): SandboxPrincipals {
  const principal = (name: string, keyId: string): ApiPrincipal => ({
    arn: `arn:aws:iam::${SANDBOX_ACCOUNT}:user/sandbox-${name}`,
    accessKeyId: keyId,
    secretAccessKey: randomBytes(30).toString('base64url'),
  });
  return {
    owner: principal('owner', 'AKIASANDBOXOWNER0000'),
    other: principal('other', 'AKIASANDBOXOTHER0000'),
  };
}

/** UPLOAD_ROLE_ARN of the sandbox: the only role its STS stand-in lets Launch assume. */
export const SANDBOX_UPLOAD_ROLE_ARN = `arn:aws:iam::${SANDBOX_ACCOUNT}:role/debug-task-sandbox-upload`;

/**
 * One AWS call a stand-in served. `input` is kept for STS only: the AssumeRole parameters
 * (RoleArn, RoleSessionName, DurationSeconds, Policy: the session policy as sent).
 */
export interface SandboxCall {
  service: string;
  action: string;
  input?: Readonly<Record<string, string>>;
}

export interface SandboxOptions {
  /** Toolbox image the Launch step sends to the host. */
  toolboxImage: string;
  /**
   * The SSM agent version the sandbox's instance reports and its SSM stand-in emulates: below
   * 3.3.2746.0 no SSM_<name> variables, only textual `{{ }}` substitution. @default '3.3.2746.0'
   */
  agentVersion?: string;
  /** Keep the S3 data directory on stop (for inspection). */
  keepData?: boolean;
  /**
   * The deployment's Cedar policy file: the deciding handlers see it as DEBUG_TASK_POLICY_FILE (its
   * absolute path), as the deployed functions see the file of their policy layer.
   */
  policyFile?: string;
  /**
   * The deployment's triggers (the stack's `triggers` prop): their rules are in the synthesized
   * template, and an event given to the sandbox (`deliverEvent`, PutEvents) runs those that match.
   */
  triggers?: readonly TriggerDeclaration[];
}

export interface Sandbox {
  apiUrl: string;
  region: string;
  /** The owner's credentials (what `demo` signs with). */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The principals the API authenticates, each by its own access key. */
  principals: SandboxPrincipals;
  /**
   * EventBridge: matches `event` against the template's trigger rules as EventBridge would, and runs
   * each matching rule's target (the api function) with the input its rule writes; awaits them.
   */
  deliverEvent(event: Record<string, unknown>): Promise<Delivery[]>;
  /** EventBridge's PutEvents on loopback (`aws events put-events --endpoint-url <this>`). */
  eventsUrl: string;
  /** The audit log: every event the handlers wrote (JSON lines in `file`). */
  auditLog: { file: string; events(): unknown[] };
  bucket: string;
  /** Work root of the sandbox "host" (DEBUG_TASK_HOME of the runner). */
  home: string;
  /** The version (and hash) of the document each SendCommand asked for, in order. */
  documentRequests(): DocumentRequest[];
  /** The document version the sandbox holds (what the deployment pinned): the only one it runs. */
  documentVersion: string;
  /**
   * Every AWS API call the stand-ins served (benchmarks count them): ECS, SSM and STS in the order
   * they arrived, then Step Functions'. Launch's `sts:AssumeRole` (the upload role, once per
   * session) comes right before its `ssm:SendCommand`, as `{ service: 'sts', action: 'AssumeRole' }`.
   */
  calls(): SandboxCall[];
  /**
   * While on, the hosts' presigned uploads (those whose path holds `keyPart`, when given) get 503
   * SlowDown (S3StandIn.refuseUploads): UPLOAD_FAILED for real.
   */
  refuseUploads(on: boolean, keyPart?: string): void;
  stop(): Promise<void>;
  /**
   * What a second Ctrl-C does before it exits: synchronously, kills the runners and their
   * watchdogs and removes the sandbox's temporary directories. The servers go with the process.
   */
  forceStop(): void;
}

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const home = await mkdtemp(join(tmpdir(), 'debug-task-sandbox-'));
  const stops: Array<() => Promise<void>> = [];
  const forceStops: Array<() => void> = [];
  const savedEnv = { ...process.env };
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    process.env = savedEnv;
    await rm(home, { recursive: true, force: true });
  };
  try {
    const principals = newPrincipals();
    const s3 = await startS3({ bucket: 'debug-task-sandbox' });
    stops.push(() => s3.stop());
    // The stack as the sandbox's document needs it: admitting the loopback S3 stand-in and the
    // local toolbox image instead of a deployment's bucket and image.
    const template = synthesizeTemplate({
      sandboxHost: { s3Endpoint: s3.endpoint, bucket: s3.bucket, toolboxImage: options.toolboxImage },
      ...(options.triggers && { triggers: options.triggers }),
    });
    const { definition, functionArns } = stateMachineDefinition(template, { region: SANDBOX_REGION });
    const document = commandDocument(template);
    // The runner file the document names, where the functions presign it from (the stack's S3 asset).
    const runnerKey = `runner/${runnerSha256()}.sh`;
    await putRunner(s3.endpoint, s3.bucket, runnerKey);
    forceStops.push(() => s3.forceStop());
    // ECS, SSM and STS calls in the order they arrive, across the stand-ins.
    const awsCalls: SandboxCall[] = [];
    const ecsSsm = await startEcsSsmStandIn({
      document: document.content,
      documentName: document.name,
      home,
      region: SANDBOX_REGION,
      accountId: SANDBOX_ACCOUNT,
      ...(options.agentVersion && { agentVersion: options.agentVersion }),
      onCall: (call) => awsCalls.push(call),
    });
    stops.push(() => ecsSsm.stop());
    const logs = await startLogsStandIn({
      logGroupName: SANDBOX_AUDIT_LOG_GROUP,
      // Not in calls(): those are the session's control-plane calls, which benchmarks count.
      file: join(home, 'audit.jsonl'),
    });
    stops.push(() => logs.stop());
    forceStops.push(() => ecsSsm.forceStop());
    const sts = await startStsStandIn({
      roleArn: SANDBOX_UPLOAD_ROLE_ARN,
      onCall: (call) => awsCalls.push(call),
    });
    stops.push(() => sts.stop());

    Object.assign(process.env, {
      AWS_REGION: SANDBOX_REGION,
      AWS_DEFAULT_REGION: SANDBOX_REGION,
      AWS_ACCESS_KEY_ID: SANDBOX_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: SANDBOX_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ENDPOINT_URL_ECS: ecsSsm.endpoint,
      AWS_ENDPOINT_URL_SSM: ecsSsm.endpoint,
      AWS_ENDPOINT_URL_STS: sts.endpoint,
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: logs.endpoint,
      AUDIT_LOG_GROUP: SANDBOX_AUDIT_LOG_GROUP,
      AWS_S3_FORCE_PATH_STYLE: 'true',
      BUCKET_NAME: s3.bucket,
      UPLOAD_ROLE_ARN: SANDBOX_UPLOAD_ROLE_ARN,
      DOCUMENT_NAME: document.name,
      DOCUMENT_VERSION: ecsSsm.document.version,
      DOCUMENT_HASH: ecsSsm.document.hash,
      RUNNER_BUCKET: s3.bucket,
      RUNNER_KEY: runnerKey,
      TOOLBOX_IMAGE: options.toolboxImage,
      ALLOWED_CLUSTERS: '',
      // One local engine is the one host of every task: a demo service's replicas all run on it.
      HOST_MAX_SESSIONS: '4',
      // Every step runs in-process and SendCommand starts the runner at once: a short lead suffices.
      FLEET_START_LEAD_SECONDS: '3',
      POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'SILENT',
    });
    delete process.env.AWS_PROFILE;
    delete process.env.AWS_SESSION_TOKEN;
    // The deciding handlers load the policy from this file (the deployed ones from their layer's).
    if (options.policyFile) process.env.DEBUG_TASK_POLICY_FILE = resolve(options.policyFile);
    else delete process.env.DEBUG_TASK_POLICY_FILE;
    // The triggers' presets, as the stack hands them to the api function.
    const presets = functionEnvironment(template, 'api')[TRIGGERS_ENV];
    if (typeof presets === 'string') process.env[TRIGGERS_ENV] = presets;
    else delete process.env[TRIGGERS_ENV];

    // The handlers run in this process, whose clients and audit stream may still be an earlier
    // sandbox's (a benchmark runs several in turn): made anew from the endpoints just set.
    // (Loaded here, not at the top: the logger takes its level from the environment set above.)
    resetAwsClients();
    (await import('../audit/audit')).audit.reset();

    const handlers = await loadHandlers(functionArns);
    const sfn = await startStepFunctionsStandIn({ definition, handlers, region: SANDBOX_REGION });
    stops.push(() => sfn.stop());
    process.env.AWS_ENDPOINT_URL_SFN = sfn.endpoint;
    process.env.STATE_MACHINE_ARN = sfn.stateMachineArn;

    const { handler: apiHandler } = await import('../../lambda/api');
    const { handler: planHandler } = await import('../../lambda/plan');
    const { handler: doctorHandler } = await import('../../lambda/doctor');
    // The stack's own routes, each answered by the function its integration names.
    const byFunction: Record<string, ApiHandler> = {
      api: apiHandler,
      plan: planHandler as ApiHandler,
      doctor: doctorHandler,
    };
    const routeHandlers = apiRouteHandlers(template);
    const api = await startApiServer({
      handler: apiHandler,
      routeKeys: apiRouteKeys(template),
      routes: Object.fromEntries(
        Object.entries(routeHandlers).map(([key, name]) => {
          const handler = byFunction[name];
          if (!handler)
            throw new Error(`The sandbox has no local handler for route ${key} (function ${name}).`);
          return [key, handler];
        }),
      ),
      region: SANDBOX_REGION,
      principals: [principals.owner, principals.other],
      accountId: SANDBOX_ACCOUNT,
    });
    stops.push(() => api.stop());
    const bus = createEventBus(
      eventRules(template, { region: SANDBOX_REGION }),
      { api: apiHandler as EventHandler },
      { region: SANDBOX_REGION, account: SANDBOX_ACCOUNT },
    );
    const events = await startEventsStandIn(bus, (delivered) => {
      if (delivered instanceof Error) console.error(`sandbox events: ${delivered.message}`);
    });
    stops.push(() => events.stop());

    return {
      deliverEvent: (event) => bus.deliver(event),
      eventsUrl: events.endpoint,
      apiUrl: api.url,
      region: SANDBOX_REGION,
      credentials: {
        accessKeyId: principals.owner.accessKeyId,
        secretAccessKey: principals.owner.secretAccessKey,
      },
      principals,
      auditLog: { file: logs.file, events: () => logs.events() },
      bucket: s3.bucket,
      home,
      documentRequests: () => [...ecsSsm.documentRequests],
      documentVersion: ecsSsm.document.version,
      calls: () => [...awsCalls, ...sfn.calls.map((c) => ({ service: 'sfn', action: c.action }))],
      refuseUploads: (on, keyPart) => s3.refuseUploads(on, keyPart),
      stop,
      forceStop: () => {
        for (const forceStop of forceStops.reverse()) {
          try {
            forceStop();
          } catch {
            // the others still run
          }
        }
        rmSync(home, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Puts the runner file into the S3 stand-in, as `cdk deploy` puts the stack's asset. */
async function putRunner(endpoint: string, bucket: string, key: string): Promise<void> {
  const client = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: SANDBOX_REGION,
    credentials: SANDBOX_CREDENTIALS,
  });
  try {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: buildRunnerScript() }));
  } finally {
    client.destroy();
  }
}

/** Binds each Task's function ARN in the definition to the real handler module. */
async function loadHandlers(
  functionArns: Record<string, string>,
): Promise<Record<string, (input: unknown) => Promise<unknown>>> {
  const modules: Record<string, () => Promise<{ handler: (input: never) => Promise<unknown> }>> = {
    plan: () => import('../../lambda/plan'),
    launch: () => import('../../lambda/launch'),
    poll: () => import('../../lambda/poll'),
    collect: () => import('../../lambda/collect'),
    cleanup: () => import('../../lambda/cleanup'),
  };
  const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  for (const [name, arn] of Object.entries(functionArns)) {
    const load = modules[name];
    if (!load) continue; // e.g. the api function: not a state machine task
    const { handler } = await load();
    handlers[arn] = (input) => handler(input as never);
  }
  return handlers;
}
