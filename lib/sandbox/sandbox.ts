import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer, type ApiHandler } from './api-server';
import { startEcsSsmStandIn } from './ecs-ssm';
import { startS3 } from './s3';
import { startStepFunctionsStandIn } from './sfn';
import { startStsStandIn } from './sts';
import {
  apiRouteHandlers,
  apiRouteKeys,
  commandDocument,
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
  /** Keep the S3 data directory on stop (for inspection). */
  keepData?: boolean;
}

export interface Sandbox {
  apiUrl: string;
  region: string;
  credentials: typeof SANDBOX_CREDENTIALS;
  bucket: string;
  /** Work root of the sandbox "host" (DEBUG_TASK_HOME of the runner). */
  home: string;
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
    const template = synthesizeTemplate();
    const { definition, functionArns } = stateMachineDefinition(template, { region: SANDBOX_REGION });
    const document = commandDocument(template);

    const s3 = await startS3({ bucket: 'debug-task-sandbox' });
    stops.push(() => s3.stop());
    forceStops.push(() => s3.forceStop());
    // ECS, SSM and STS calls in the order they arrive, across the stand-ins.
    const awsCalls: SandboxCall[] = [];
    const ecsSsm = await startEcsSsmStandIn({
      document: document.content,
      documentName: document.name,
      home,
      region: SANDBOX_REGION,
      accountId: SANDBOX_ACCOUNT,
      onCall: (call) => awsCalls.push(call),
    });
    stops.push(() => ecsSsm.stop());
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
      AWS_S3_FORCE_PATH_STYLE: 'true',
      BUCKET_NAME: s3.bucket,
      UPLOAD_ROLE_ARN: SANDBOX_UPLOAD_ROLE_ARN,
      DOCUMENT_NAME: document.name,
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

    const handlers = await loadHandlers(functionArns);
    const sfn = await startStepFunctionsStandIn({ definition, handlers, region: SANDBOX_REGION });
    stops.push(() => sfn.stop());
    process.env.AWS_ENDPOINT_URL_SFN = sfn.endpoint;
    process.env.STATE_MACHINE_ARN = sfn.stateMachineArn;

    const { handler: apiHandler } = await import('../../lambda/api');
    const { handler: planHandler } = await import('../../lambda/plan');
    // The stack's own routes, each answered by the function its integration names.
    const byFunction: Record<string, ApiHandler> = {
      api: apiHandler,
      plan: planHandler as ApiHandler,
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
      credentials: SANDBOX_CREDENTIALS,
      accountId: SANDBOX_ACCOUNT,
    });
    stops.push(() => api.stop());

    return {
      apiUrl: api.url,
      region: SANDBOX_REGION,
      credentials: SANDBOX_CREDENTIALS,
      bucket: s3.bucket,
      home,
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
