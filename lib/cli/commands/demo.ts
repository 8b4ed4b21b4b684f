import { DebugTaskClient } from '../../client/api-client';
import { DebugTaskError, EXIT } from '../../domain/errors';
import { TOOLS, isToolName } from '../../domain/tools';
import { DEMO_SERVICE, startDemoTarget, type DemoTarget } from '../../sandbox/demo-target';
import { assertDockerAvailable, docker } from '../../sandbox/docker';
import { assertLinuxHost, assertRunnerCommands } from '../../sandbox/machine';
import { SANDBOX_CLUSTER, startSandbox, type Sandbox } from '../../sandbox/sandbox';
import { describeSource, ensureSandboxImages } from '../../sandbox/sandbox-images';
import { runFleet } from '../fleet';
import { withInterrupt } from '../interrupt';
import type { DemoFlags } from '../options';
import { printOutcome, type Output } from '../output';
import { createProgress, type Progress } from '../progress';
import { buildSessionRequest, precheckFilter } from '../request';
import { runSession } from '../session-runner';

const DEMO_DURATION = '10s';
const MAX_REPLICAS = 10;
const PLACEHOLDER_TASK =
  'arn:aws:ecs:xx-sandbox-1:000000000000:task/sandbox/00000000000000000000000000000000';

/**
 * debug-task demo: the whole path on the local sandbox. A target "task" with HTTP traffic, one
 * session through the CLI's own code path (API -> state machine -> SSM document -> runner ->
 * toolbox container -> S3 -> download + sha256), then everything is torn down.
 */
export async function demoCommand(flags: DemoFlags, output: Output): Promise<number> {
  const progress = createProgress(process.stderr);
  const replicas = parseReplicas(flags.replicas);
  const agentVersion = parseAgentVersion(flags.agentVersion);
  const capture = {
    ...flags,
    duration: flags.duration ?? DEMO_DURATION,
    filter:
      flags.filter ?? (isToolName(flags.tool) && TOOLS[flags.tool].takesFilter ? 'tcp port 80' : undefined),
  };
  // Bad input ends here, exit 2, before a container or a server is started.
  await precheckFilter(buildSessionRequest({ task: PLACEHOLDER_TASK }, capture));
  if (replicas !== undefined) {
    buildSessionRequest({ service: DEMO_SERVICE, cluster: SANDBOX_CLUSTER, maxTasks: replicas }, capture);
    if (flags.merge && isToolName(flags.tool) && TOOLS[flags.tool].format === 'pcap') {
      const { assertMergecap } = await import('../pcap-merge');
      await assertMergecap();
    }
  } else if (flags.merge) {
    throw new DebugTaskError('INVALID_ARGUMENT', '--merge applies to a demo with --replicas only.', {
      hint: 'Add --replicas 3 (tasks of one service, captured at once), or drop --merge.',
    });
  }
  assertLinuxHost();
  await assertRunnerCommands();
  await assertDockerAvailable();

  const images = await ensureSandboxImages({ onProgress: progress.note });
  if (!images.built)
    progress.note(`toolbox image ${images.toolbox} (${describeSource(images)}, built earlier)`);
  const image = flags.image ?? images.toolbox;
  if (flags.image) progress.note(`toolbox image: ${flags.image}`);

  if (replicas !== undefined)
    return demoFleet(replicas, flags, capture, image, images.target, output, progress, agentVersion);

  let target: DemoTarget | undefined;
  let sandbox: Sandbox | undefined;
  let sessionId: string | undefined;
  try {
    target = await startDemoTarget(images.target);
    progress.note(`demo task ${target.taskArn} serving HTTP at ${target.address}, with traffic`);
    sandbox = await startSandbox({ toolboxImage: image, keepData: flags.keep, agentVersion });
    const client = new DebugTaskClient({
      apiUrl: sandbox.apiUrl,
      region: sandbox.region,
      credentials: sandbox.credentials,
    });
    const request = buildSessionRequest({ task: target.taskArn, container: target.containerName }, capture);
    const running = target;
    const outcome = await withInterrupt((signal) =>
      runSession(client, request, {
        output: flags.output,
        progress,
        signal,
        onStarted: (id) => (sessionId = id),
      }),
    );
    progress.note(`the demo target answered ${running.requests()} HTTP requests meanwhile`);
    printOutcome(output, outcome);
    return EXIT.OK;
  } finally {
    await target?.stop();
    await sandbox?.stop();
    if (sessionId) await reportLeftovers(sessionId, progress.note);
  }
}

/**
 * debug-task demo --replicas N: N tasks of one demo service, and one service-wide session on them
 * through the CLI's own fleet flow (preview, start, follow, folder download, table), with --yes.
 */
async function demoFleet(
  replicas: number,
  flags: DemoFlags,
  capture: DemoFlags,
  image: string,
  targetImage: string,
  output: Output,
  progress: Progress,
  agentVersion: string | undefined,
): Promise<number> {
  const targets: DemoTarget[] = [];
  let sandbox: Sandbox | undefined;
  let sessionId: string | undefined;
  try {
    const started = await Promise.allSettled(
      // Each task tagged with its replica number: a deployment policy can tell them apart (`sandbox --policy`).
      Array.from({ length: replicas }, (_, i) =>
        startDemoTarget(targetImage, { service: DEMO_SERVICE, tags: { replica: String(i) } }),
      ),
    );
    for (const s of started) if (s.status === 'fulfilled') targets.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    for (const t of targets)
      progress.note(`demo task ${t.taskArn} serving HTTP at ${t.address}, with traffic`);
    sandbox = await startSandbox({ toolboxImage: image, keepData: flags.keep, agentVersion });
    const client = new DebugTaskClient({
      apiUrl: sandbox.apiUrl,
      region: sandbox.region,
      credentials: sandbox.credentials,
    });
    const request = buildSessionRequest(
      { service: DEMO_SERVICE, cluster: SANDBOX_CLUSTER, container: 'web', maxTasks: replicas },
      capture,
    );
    const code = await withInterrupt((signal) =>
      runFleet(client, request, output, {
        yes: true,
        merge: flags.merge,
        output: flags.output,
        progress,
        signal,
        interactive: false,
        onStarted: (id) => (sessionId = id),
      }),
    );
    const answered = targets.reduce((sum, t) => sum + t.requests(), 0);
    progress.note(`the ${replicas} demo tasks answered ${answered} HTTP requests meanwhile`);
    return code;
  } finally {
    await Promise.all(targets.map((t) => t.stop()));
    await sandbox?.stop();
    if (sessionId) await reportLeftovers(sessionId, progress.note);
  }
}

/** --replicas: 1 to 10 tasks of one service; absent: the single-task demo. */
export function parseReplicas(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(value) || value < 1 || value > MAX_REPLICAS) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `--replicas must be 1 to ${MAX_REPLICAS}; ${JSON.stringify(text.slice(0, 40))} was given.`,
      { hint: `Write a number of demo tasks, e.g. --replicas 3 (at most ${MAX_REPLICAS}).` },
    );
  }
  return value;
}

/** The demo promises to leave nothing behind: say so (loudly) if its toolbox container survived. */
async function reportLeftovers(sessionId: string, note: (message: string) => void): Promise<void> {
  // A fleet's children are labelled <fleetId>-NNNN: match the id and its children.
  const listed = await docker([
    'ps', '-a', '--filter', 'label=debug-task.session', '--format', '{{.ID}} {{.Label "debug-task.session"}}',
  ]).catch(() => ''); // prettier-ignore
  const left = listed
    .split('\n')
    .map((line) => line.split(' '))
    .filter(([, session]) => session === sessionId || session?.startsWith(`${sessionId}-`))
    .map(([id]) => id)
    .join('\n');
  if (left) {
    note(
      `warning: toolbox container(s) of ${sessionId} outlived the session; removing ${left.split('\n').join(' ')}`,
    );
    await docker(['rm', '-f', ...left.split('\n')]).catch(() => undefined);
  }
}

/** --agent-version: a dotted version as the SSM agent reports its own (e.g. 3.2.0.0). */
export function parseAgentVersion(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,4}(\.[0-9]{1,6}){1,3}$/.test(value)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `--agent-version "${value.slice(0, 40)}" is not an agent version.`,
      {
        hint: 'Give a version as the SSM agent reports it, e.g. --agent-version 3.2.0.0.',
        details: { agentVersion: value.slice(0, 40) },
      },
    );
  }
  return value;
}
