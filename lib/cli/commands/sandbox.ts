import { readFile } from 'node:fs/promises';
import { PolicyFileError, parsePolicyText } from '../../authz/policy-file';
import { DebugTaskError, EXIT } from '../../domain/errors';
import { DEFAULT_LIMITS } from '../../domain/session-spec';
import {
  resolveTriggers,
  TriggerDeclarationError,
  type TriggerDeclaration,
} from '../../triggers/declaration';
import { DEMO_SERVICE, startDemoTarget, type DemoTarget } from '../../sandbox/demo-target';
import { assertDockerAvailable, docker } from '../../sandbox/docker';
import { assertLinuxHost, assertRunnerCommands } from '../../sandbox/machine';
import { SANDBOX_CLUSTER, startSandbox, type Sandbox } from '../../sandbox/sandbox';
import { describeSource, ensureSandboxImages } from '../../sandbox/sandbox-images';
import type { SandboxFlags } from '../options';
import { printJson, type Output } from '../output';
import { createProgress } from '../progress';
import { parseReplicas } from './demo';

/** Tasks of the demo service when --replicas is not given: a service, so fleets can be tried too. */
export const DEFAULT_SANDBOX_REPLICAS = 2;

/** The one line `debug-task sandbox` prints on stdout once everything is up (a contract: README). */
export interface SandboxReady {
  apiUrl: string;
  region: string;
  cluster: string;
  /** The demo service's tasks (ECS task ARNs). */
  tasks: string[];
  principals: Record<'owner' | 'other', { arn: string; accessKeyId: string; secretAccessKey: string }>;
  /** The audit log: one JSON event per line (every decision and session event). */
  auditLog: string;
  /** EventBridge's PutEvents for the sandbox: an event sent there runs the triggers it matches. */
  eventsUrl: string;
}

/**
 * debug-task sandbox: the local sandbox of `demo`, kept running for the real CLI (and a policy) to be
 * tried against it. Starts the stand-ins and a demo service with traffic (`--replicas` tasks labelled
 * as ECS tasks), prints one JSON line (SandboxReady) on stdout, and stays up until SIGINT or SIGTERM;
 * then removes everything it started: the demo tasks, the stand-ins, their data, and the toolbox
 * containers of the sessions it ran (found by the session ids of its audit log).
 *
 * `--policy FILE` is checked first (the same check as `cdk synth`: file:line:col and the problem);
 * nothing starts when it does not validate.
 */
export async function sandboxCommand(
  flags: SandboxFlags,
  output: Output,
  stopped: Promise<string> = untilSignal(),
): Promise<number> {
  const progress = createProgress(process.stderr);
  const replicas = parseReplicas(flags.replicas) ?? DEFAULT_SANDBOX_REPLICAS;
  if (flags.policy !== undefined) await checkPolicy(flags.policy);
  const triggers = flags.triggers !== undefined ? await readTriggers(flags.triggers) : undefined;
  assertLinuxHost();
  await assertRunnerCommands();
  await assertDockerAvailable();

  const images = await ensureSandboxImages({ onProgress: progress.note });
  if (!images.built)
    progress.note(`toolbox image ${images.toolbox} (${describeSource(images)}, built earlier)`);

  const targets: DemoTarget[] = [];
  let sandbox: Sandbox | undefined;
  try {
    const started = await Promise.allSettled(
      // Each task tagged with its replica number, so a policy can tell them apart (README, "Who may debug what").
      Array.from({ length: replicas }, (_, i) =>
        startDemoTarget(images.target, { service: DEMO_SERVICE, tags: { replica: String(i) } }),
      ),
    );
    for (const s of started) if (s.status === 'fulfilled') targets.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    sandbox = await startSandbox({
      toolboxImage: flags.image ?? images.toolbox,
      policyFile: flags.policy,
      ...(triggers && { triggers }),
    });
    for (const t of targets)
      progress.note(`demo task ${t.taskArn} (service ${DEMO_SERVICE}) serving HTTP, with traffic`);
    if (flags.policy) progress.note(`policy ${flags.policy}`);

    const { owner, other } = sandbox.principals;
    const ready: SandboxReady = {
      apiUrl: sandbox.apiUrl,
      region: sandbox.region,
      cluster: SANDBOX_CLUSTER,
      tasks: targets.map((t) => t.taskArn),
      principals: {
        owner: { arn: owner.arn, accessKeyId: owner.accessKeyId, secretAccessKey: owner.secretAccessKey },
        other: { arn: other.arn, accessKeyId: other.accessKeyId, secretAccessKey: other.secretAccessKey },
      },
      auditLog: sandbox.auditLog.file,
      eventsUrl: sandbox.eventsUrl,
    };
    printJson(output, ready);
    progress.note('sandbox ready; Ctrl-C (or SIGTERM) stops it and removes everything it started');

    const signal = await stopped;
    progress.note(`${signal}: stopping the sandbox`);
    return EXIT.OK;
  } finally {
    const sessions = sessionIdsOf(sandbox?.auditLog.events() ?? []);
    await Promise.all(targets.map((t) => t.stop()));
    await sandbox?.stop();
    await removeToolboxes(sessions);
  }
}

/** The triggers file, checked as `cdk synth` checks the stack's triggers; INVALID_ARGUMENT naming the trigger. */
async function readTriggers(file: string): Promise<TriggerDeclaration[]> {
  let declared: unknown;
  try {
    declared = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw new DebugTaskError('INVALID_ARGUMENT', `--triggers ${file}: not a readable JSON file.`, {
      hint: 'Give a JSON array of triggers, as the stack\'s `triggers` context key takes (README, "Captures on an event").',
      cause,
    });
  }
  try {
    resolveTriggers(declared, DEFAULT_LIMITS);
  } catch (error) {
    if (!(error instanceof TriggerDeclarationError)) throw error;
    throw new DebugTaskError('INVALID_ARGUMENT', `--triggers ${file}: ${error.message}`, {
      hint: 'Fix the trigger (README, "Captures on an event"); nothing was started.',
    });
  }
  return declared as TriggerDeclaration[];
}

/** The policy file, validated as `cdk synth` validates it; INVALID_ARGUMENT naming file:line:col. */
async function checkPolicy(file: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new DebugTaskError('INVALID_ARGUMENT', `--policy ${file}: the file cannot be read.`, {
      hint: 'Give the path of a Cedar policy file (README, "Who may debug what").',
      cause,
    });
  }
  try {
    parsePolicyText(text, file);
  } catch (error) {
    if (!(error instanceof PolicyFileError)) throw error;
    throw new DebugTaskError('INVALID_ARGUMENT', error.message, {
      hint: 'Fix the policy (the schema and its examples: README, "Who may debug what"); nothing was started.',
    });
  }
}

/** Resolves with the name of the first SIGINT or SIGTERM. */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

function sessionIdsOf(events: readonly unknown[]): Set<string> {
  const ids = new Set<string>();
  for (const e of events) {
    const event = e as { type?: unknown; sessionId?: unknown };
    if (event.type === 'session.requested' && typeof event.sessionId === 'string') ids.add(event.sessionId);
  }
  return ids;
}

/** Toolbox containers of the sandbox's sessions that outlived them (a session still running at stop). */
async function removeToolboxes(sessions: ReadonlySet<string>): Promise<void> {
  if (sessions.size === 0) return;
  const listed = await docker([
    'ps', '-a', '--filter', 'label=debug-task.session', '--format', '{{.ID}} {{.Label "debug-task.session"}}',
  ]).catch(() => ''); // prettier-ignore
  const ours = listed
    .split('\n')
    .map((line) => line.split(' '))
    .filter(
      ([, session]) =>
        session !== undefined && (sessions.has(session) || sessions.has(session.replace(/-\d{4}$/, ''))),
    )
    .map(([id]) => id);
  if (ours.length > 0) await docker(['rm', '-f', ...ours]).catch(() => undefined);
}
