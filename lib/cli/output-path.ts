import { constants, createReadStream } from 'node:fs';
import { access, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DebugTaskError, quoted } from '../domain/errors';
import { fileSink, findWireshark, stdoutSink, wiresharkSink, type FollowSink } from './follow';
import { printOutcome, type Output } from './output';
import type { SessionOutcome } from './session-runner';

/**
 * Where an artifact goes (`-o PATH`, `-w PATH`, `-o -`), checked before anything starts: a capture
 * that cannot be written must cost the user half a second and exit 2, not a whole session and a
 * misleading error at the end. Every command that writes an artifact (the main command, a service's
 * folder, demo, local, fetch) goes through `checkOutput`.
 */

/** Where the artifact goes: a file (undefined: the default name in the current folder) or stdout. */
export type OutputChoice =
  { kind: 'stdout' } | { kind: 'file'; path?: string } | { kind: 'folder'; path?: string };

/** Words of another CLI's `--output` (the AWS CLI's `--output json`) that would make a file of that name. */
const FORMAT_WORDS = ['json', 'text', 'table', 'yaml', 'yml', 'csv'];

/** `-o` and `-w` (tcpdump's habit) are one flag: both given, they must agree. */
export function outputFlag(flags: { output?: string; write?: string }): string | undefined {
  if (flags.output !== undefined && flags.write !== undefined && flags.output !== flags.write) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `-o ${quoted(flags.output)} and -w ${quoted(flags.write)} both say where the artifact goes.`,
      { hint: 'Give one of them (-w is -o under tcpdump’s name).' },
    );
  }
  return flags.output ?? flags.write;
}

export interface CheckOutputOptions {
  /** A file (one task), a folder (a service: one file per task), or either (fetch: known only later). */
  expect: 'file' | 'folder' | 'file-or-folder';
  /** --json also writes to stdout. */
  json: boolean;
  /** File extension of the artifact, for the hints; 'pcap' when unknown. */
  extension?: string;
}

/** Refuses, with exit 2, every output that cannot work; says what to type instead. */
export async function checkOutput(
  output: string | undefined,
  options: CheckOutputOptions,
): Promise<OutputChoice> {
  const ext = options.extension ?? 'pcap';
  if (output === '-') {
    if (options.expect === 'folder') {
      throw bad(
        `-o - writes one artifact to stdout, but a service's session makes one file per task.`,
        'Give -o a folder (default ./debug-task-<session>/).',
      );
    }
    if (options.json) {
      throw bad(
        '--json and -o - both write to stdout.',
        'Drop --json (with -o - the summary goes to stderr), or give -o a file.',
      );
    }
    return { kind: 'stdout' };
  }
  if (output === undefined) {
    await writableFolder(process.cwd(), 'the current folder', `-o /tmp/capture.${ext}`);
    return { kind: options.expect === 'folder' ? 'folder' : 'file' };
  }
  if (output.trim() === '')
    throw bad('-o was given an empty path.', `Give a file such as -o capture.${ext}.`);
  if (FORMAT_WORDS.includes(output.toLowerCase())) {
    throw bad(
      `-o ${quoted(output)} would write the capture to a file named ${quoted(output)}: -o is where the artifact goes, not an output format.`,
      `For one JSON line on stdout add --json (the AWS CLI's --output json); to name a file ${output}, write -o ./${output}.`,
    );
  }
  const path = resolvePath(output);
  const existing = await stat(path).catch(() => undefined);
  const looksLikeFolder = output.endsWith('/') || existing?.isDirectory() === true;
  if (options.expect === 'file' && looksLikeFolder) {
    throw bad(
      `-o ${quoted(output)} is a folder; one task's artifact is one file.`,
      `Name the file in it, e.g. -o ${join(output, `capture.${ext}`)}.`,
    );
  }
  if (options.expect === 'folder' && existing && !existing.isDirectory()) {
    throw bad(
      `-o ${quoted(output)} is a file; a service's session writes a folder of files.`,
      'Give -o a folder, or a path that does not exist yet.',
    );
  }
  const folder = looksLikeFolder && existing ? path : dirname(path);
  if (!existing || !looksLikeFolder) {
    await writableFolder(folder, `the folder ${quoted(folder)}`, `mkdir -p ${folder}`);
  }
  if (existing && !existing.isDirectory()) {
    await access(path, constants.W_OK).catch(() => {
      throw bad(
        `-o ${quoted(output)} exists and cannot be written.`,
        `Give another path, e.g. -o ${join(dirname(output), `new-${basename(output)}`)}.`,
      );
    });
  }
  return looksLikeFolder || options.expect === 'folder' ? { kind: 'folder', path } : { kind: 'file', path };
}

async function writableFolder(folder: string, what: string, fix: string): Promise<void> {
  const found = await stat(folder).catch(() => undefined);
  if (!found)
    throw bad(
      `${capitalize(what)} does not exist, so the artifact could not be written there.`,
      `Create it first (\`${fix}\`), or give -o another path.`,
    );
  if (!found.isDirectory())
    throw bad(`${capitalize(what)} is not a folder.`, 'Give -o a path inside a folder.');
  await access(folder, constants.W_OK).catch(() => {
    throw bad(
      `${capitalize(what)} cannot be written by this user.`,
      `Give -o a path where you can write, e.g. -o /tmp/capture.pcap.`,
    );
  });
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function bad(message: string, hint: string): DebugTaskError {
  return new DebugTaskError('INVALID_ARGUMENT', message, { hint });
}

/**
 * `-o -`: the artifact is downloaded and both sha256s checked in a scratch folder first, so nothing
 * unverified ever reaches the pipe; then its bytes go to `out`. A reader that stops early (`| head`)
 * is not an error. `produce` writes the artifact at the path it is given and returns what to report.
 */
export async function deliverToStdout<T>(
  produce: (path: string) => Promise<T>,
  out: NodeJS.WritableStream,
  pathOf: (result: T) => string,
): Promise<T> {
  const scratch = await mkdtemp(join(tmpdir(), 'debug-task-stdout-'));
  try {
    const result = await produce(join(scratch, 'artifact'));
    try {
      await pipeline(createReadStream(pathOf(result)), out, { end: false });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EPIPE') throw error;
    }
    return result;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Runs `produce` (a session, a fetch, a local run) with the path its artifact goes to, then prints
 * the summary: on stdout, or on stderr when the artifact itself went to stdout.
 */
export async function produceAndPrint(
  choice: OutputChoice,
  output: Output,
  produce: (path: string | undefined) => Promise<SessionOutcome>,
): Promise<void> {
  if (choice.kind !== 'stdout') {
    printOutcome(output, await produce(choice.path));
    return;
  }
  const outcome = await deliverToStdout(produce, output.out, (o) => o.artifact.path);
  printOutcome({ ...output, out: output.err }, { ...outcome, artifact: { ...outcome.artifact, path: '-' } });
}

/** Where a followed stream goes, decided before anything starts: stdout, a file, or Wireshark. */
export type FollowTarget =
  { kind: 'stdout' } | { kind: 'file'; path: string } | { kind: 'wireshark'; command: string };

/**
 * --follow needs a stream to write to: -o - or -o FILE (a default name would need the session's id,
 * which does not exist yet), or --wireshark (then no -o: the stream goes to Wireshark). Refused
 * with exit 2 before anything starts.
 */
export async function checkFollow(
  choice: OutputChoice,
  flags: { wireshark?: boolean; output?: string; write?: string },
  format: 'pcap' | 'text',
): Promise<FollowTarget> {
  if (flags.wireshark) {
    if (outputFlag(flags) !== undefined) {
      throw bad(
        '--wireshark and -o both say where the stream goes.',
        'Drop -o (Wireshark shows the stream), or drop --wireshark.',
      );
    }
    if (format !== 'pcap') {
      throw bad(
        '--wireshark reads packets, and this tool writes text.',
        'Use --tool tcpdump, or --follow -o - to read the text as it comes.',
      );
    }
    return { kind: 'wireshark', command: await findWireshark() };
  }
  if (choice.kind === 'stdout') return { kind: 'stdout' };
  if (choice.kind === 'file' && choice.path !== undefined) return { kind: 'file', path: choice.path };
  throw bad(
    '--follow streams the capture to -o - or to -o FILE, and none was given.',
    'Add -o - (e.g. | tcpdump -r -) or -o capture.pcap, or --wireshark.',
  );
}

/**
 * A followed session: its stream written to the target while it runs, then the summary (on stderr
 * when the stream went to stdout). A stream that failed its checks keeps no file under its name.
 */
export async function followAndPrint(
  target: FollowTarget,
  output: Output,
  produce: (sink: FollowSink) => Promise<SessionOutcome>,
): Promise<void> {
  const sink =
    target.kind === 'stdout'
      ? stdoutSink(output.out)
      : target.kind === 'file'
        ? fileSink(target.path)
        : wiresharkSink(target.command);
  let outcome: SessionOutcome;
  try {
    outcome = await produce(sink);
  } catch (error) {
    await sink.close(false);
    throw error;
  }
  await sink.close(true);
  printOutcome(target.kind === 'stdout' ? { ...output, out: output.err } : output, outcome);
}
