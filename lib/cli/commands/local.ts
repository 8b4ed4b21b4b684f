import { readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { DebugTaskError, EXIT, inSession, quoted } from '../../domain/errors';
import { specCaptureValues } from '../../domain/capture-values';
import { parseSessionRequest } from '../../domain/session-spec';
import { DEFAULT_GRACE_SECONDS, newSessionId } from '../../domain/session';
import { TOOLS, type ToolName } from '../../domain/tools';
import { runHostRunner } from '../../host/local-runner';
import { assertDockerAvailable, docker, removeSessionContainersNow } from '../../sandbox/docker';
import { assertLinuxHost, assertRunnerCommands } from '../../sandbox/machine';
import { ensureSandboxImages } from '../../sandbox/sandbox-images';
import { localVerdict } from '../../session/verdict';
import { unpackLocalArtifact } from '../download';
import { onForcedExit, withStopInterrupt } from '../interrupt';
import type { LocalFlags } from '../options';
import type { Output } from '../output';
import { checkOutput, outputFlag, produceAndPrint } from '../output-path';
import { createProgress } from '../progress';
import { buildSessionRequest, precheckFilter } from '../request';
import { ringOutcome, type SessionOutcome } from '../session-runner';

const RUNNER_FAILURE = /: failed: [A-Z_]+: /;

/** What `local` reports as its target's "cluster": there is none, the engine is this machine's. */
export const LOCAL_CLUSTER = 'local';

/**
 * debug-task local <container>: the host runner, exactly as SSM would run it, against a container
 * of the local Docker engine. No AWS at all. Its flags, defaults, `--json` shape and summary are
 * the main command's (a SessionOutcome), with the container as the target and this machine as
 * the instance.
 */
export async function localCommand(container: string, flags: LocalFlags, output: Output): Promise<number> {
  const request = buildSessionRequest(
    { task: '00000000000000000000000000000000', cluster: LOCAL_CLUSTER },
    flags,
  );
  await precheckFilter(request);
  const tool = request.tool as ToolName;
  const choice = await checkOutput(outputFlag(flags), {
    expect: 'file',
    json: output.json,
    extension: TOOLS[tool].extension,
  });
  assertLinuxHost();
  await assertRunnerCommands();
  await assertDockerAvailable();
  const found = await inspectContainer(container);
  if (request.iface) checkInterface(request.iface, found);
  const progress = createProgress(process.stderr);
  const image = flags.image ?? (await ensureSandboxImages({ onProgress: progress.note })).toolbox;
  const spec = parseSessionRequest(request);
  const duration = spec.durationSeconds;
  const sessionId = newSessionId();
  const home = await mkdtemp(join(tmpdir(), 'debug-task-local-'));
  const forget = onForcedExit(() => {
    removeSessionContainersNow(sessionId);
    rmSync(home, { recursive: true, force: true });
  });
  try {
    progress.note(`session ${sessionId}: ${tool} on ${container} for ${duration}s`);
    // A first Ctrl-C stops the capture and keeps it (the runner's action=stop, as a host gets it),
    // a second cancels: the runner is sent SIGTERM and removes everything it started.
    await withStopInterrupt(({ stop, cancel }) =>
      produceAndPrint(choice, output, async (path) => {
        const startedAt = Date.now();
        const stopRunner = () => {
          progress.note(`stopping ${sessionId}: the capture so far is kept (Ctrl-C again discards it)`);
          runHostRunner({ action: 'stop', sessionId }, { home }).catch(() => undefined);
        };
        stop.addEventListener('abort', stopRunner, { once: true });
        const running = runHostRunner(
          {
            action: 'run',
            sessionId,
            containerId: found.id,
            ...specCaptureValues(spec, image),
            uploadUrl: '',
            expiresAt: String(Math.floor(Date.now() / 1000) + duration + DEFAULT_GRACE_SECONDS),
          },
          // The runner's own "failed: CODE: ..." line is the error printed at the end: not twice.
          {
            home,
            signal: cancel,
            onStderr: (line) => (RUNNER_FAILURE.test(line) ? undefined : progress.note(line)),
          },
        );
        const run = await running.finally(() => stop.removeEventListener('abort', stopRunner));
        const { manifest, artifact } = localVerdict(run.manifest, {
          exitCode: run.exitCode,
          stderrTail: run.stderr.slice(-2000),
          instanceId: 'this machine',
        });
        const file = resolvePath(path ?? `debug-task-${sessionId}.${TOOLS[tool].extension}`);
        const downloadStart = Date.now();
        await unpackLocalArtifact(artifact.hostPath, artifact, file);
        const end = Date.now();
        const capture = captureSeconds(manifest.timings);
        const total = (end - startedAt) / 1000;
        const outcome: SessionOutcome = {
          sessionId,
          status: 'SUCCEEDED',
          target: {
            taskArn: found.name,
            clusterArn: LOCAL_CLUSTER,
            container: found.name,
            instanceId: 'this machine',
          },
          tool: manifest.tool!,
          artifact: {
            path: file,
            // The runner's folder is removed when this command ends: the file above is the artifact.
            s3Uri: '',
            bytes: artifact.bytes,
            sha256: artifact.sha256,
            format: artifact.format,
            ...(artifact.linkType && { linkType: artifact.linkType }),
            truncated: artifact.truncated,
          },
          timings: {
            totalSeconds: round(total),
            captureSeconds: round(capture),
            overheadSeconds: round(total - capture),
            downloadSeconds: round((end - downloadStart) / 1000),
          },
          ...(manifest.stoppedEarly && {
            stoppedEarly: { atSeconds: Math.round(capture), ofSeconds: duration },
          }),
          ...(manifest.ring && { ring: ringOutcome(manifest.ring, manifest.timings.captureEndedAt) }),
        };
        return outcome;
      }),
    );
    return EXIT.OK;
  } catch (error) {
    throw inSession(error, sessionId);
  } finally {
    await rm(home, { recursive: true, force: true });
    forget();
  }
}

/** The container by name or id, running: checked before anything starts (exit 2 or 3). */
async function inspectContainer(container: string): Promise<{ id: string; name: string; pid: number }> {
  const line = await docker([
    'inspect',
    '-f',
    '{{.Id}} {{.Name}} {{.State.Status}} {{.State.Pid}}',
    container,
  ]).catch((cause) => {
    throw new DebugTaskError(
      'CONTAINER_NOT_FOUND',
      `No container ${quoted(container)} on the local Docker engine.`,
      {
        hint: 'Name a running container (its name or id): `docker ps` lists them.',
        cause,
      },
    );
  });
  const [id, name, state, pid] = line.trim().split(' ');
  if (state !== 'running') {
    throw new DebugTaskError(
      'TASK_NOT_RUNNING',
      `The container ${quoted(container)} is ${state}, not running.`,
      {
        hint: `Start it (\`docker start ${name.replace(/^\//, '')}\`), or name a running one: \`docker ps\`.`,
        details: { state },
      },
    );
  }
  return { id, name: name.replace(/^\//, ''), pid: Number(pid) };
}

/**
 * --iface, where it can be known before anything starts: the interfaces of the container's network
 * namespace, as its main process sees them (/proc/PID/net/dev). Unknown: exit 2, naming those there.
 * Where they cannot be read (no permission), the runner's own check stays.
 */
function checkInterface(iface: string, container: { name: string; pid: number }): void {
  let text: string;
  try {
    text = readFileSync(`/proc/${container.pid}/net/dev`, 'utf8');
  } catch {
    return;
  }
  const names = text
    .split('\n')
    .slice(2)
    .map((line) => line.split(':')[0].trim())
    .filter(Boolean);
  if (!names.includes(iface)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `The container ${quoted(container.name)} has no interface ${quoted(iface)}; it has ${names.join(', ')}.`,
      { hint: `Drop --iface (the container's own is used), or name one of: ${names.join(', ')}.` },
    );
  }
}

function captureSeconds(timings: { captureStartedAt?: number; captureEndedAt?: number }): number {
  const { captureStartedAt: start, captureEndedAt: end } = timings;
  return start !== undefined && end !== undefined && end >= start ? (end - start) / 1000 : 0;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
