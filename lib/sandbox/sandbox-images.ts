import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { DebugTaskError } from '../domain/errors';
import { TOOLBOX_DIR } from '../infra/paths';
import {
  LOCAL_TOOLBOX_IMAGE,
  ensureLocalToolboxImage,
  gainedTool,
  imageTools,
  missingHostBinaries,
  searchDirs,
} from './local-image';

/**
 * The images of the local sandbox (`debug-task demo`, `local`, the tests): one choice, made here.
 *
 * 1. An image built earlier is reused: the one from the Dockerfile (tagged by the content hash of its
 *    build context, so a changed Dockerfile is built again), else the one from this machine's binaries
 *    (built again when the machine has gained a tool since).
 * 2. Otherwise toolbox/Dockerfile is built, the production image, when the engine has its base images
 *    or can pull them. A registry that does not answer within `registryAnswerMs` is given up at once
 *    (an offline machine pays that, or less: a failed name lookup ends the pull in milliseconds).
 * 3. Otherwise the image is made from this machine's binaries (lib/sandbox/local-image.ts).
 * 4. When neither works, one SANDBOX_UNAVAILABLE names both remedies.
 *
 * The demo's target tasks run `busybox httpd`: the image from this machine's binaries has busybox; the
 * Dockerfile's has not, so the target is that image plus Debian's busybox (built once, beside it).
 */

export type ToolboxSource = 'dockerfile' | 'host-binaries';

export interface SandboxImages {
  /** The image the host runner starts as the toolbox. */
  readonly toolbox: string;
  /** The image of the demo's (and the tests') target tasks: it has /bin/busybox (sh, httpd). */
  readonly target: string;
  readonly source: ToolboxSource;
  /** False when the images were there already. */
  readonly built: boolean;
  /** The tools the toolbox carries (its `debug-task.tools` label). */
  readonly tools: readonly string[];
}

export interface SandboxImageOptions {
  /**
   * The Dockerfile's build context.
   *
   * @default toolbox/ of this package
   */
  readonly dockerfileDir?: string;
  /**
   * Tag of the image made from this machine's binaries.
   *
   * @default LOCAL_TOOLBOX_IMAGE
   */
  readonly localTag?: string;
  /**
   * How long a registry may take to start answering a pull of a base image before the Dockerfile
   * path is given up (the download itself may then take as long as it needs).
   *
   * @default REGISTRY_ANSWER_MS
   */
  readonly registryAnswerMs?: number;
  /**
   * Where this machine's binaries are looked for.
   *
   * @default PATH, then the usual bin and sbin directories
   */
  readonly hostBinaryDirs?: readonly string[];
  /** Told, in one line, what is being built before a build starts (the CLI prints it on stderr). */
  readonly onProgress?: (line: string) => void;
}

/** A registry that answers at all answers a manifest request within a second or two. */
export const REGISTRY_ANSWER_MS = 15_000;
/** Longest a pull may take once the registry answered, and longest a build may take. */
const PULL_MS = 10 * 60_000;
const BUILD_MS = 15 * 60_000;

const DOCKERFILE_REPOSITORY = 'debug-task-toolbox';
const TARGET_REPOSITORY = 'debug-task-demo-target';

/** The demo target's layer over the Dockerfile's image: busybox (sh, httpd) from the same Debian. */
const TARGET_DOCKERFILE = (toolbox: string) =>
  [
    `FROM ${toolbox}`,
    'RUN apt-get update \\',
    ' && apt-get install -y --no-install-recommends busybox \\',
    ' && rm -rf /var/lib/apt/lists/*',
    'LABEL debug-task.demo-target=true',
    '',
  ].join('\n');

export async function ensureSandboxImages(options: SandboxImageOptions = {}): Promise<SandboxImages> {
  const dockerfileDir = options.dockerfileDir ?? TOOLBOX_DIR;
  const localTag = options.localTag ?? LOCAL_TOOLBOX_IMAGE;
  const progress = options.onProgress ?? (() => undefined);
  const tags = await dockerfileTags(dockerfileDir);

  const fromDockerfile = tags && (await builtFromDockerfile(tags));
  if (fromDockerfile) return fromDockerfile;
  // An image from this machine's binaries means the Dockerfile could not be built here: it is
  // reused, or built again from the binaries when the machine has gained a tool since.
  const localTools = await imageTools(localTag);
  if (localTools) {
    const dirs = options.hostBinaryDirs ?? searchDirs();
    if (!(await gainedTool(localTools, dirs))) return hostBinaries(localTag, localTools, false);
    const local = await ensureLocalToolboxImage({
      tag: localTag,
      dirs,
      rebuild: true,
      onBuild: (tools) =>
        progress(
          `building the toolbox image ${localTag} again from this machine's binaries (${tools.join(', ')}): ` +
            'it has gained a tool since the image was built',
        ),
    });
    return hostBinaries(local.image, local.tools, local.built);
  }

  const bases = await readBaseImages(dockerfileDir);
  let dockerfileFailure: string;
  try {
    if (typeof bases === 'string' || !tags)
      throw new Error(typeof bases === 'string' ? bases : 'no build context');
    const answerMs = options.registryAnswerMs ?? REGISTRY_ANSWER_MS;
    return await buildFromDockerfile(dockerfileDir, bases, tags, answerMs, progress);
  } catch (error) {
    dockerfileFailure = (error as Error).message;
  }

  const dirs = options.hostBinaryDirs ?? searchDirs();
  const missing = await missingHostBinaries(undefined, dirs);
  if (missing.length > 0) {
    throw neitherImage(typeof bases === 'string' ? [] : bases, dockerfileFailure, missing);
  }
  const local = await ensureLocalToolboxImage({
    tag: localTag,
    dirs,
    onBuild: (tools) =>
      progress(
        `building the toolbox image ${localTag} from this machine's binaries (${tools.join(', ')}), ` +
          `as toolbox/Dockerfile cannot be built here: ${dockerfileFailure}`,
      ),
  });
  return hostBinaries(local.image, local.tools, local.built);
}

/** Where the toolbox image came from, for a progress line. */
export function describeSource(images: SandboxImages): string {
  return images.source === 'dockerfile' ? 'from toolbox/Dockerfile' : "from this machine's binaries";
}

function hostBinaries(image: string, tools: readonly string[], built: boolean): SandboxImages {
  return { toolbox: image, target: image, source: 'host-binaries', built, tools };
}

interface DockerfileTags {
  readonly toolbox: string;
  readonly target: string;
}

/**
 * Tags named after the content of the build context: an edited Dockerfile gets new images.
 * Undefined when the context cannot be read (readBaseImages then says why).
 */
async function dockerfileTags(dir: string): Promise<DockerfileTags | undefined> {
  const hash = createHash('sha256');
  let files: string[];
  try {
    files = (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
      .sort();
  } catch {
    return undefined;
  }
  for (const file of files) {
    hash.update(`${file}\0`);
    hash.update(await readFile(join(dir, file)));
    hash.update('\0');
  }
  const version = `df-${hash.digest('hex').slice(0, 12)}`;
  return { toolbox: `${DOCKERFILE_REPOSITORY}:${version}`, target: `${TARGET_REPOSITORY}:${version}` };
}

async function builtFromDockerfile(tags: DockerfileTags): Promise<SandboxImages | undefined> {
  const tools = await imageTools(tags.toolbox);
  if (!tools) return undefined;
  const target = tools.includes('busybox') ? tags.toolbox : tags.target;
  if (target !== tags.toolbox && !(await imageTools(target))) return undefined;
  return { toolbox: tags.toolbox, target, source: 'dockerfile', built: false, tools };
}

async function buildFromDockerfile(
  dir: string,
  bases: readonly string[],
  tags: DockerfileTags,
  registryAnswerMs: number,
  progress: (line: string) => void,
): Promise<SandboxImages> {
  const missing: string[] = [];
  for (const base of bases) if (!(await imageTools(base))) missing.push(base);
  const what = `the toolbox image ${tags.toolbox} from toolbox/Dockerfile`;
  if (missing.length === 0) progress(`building ${what} (once; a minute or two)`);
  for (const [i, base] of missing.entries()) {
    await pullImage(base, {
      answerWithinMs: registryAnswerMs,
      // One line, once the registry has answered: from here on this is the path taken.
      onAnswered:
        i === 0
          ? () => progress(`pulling ${missing.join(', ')} and building ${what} (once; a minute or two)`)
          : undefined,
    });
  }
  await dockerBuild(['-t', tags.toolbox, dir]);
  const tools = (await imageTools(tags.toolbox)) ?? [];
  let target = tags.toolbox;
  if (!tools.includes('busybox')) {
    await dockerBuild(['-t', tags.target, '-'], TARGET_DOCKERFILE(tags.toolbox));
    target = tags.target;
  }
  return { toolbox: tags.toolbox, target, source: 'dockerfile', built: true, tools };
}

/** The Dockerfile's base images, or why it cannot be read. */
async function readBaseImages(dir: string): Promise<string[] | string> {
  try {
    return baseImages(await readFile(join(dir, 'Dockerfile'), 'utf8'));
  } catch (error) {
    return `no Dockerfile can be read in ${dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
}

/**
 * The images a Dockerfile builds FROM, in order: not `scratch`, not an earlier stage. A FROM that
 * uses a build argument cannot be known before the build: the build itself then pulls it.
 */
export function baseImages(dockerfile: string): string[] {
  const stages = new Set<string>();
  const bases: string[] = [];
  for (const line of dockerfile.split('\n')) {
    const match = /^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$/i.exec(line);
    if (!match) continue;
    const [, image, stage] = match;
    if (
      image !== 'scratch' &&
      !image.includes('$') &&
      !stages.has(image.toLowerCase()) &&
      !bases.includes(image)
    ) {
      bases.push(image);
    }
    if (stage) stages.add(stage.toLowerCase());
  }
  return bases;
}

/**
 * `docker pull`, given up when the registry has not started answering within `answerWithinMs`: the
 * CLI prints its first line (`<tag>: Pulling from <repository>`) once it has the manifest. A name that
 * does not resolve fails in milliseconds; a network that drops packets would otherwise hold the
 * pull for minutes. Rejects with an Error whose message says why, in one line.
 */
export function pullImage(
  image: string,
  options: {
    answerWithinMs: number;
    totalMs?: number;
    onAnswered?: () => void;
    /** Where `docker` is found and which engine it talks to; default: this process's environment. */
    env?: NodeJS.ProcessEnv;
  },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', ['pull', image], { stdio: ['ignore', 'pipe', 'pipe'], env: options.env });
    let stderr = '';
    let answered = false;
    let gaveUp: string | undefined;
    const giveUp = (why: string) => {
      gaveUp = why;
      child.kill('SIGKILL');
    };
    let timer = setTimeout(
      () =>
        giveUp(`the registry did not answer a pull of ${image} within ${options.answerWithinMs / 1000} s`),
      options.answerWithinMs,
    );
    child.stdout.on('data', () => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      timer = setTimeout(
        () => giveUp(`the pull of ${image} took over ${(options.totalMs ?? PULL_MS) / 1000} s`),
        options.totalMs ?? PULL_MS,
      );
      options.onAnswered?.();
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`docker pull ${image} could not run: ${error.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0 && !gaveUp) return resolve();
      const said = stderr.trim().split('\n').at(-1)?.trim();
      reject(new Error(gaveUp ?? `docker pull ${image} failed: ${said || `exit ${code}`}`));
    });
  });
}

/** `docker build -q`; the Dockerfile from `stdin` when the context is `-`. Rejects with its last error line. */
function dockerBuild(args: string[], stdin?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', ['build', '-q', ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), BUILD_MS);
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.stdin.end(stdin ?? '');
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`docker build could not run: ${error.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      // The legacy builder's deprecation notice is not the reason: the last other line is.
      const said = stderr
        .trim()
        .split('\n')
        .filter((line) => line.trim() && !/DEPRECATED|legacy builder|buildx|BuildKit/i.test(line))
        .at(-1);
      reject(new Error(`docker build failed: ${said?.trim() ?? `exit ${code}`}`));
    });
  });
}

function neitherImage(
  bases: readonly string[],
  dockerfileFailure: string,
  missing: readonly { name: string; apt: string }[],
): DebugTaskError {
  const names = missing.map((binary) => binary.name).join(', ');
  const packages = [...new Set(missing.map((binary) => binary.apt))].join(' ');
  const pull = bases.length > 0 ? bases.join(' and ') : 'the base image of toolbox/Dockerfile';
  return new DebugTaskError(
    'SANDBOX_UNAVAILABLE',
    `No toolbox image can be made on this machine: toolbox/Dockerfile cannot be built (${dockerfileFailure}), ` +
      `and the image made from this machine's binaries needs ${names}, which ${missing.length > 1 ? 'are' : 'is'} missing.`,
    {
      hint:
        `Either let the Docker engine reach its registry so that it can pull ${pull} ` +
        `(or load that image from elsewhere: \`docker load\`), or install the tools: ` +
        `\`sudo apt-get install ${packages}\` (Debian/Ubuntu).`,
      details: { dockerfile: dockerfileFailure, missingBinaries: missing.map((binary) => binary.name) },
    },
  );
}
