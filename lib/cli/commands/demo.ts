import { DebugTaskClient } from '../../client/api-client';
import { EXIT } from '../../domain/errors';
import { TOOLS, isToolName } from '../../domain/tools';
import { startDemoTarget, type DemoTarget } from '../../sandbox/demo-target';
import { assertDockerAvailable, docker } from '../../sandbox/docker';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox';
import { withInterrupt } from '../interrupt';
import type { DemoFlags } from '../main';
import { printOutcome, type Output } from '../output';
import { createProgress } from '../progress';
import { buildSessionRequest, precheckFilter } from '../request';
import { runSession } from '../session-runner';

const DEMO_DURATION = '10s';
const PLACEHOLDER_TASK =
  'arn:aws:ecs:xx-sandbox-1:000000000000:task/sandbox/00000000000000000000000000000000';

/**
 * debug-task demo: the whole path on the local sandbox. A target "task" with HTTP traffic, one
 * session through the CLI's own code path (API -> state machine -> SSM document -> runner ->
 * toolbox container -> S3 -> download + sha256), then everything is torn down.
 */
export async function demoCommand(flags: DemoFlags, output: Output): Promise<number> {
  const progress = createProgress(process.stderr);
  const capture = {
    ...flags,
    duration: flags.duration ?? DEMO_DURATION,
    filter:
      flags.filter ?? (isToolName(flags.tool) && TOOLS[flags.tool].takesFilter ? 'tcp port 80' : undefined),
  };
  // Bad input ends here, exit 2, before a container or a server is started.
  await precheckFilter(buildSessionRequest({ task: PLACEHOLDER_TASK }, capture));
  await assertDockerAvailable();

  const { ensureLocalToolboxImage } = await import('../../sandbox/local-image');
  const local = await ensureLocalToolboxImage();
  progress.note(
    local.built
      ? `built the local toolbox image ${local.image} from this machine's binaries (${local.tools.join(', ')})`
      : `using the local toolbox image ${local.image} (built earlier from this machine's binaries)`,
  );
  const image = flags.image ?? local.image;
  if (flags.image) progress.note(`toolbox image: ${flags.image}`);

  let target: DemoTarget | undefined;
  let sandbox: Sandbox | undefined;
  let sessionId: string | undefined;
  try {
    target = await startDemoTarget(local.image);
    progress.note(`demo task ${target.taskArn} serving HTTP at ${target.address}, with traffic`);
    sandbox = await startSandbox({ toolboxImage: image, keepData: flags.keep });
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

/** The demo promises to leave nothing behind: say so (loudly) if its toolbox container survived. */
async function reportLeftovers(sessionId: string, note: (message: string) => void): Promise<void> {
  const left = await docker(['ps', '-aq', '--filter', `label=debug-task.session=${sessionId}`]).catch(
    () => '',
  );
  if (left) {
    note(
      `warning: toolbox container(s) of ${sessionId} outlived the session; removing ${left.split('\n').join(' ')}`,
    );
    await docker(['rm', '-f', ...left.split('\n')]).catch(() => undefined);
  }
}
