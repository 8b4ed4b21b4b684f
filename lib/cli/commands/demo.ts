import { DebugTaskClient } from '../../client/api-client';
import { DebugTaskError, EXIT } from '../../domain/errors';
import { toolNamed } from '../../domain/session-spec';
import { TOOLS, isToolName, type ToolName } from '../../domain/tools';
import { DEMO_SERVICE, startDemoTarget, type DemoTarget } from '../../sandbox/demo-target';
import { assertDockerAvailable, docker, removeSessionContainersNow } from '../../sandbox/docker';
import { assertLinuxHost, assertRunnerCommands } from '../../sandbox/machine';
import { SANDBOX_CLUSTER, startSandbox, type Sandbox } from '../../sandbox/sandbox';
import { describeSource, ensureSandboxImages } from '../../sandbox/sandbox-images';
import { runFleet } from '../fleet';
import { onForcedExit, withStopInterrupt, type CaptureInterrupts } from '../interrupt';
import {
  checkFollow,
  checkOutput,
  followAndPrint,
  outputFlag,
  produceAndPrint,
  type OutputChoice,
} from '../output-path';
import type { FollowSink } from '../follow';
import { DEMO_DEFAULTS, type DemoFlags } from '../options';
import type { Output } from '../output';
import { createProgress, type Progress } from '../progress';
import { buildSessionRequest, precheckFilter } from '../request';
import { runSession } from '../session-runner';

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
  const tool = toolNamed(flags.tool);
  const capture = {
    ...flags,
    tool,
    duration: flags.duration ?? DEMO_DEFAULTS.duration,
    // The demo's traffic is HTTP on port 80: the default filter keeps the capture to it (--help says so).
    filter: flags.filter ?? (TOOLS[tool].takesFilter ? DEMO_DEFAULTS.filter : undefined),
  };
  // Bad input ends here, exit 2, before a container or a server is started.
  const checked = buildSessionRequest({ task: PLACEHOLDER_TASK }, capture);
  await precheckFilter(checked);
  const choice = await checkOutput(outputFlag(flags), {
    expect: replicas !== undefined ? 'folder' : 'file',
    json: output.json,
    extension: TOOLS[checked.tool as ToolName].extension,
  });
  // --follow: to -o -, -o FILE or Wireshark; a demo of several tasks is refused by the request's own check.
  const follow =
    checked.follow && replicas === undefined
      ? await checkFollow(choice, flags, TOOLS[checked.tool as ToolName].format)
      : undefined;
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
    return demoFleet(replicas, flags, capture, image, images.target, output, progress, choice, agentVersion);

  // One interrupt handler from here to the end: a first Ctrl-C stops the session and keeps its
  // capture (or stops what is still starting), a second cancels it (discards); a third exits at
  // once after removing what this demo made.
  return withStopInterrupt((interrupts) =>
    withDemoSandbox(
      { starts: [() => startDemoTarget(images.target)], image, flags, agentVersion, progress, interrupts },
      async (client, [target], onStarted) => {
        const request = buildSessionRequest(
          { task: target.taskArn, container: target.containerName },
          capture,
        );
        const session = async (where: { output?: string; follow?: FollowSink }) => {
          const outcome = await runSession(client, request, {
            ...where,
            progress,
            signal: interrupts.cancel,
            stop: interrupts.stop,
            onStarted,
          });
          progress.note(`the demo target answered ${target.requests()} HTTP requests meanwhile`);
          return outcome;
        };
        if (follow) await followAndPrint(follow, output, (sink) => session({ follow: sink }));
        else await produceAndPrint(choice, output, (path) => session({ output: path }));
        return EXIT.OK;
      },
    ),
  );
}

/**
 * The demo's scaffolding, for one task and for a service alike: the demo tasks (each with traffic),
 * the sandbox, a client signed as the sandbox's owner; `body` runs the session (and tells the
 * session's id through `onStarted`). Everything is removed after, and even on a third Ctrl-C:
 * runners first (no new container can then be asked for), then the tasks (their removal also gives
 * the engine time to finish a create already under way), then the session's containers.
 */
async function withDemoSandbox<T>(
  demo: {
    starts: Array<() => Promise<DemoTarget>>;
    image: string;
    flags: DemoFlags;
    agentVersion: string | undefined;
    progress: Progress;
    interrupts: CaptureInterrupts;
  },
  body: (client: DebugTaskClient, targets: DemoTarget[], onStarted: (id: string) => void) => Promise<T>,
): Promise<T> {
  const targets: DemoTarget[] = [];
  let sandbox: Sandbox | undefined;
  let sessionId: string | undefined;
  const forget = onForcedExit(() => {
    sandbox?.forceStop();
    for (const t of targets) t.forceStop();
    if (sessionId) removeSessionContainersNow(sessionId);
  });
  try {
    const started = await Promise.allSettled(demo.starts.map((start) => start()));
    for (const s of started) if (s.status === 'fulfilled') targets.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    for (const t of targets)
      demo.progress.note(`demo task ${t.taskArn} serving HTTP at ${t.address}, with traffic`);
    sandbox = await startSandbox({
      toolboxImage: demo.image,
      keepData: demo.flags.keep,
      agentVersion: demo.agentVersion,
    });
    throwIfInterrupted(demo.interrupts);
    const client = new DebugTaskClient({
      apiUrl: sandbox.apiUrl,
      region: sandbox.region,
      credentials: sandbox.credentials,
    });
    return await body(client, targets, (id) => (sessionId = id));
  } finally {
    await Promise.all(targets.map((t) => t.stop()));
    await sandbox?.stop();
    if (sessionId) await reportLeftovers(sessionId, demo.progress.note);
    forget();
  }
}

/** A Ctrl-C while the demo was still starting: nothing of a session was started. */
function throwIfInterrupted(interrupts: CaptureInterrupts): void {
  if (interrupts.stop.aborted || interrupts.cancel.aborted) {
    throw new DebugTaskError('CANCELLED', 'Interrupted before the session started: nothing was started.');
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
  choice: OutputChoice,
  agentVersion: string | undefined,
): Promise<number> {
  return withStopInterrupt((interrupts) =>
    withDemoSandbox(
      {
        // Each task tagged with its replica number: a deployment policy can tell them apart (`sandbox --policy`).
        starts: Array.from(
          { length: replicas },
          (_, i) => () =>
            startDemoTarget(targetImage, { service: DEMO_SERVICE, tags: { replica: String(i) } }),
        ),
        image,
        flags,
        agentVersion,
        progress,
        interrupts,
      },
      async (client, targets, onStarted) => {
        const request = buildSessionRequest(
          { service: DEMO_SERVICE, cluster: SANDBOX_CLUSTER, container: 'web', maxTasks: replicas },
          capture,
        );
        const code = await runFleet(client, request, output, {
          yes: true,
          merge: flags.merge,
          output: choice.kind === 'stdout' ? undefined : choice.path,
          progress,
          signal: interrupts.cancel,
          stop: interrupts.stop,
          interactive: false,
          onStarted,
        });
        const answered = targets.reduce((sum, t) => sum + t.requests(), 0);
        progress.note(`the ${replicas} demo tasks answered ${answered} HTTP requests meanwhile`);
        return code;
      },
    ),
  );
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
