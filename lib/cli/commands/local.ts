import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { DebugTaskError, EXIT } from '../../domain/errors';
import { localVerdict } from '../../session/verdict';
import { HOST_PARAMS } from '../../domain/params';
import { newSessionId } from '../../domain/session';
import { TOOLS, type ToolName } from '../../domain/tools';
import { runHostRunner } from '../../host/local-runner';
import { assertDockerAvailable, docker } from '../../sandbox/docker';
import { unpackLocalArtifact } from '../download';
import { withInterrupt } from '../interrupt';
import type { LocalFlags } from '../options';
import { printJson, type Output } from '../output';
import { createProgress } from '../progress';
import { buildSessionRequest, precheckFilter } from '../request';
import { formatBytes } from '../units';
import { DEFAULT_GRACE_SECONDS } from '../../domain/session';

/**
 * debug-task local <container>: the host runner, exactly as SSM would run it, against a container
 * of the local Docker engine. No AWS at all: the artifact stays on this machine.
 */
export async function localCommand(container: string, flags: LocalFlags, output: Output): Promise<number> {
  const request = buildSessionRequest({ task: '00000000000000000000000000000000', cluster: 'local' }, flags);
  await precheckFilter(request);
  await assertDockerAvailable();
  const containerId = await docker(['inspect', '-f', '{{.Id}}', container]).catch((cause) => {
    throw new DebugTaskError(
      'CONTAINER_NOT_FOUND',
      `No container "${container}" on the local Docker engine.`,
      {
        hint: 'Name a running container: `docker ps`.',
        cause,
      },
    );
  });
  const progress = createProgress(process.stderr);
  let image = flags.image;
  if (!image) {
    const { ensureLocalToolboxImage } = await import('../../sandbox/local-image');
    const local = await ensureLocalToolboxImage();
    image = local.image;
    if (local.built) progress.note(`built the local toolbox image ${image} from this machine's binaries`);
  }
  const tool = request.tool as ToolName;
  const duration = request.durationSeconds!;
  const sessionId = newSessionId();
  const home = await mkdtemp(join(tmpdir(), 'debug-task-local-'));
  try {
    progress.note(`session ${sessionId}: ${tool} on ${container} for ${duration}s`);
    const run = await withInterrupt((signal) =>
      runHostRunner(
        {
          action: 'run',
          sessionId,
          containerId,
          tool,
          durationSeconds: String(duration),
          maxBytes: String(request.maxBytes),
          filter: request.filter ?? '',
          iface: request.iface ?? '',
          snaplen: HOST_PARAMS.snaplen.default,
          allowHostNetwork: request.allowHostNetwork === true ? 'true' : 'false',
          allowHostPid: request.allowHostPid === true ? 'true' : 'false',
          image,
          uploadUrl: '',
          expiresAt: String(Math.floor(Date.now() / 1000) + duration + DEFAULT_GRACE_SECONDS),
        },
        { home, signal, onStderr: (line) => progress.note(line) },
      ),
    );
    const { manifest, artifact } = localVerdict(run.manifest, {
      exitCode: run.exitCode,
      stderrTail: run.stderr.slice(-2000),
      instanceId: 'this machine',
    });
    const path = resolvePath(flags.output ?? `debug-task-${sessionId}.${TOOLS[tool].extension}`);
    await unpackLocalArtifact(artifact.hostPath, artifact, path);
    const result = {
      sessionId,
      status: 'SUCCEEDED',
      tool: manifest.tool,
      artifact: { ...artifact, path },
    };
    if (output.json) printJson(output, result);
    else
      output.out.write(
        `session   ${sessionId}  SUCCEEDED\nartifact  ${path}\n          ${formatBytes(artifact.bytes)} ${
          artifact.format
        }, sha256 ${artifact.sha256} verified\n`,
      );
    return EXIT.OK;
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
