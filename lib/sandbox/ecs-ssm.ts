import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startJsonServer } from './aws-json-server';
import { dockerEngine, type DockerEngine } from './docker-api';
import { ecsService, type SandboxInstance } from './ecs-api';
import { ENV_VAR_AGENT_VERSION, paramModeOf } from '../domain/agent';
import { STANDIN_DOCUMENT_VERSION, documentHash, ssmService, type DocumentRequest } from './ssm-api';
import { assertSupportedDocument, type SsmDocument } from './ssm-document';

export type { SsmDocument, SsmParameterDefinition, SsmRunShellScriptStep } from './ssm-document';
export { ECS_LABELS, ecsTaskLabels, type EcsTaskLabelInput } from './ecs-api';

/**
 * The ECS + SSM stand-in of the local sandbox: one HTTP server on loopback that answers both
 * services' JSON APIs. Point the SDK at it with AWS_ENDPOINT_URL_ECS and AWS_ENDPOINT_URL_SSM
 * (both = `endpoint`); handlers need no sandbox code.
 *
 *   ECS  DescribeTasks, ListTasks, DescribeContainerInstances   (ecs-api.ts, over Docker)
 *   SSM  DescribeInstanceInformation, SendCommand, GetCommandInvocation, CancelCommand,
 *        ListCommandInvocations                                    (ssm-api.ts, over bash)
 */
export interface EcsSsmStandInOptions {
  /** The command document SendCommand runs (the parsed content, schema 2.2, one shell step). */
  readonly document: SsmDocument;
  /** The only DocumentName SendCommand accepts (or its ARN). */
  readonly documentName: string;
  /** DEBUG_TASK_HOME of the scripts: where the runner keeps its work directories. */
  readonly home: string;
  /** Region of the ARNs the stand-in makes up (tasks keep the region of their own ARN label). */
  readonly region: string;
  /** @default '000000000000' */
  readonly accountId?: string;
  /** What DescribeInstanceInformation reports. @default from /etc/os-release */
  readonly platform?: { readonly name: string; readonly version: string };
  /**
   * The agent version DescribeInstanceInformation reports, and the agent the stand-in emulates:
   * from ENV_VAR_AGENT_VERSION on it sets SSM_<name> for ENV_VAR parameters; an older one only
   * substitutes `{{ }}` references in the text.
   * @default '3.3.2746.0', the first agent with ENV_VAR interpolation
   */
  readonly agentVersion?: string;
  /** Between SIGTERM and SIGKILL of a timed-out or cancelled script (0 = SIGKILL at once, as the agent). @default 2000 */
  readonly killGraceMs?: number;
  /** GetCommandInvocation answers InvocationDoesNotExist this long after SendCommand (SSM is eventually consistent). @default 0 */
  readonly consistencyDelayMs?: number;
  /** @default the engine at DOCKER_HOST or /var/run/docker.sock */
  readonly docker?: DockerEngine;
  /** Told of each call as it arrives (the sandbox keeps one list of every service's calls, in order). */
  readonly onCall?: (call: { service: 'ecs' | 'ssm'; action: string }) => void;
}

export interface EcsSsmStandIn {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  /** The sandbox instance's EC2 id (`i-0` + 16 hex), as ECS and SSM report it. */
  readonly instanceId: string;
  /** Every API call received, in order (benchmarks count them). */
  readonly calls: Array<{ service: 'ecs' | 'ssm'; action: string }>;
  /** The document version (and hash) each SendCommand asked for, refused ones included. */
  readonly documentRequests: readonly DocumentRequest[];
  /** The one version of the document the stand-in holds, and its hash (what DescribeDocument says). */
  readonly document: { readonly version: string; readonly hash: string };
  /** Stops running scripts (SIGTERM, then SIGKILL after the grace), closes the server, removes work files. */
  stop(): Promise<void>;
  /**
   * At once and synchronously, for a second Ctrl-C: SIGKILL to every script's process group, and
   * to the watchdogs the runners started under `home` (their own sessions, so not in those groups),
   * then the work files go.
   */
  forceStop(): void;
}

export const SANDBOX_ACCOUNT_ID = '000000000000';
export const DEFAULT_AGENT_VERSION = ENV_VAR_AGENT_VERSION;

export async function startEcsSsmStandIn(opts: EcsSsmStandInOptions): Promise<EcsSsmStandIn> {
  assertSupportedDocument(opts.document);
  const docker = opts.docker ?? dockerEngine();
  // Fail now, with SANDBOX_UNAVAILABLE, rather than with a 500 on the first ECS call.
  await docker.ping();

  const instance: SandboxInstance = {
    region: opts.region,
    accountId: opts.accountId ?? SANDBOX_ACCOUNT_ID,
    ec2InstanceId: `i-0${randomBytes(8).toString('hex')}`,
    containerInstanceId: randomBytes(16).toString('hex'),
    registeredAt: new Date(),
  };
  const workDir = await mkdtemp(join(tmpdir(), 'debug-task-ssm-'));
  const ssm = ssmService({
    document: opts.document,
    documentName: opts.documentName,
    home: opts.home,
    instance,
    platform: opts.platform ?? osRelease(),
    agentVersion: opts.agentVersion ?? DEFAULT_AGENT_VERSION,
    paramMode: paramModeOf(opts.agentVersion ?? DEFAULT_AGENT_VERSION),
    workDir,
    killGraceMs: opts.killGraceMs ?? 2000,
    consistencyDelayMs: opts.consistencyDelayMs ?? 0,
  });

  const calls: EcsSsmStandIn['calls'] = [];
  let server;
  try {
    server = await startJsonServer([ecsService(docker, instance), ssm.service], (service, action) => {
      const call = { service: service as 'ecs' | 'ssm', action };
      calls.push(call);
      opts.onCall?.(call);
    });
  } catch (error) {
    await rm(workDir, { recursive: true, force: true });
    throw error;
  }

  let stopped: Promise<void> | undefined;
  const { endpoint, close } = server;
  return {
    endpoint,
    instanceId: instance.ec2InstanceId,
    calls,
    documentRequests: ssm.documentRequests,
    document: { version: STANDIN_DOCUMENT_VERSION, hash: documentHash(opts.document) },
    forceStop: () => {
      ssm.killAllNow();
      killWatchdogs(opts.home);
      rmSync(workDir, { recursive: true, force: true });
    },
    stop: () => {
      stopped ??= (async () => {
        await close();
        await ssm.stopAll();
        await rm(workDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/**
 * The runner's watchdogs write their pid to <work>/watchdog.pid under DEBUG_TASK_HOME; each is
 * killed if that pid is still a debug-task watchdog (its command line says so), never otherwise.
 */
function killWatchdogs(home: string): void {
  let files: string[] = [];
  try {
    files = (readdirSync(home, { recursive: true }) as string[]).filter((f) => f.endsWith('watchdog.pid'));
  } catch {
    return; // no home yet, or already removed
  }
  for (const file of files) {
    try {
      const pid = Number(readFileSync(join(home, file), 'utf8').trim());
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (pid > 1 && cmdline.includes('debug-task-watchdog')) process.kill(pid, 'SIGKILL');
    } catch {
      // gone already, or not ours
    }
  }
}

/** PlatformName/PlatformVersion as the agent reads them: NAME and VERSION_ID of os-release. */
export function osRelease(path = '/etc/os-release'): { name: string; version: string } {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    // No os-release (unusual): report a generic Linux.
  }
  const field = (key: string): string | undefined => {
    const match = new RegExp(`^${key}=(.*)$`, 'm').exec(text)?.[1]?.trim();
    return match?.replace(/^(["'])(.*)\1$/, '$2');
  };
  return { name: field('NAME') ?? 'Linux', version: field('VERSION_ID') ?? '' };
}
