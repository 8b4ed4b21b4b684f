import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, copyFile, mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { DebugTaskError } from '../domain/errors';
import { docker } from './docker';

/**
 * The toolbox image for machines without a registry: `docker import` of a root filesystem made
 * from this machine's own binaries (busybox for the shell and coreutils, tcpdump, ngrep, strace,
 * ss, ip, ps) and the shared libraries they load. It doubles as the demo's target image
 * (`busybox httpd`). Production uses toolbox/Dockerfile instead.
 */

export const LOCAL_TOOLBOX_IMAGE = 'debug-task-toolbox:local';
/** The label naming the tools an image carries (toolbox/Dockerfile sets it too). */
export const TOOLS_LABEL = 'debug-task.tools';

const run = promisify(execFile);

export interface HostBinary {
  /** Name in the image and in the tools list. */
  readonly name: string;
  /** Where it goes in the image. */
  readonly dest: string;
  readonly required: boolean;
  /** Debian package that brings it. */
  readonly apt: string;
}

const BINARIES: readonly HostBinary[] = [
  { name: 'busybox', dest: '/bin/busybox', required: true, apt: 'busybox-static' },
  { name: 'tcpdump', dest: '/usr/bin/tcpdump', required: true, apt: 'tcpdump' },
  { name: 'ngrep', dest: '/usr/bin/ngrep', required: false, apt: 'ngrep' },
  { name: 'strace', dest: '/usr/bin/strace', required: false, apt: 'strace' },
  { name: 'ss', dest: '/usr/bin/ss', required: false, apt: 'iproute2' },
  { name: 'ip', dest: '/usr/sbin/ip', required: false, apt: 'iproute2' },
  { name: 'ps', dest: '/usr/bin/ps', required: false, apt: 'procps' },
  { name: 'conntrack', dest: '/usr/sbin/conntrack', required: false, apt: 'conntrack' },
];

/** Searched after PATH: root's tools are in sbin, which a user's PATH may lack. */
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export interface LocalImage {
  image: string;
  /** False when the image was already there. */
  built: boolean;
  /** Binaries the image carries (busybox first). */
  tools: string[];
}

/**
 * The image from this machine's binaries, built when it is not there (or `rebuild`), and built again
 * when this machine has gained a tool the image lacks: a demo run before `ngrep` or `strace` was
 * installed must not leave them out of every later session (and out of `npm test`'s). Most callers
 * want `ensureSandboxImages` (lib/sandbox/sandbox-images.ts), which builds toolbox/Dockerfile where
 * it can.
 */
export async function ensureLocalToolboxImage(
  opts: {
    tag?: string;
    rebuild?: boolean;
    /** Where the binaries are looked for; default: PATH, then the usual bin and sbin directories. */
    dirs?: readonly string[];
    onBuild?: (tools: string[]) => void;
  } = {},
): Promise<LocalImage> {
  const image = opts.tag ?? LOCAL_TOOLBOX_IMAGE;
  const dirs = opts.dirs ?? searchDirs();
  if (!opts.rebuild) {
    const tools = await imageTools(image);
    if (tools && !(await gainedTool(tools, dirs))) return { image, built: false, tools };
  }
  const found = await findHostBinaries(dirs);
  opts.onBuild?.(found.map((binary) => binary.name));
  const dir = await mkdtemp(join(tmpdir(), 'debug-task-image-'));
  try {
    const rootfs = join(dir, 'rootfs');
    await buildRootfs(rootfs, found);
    const tarball = join(dir, 'rootfs.tar');
    await run('tar', ['-C', rootfs, '--numeric-owner', '--owner=0', '--group=0', '-cf', tarball, '.']);
    const tools = found.map((binary) => binary.name);
    const changes = [
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      `LABEL ${TOOLS_LABEL}=${tools.join(',')}`,
      'CMD ["/bin/sh"]',
    ].flatMap((change) => ['--change', change]);
    await docker(['import', ...changes, tarball, image], 180_000);
    return { image, built: true, tools };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The binaries an image carries (its TOOLS_LABEL; [] without one), or undefined when it is not there. */
export async function imageTools(image: string): Promise<string[] | undefined> {
  try {
    const label = await docker([
      'image',
      'inspect',
      '--format',
      `{{index .Config.Labels "${TOOLS_LABEL}"}}`,
      image,
    ]);
    return label === '<no value>' ? [] : label.split(',').filter(Boolean);
  } catch {
    return undefined; // not there
  }
}

/**
 * The binaries of the image this machine lacks, each with the Debian package that brings it: of
 * `names`, or of the required ones (without which no image is built).
 */
export async function missingHostBinaries(
  names?: readonly string[],
  dirs: readonly string[] = searchDirs(),
): Promise<HostBinary[]> {
  const missing: HostBinary[] = [];
  for (const binary of BINARIES) {
    const wanted = names ? names.includes(binary.name) : binary.required;
    if (wanted && !(await findExecutable(binary.name, dirs))) missing.push(binary);
  }
  return missing;
}

/** PATH, then the usual bin and sbin directories. */
export function searchDirs(): string[] {
  return [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
}

async function findHostBinaries(dirs: readonly string[]): Promise<(HostBinary & { source: string })[]> {
  const found: (HostBinary & { source: string })[] = [];
  const missing: HostBinary[] = [];
  for (const binary of BINARIES) {
    const source = await findExecutable(binary.name, dirs);
    if (source) found.push({ ...binary, source });
    else if (binary.required) missing.push(binary);
  }
  if (missing.length > 0) {
    const names = missing.map((binary) => binary.name).join(', ');
    throw new DebugTaskError(
      'SANDBOX_UNAVAILABLE',
      `The local toolbox image is built from this machine's binaries, and ${names} ${missing.length > 1 ? 'are' : 'is'} missing.`,
      {
        hint: `Install them: sudo apt-get install ${[...new Set(missing.map((binary) => binary.apt))].join(' ')}`,
      },
    );
  }
  return found;
}

/** Whether this machine now has one of the image's binaries that `tools` (an image's) lacks. */
export async function gainedTool(tools: readonly string[], dirs: readonly string[]): Promise<boolean> {
  for (const binary of BINARIES) {
    if (!tools.includes(binary.name) && (await findExecutable(binary.name, dirs))) return true;
  }
  return false;
}

async function findExecutable(name: string, dirs: readonly string[]): Promise<string | undefined> {
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return await realpath(candidate);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

async function buildRootfs(rootfs: string, binaries: (HostBinary & { source: string })[]): Promise<void> {
  for (const dir of ['bin', 'usr/bin', 'usr/sbin', 'etc', 'root', 'out', 'www', 'proc', 'sys', 'dev']) {
    await mkdir(join(rootfs, dir), { recursive: true });
  }
  await mkdir(join(rootfs, 'tmp'), { mode: 0o1777 });
  const libraries = new Set<string>();
  for (const binary of binaries) {
    await copyInto(rootfs, binary.source, binary.dest);
    for (const library of await sharedLibraries(binary.source)) libraries.add(library);
  }
  for (const library of libraries) await copyInto(rootfs, library, library);
  await linkBusyboxApplets(rootfs, binaries);
  await writeEtc(rootfs);
  await writeFile(join(rootfs, 'www', 'index.html'), 'hello from the debug-task local image\n');
}

async function copyInto(rootfs: string, source: string, dest: string): Promise<void> {
  const target = join(rootfs, dest);
  await mkdir(dirname(target), { recursive: true });
  await copyFile(source, target); // follows symlinks: the image gets the file itself
}

/** Paths `ldd` resolves for a binary, the dynamic loader included; none for a static binary. */
async function sharedLibraries(binary: string): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('ldd', [binary]));
  } catch {
    return []; // "not a dynamic executable": busybox-static
  }
  const paths: string[] = [];
  for (const line of stdout.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (match) paths.push(match[1]);
  }
  return paths;
}

/** sh, timeout, head, httpd, wget, sleep, ...: every applet that no real binary provides. */
async function linkBusyboxApplets(rootfs: string, binaries: HostBinary[]): Promise<void> {
  const busybox = binaries.find((binary) => binary.name === 'busybox');
  if (!busybox) return;
  const { stdout } = await run(join(rootfs, busybox.dest), ['--list']);
  const real = new Set(binaries.map((binary) => binary.name));
  for (const applet of stdout.split('\n').map((line) => line.trim())) {
    if (!applet || applet === 'busybox' || real.has(applet) || applet.includes('/')) continue;
    await symlink('busybox', join(rootfs, 'bin', applet));
  }
}

async function writeEtc(rootfs: string): Promise<void> {
  const files: Record<string, string> = {
    passwd: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    group: 'root:x:0:\nnogroup:x:65534:\n',
    'nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
  };
  for (const [name, content] of Object.entries(files)) await writeFile(join(rootfs, 'etc', name), content);
}
