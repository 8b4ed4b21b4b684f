import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * One `aws:runShellScript` execution, the way amazon-ssm-agent runs it on Linux
 * (agent/executers, agent/plugins/pluginutil):
 * - the commands are written to `<dir>/_script.sh` and run by a shell in its own process group;
 * - stdout/stderr go to files `stdout`/`stderr` next to it; the result keeps the first 24,000 and
 *   8,000 bytes, cut with the agent's `--output truncated--` suffix;
 * - the invocation ends when the output pipes close (the agent waits on them too, so a
 *   background process that keeps stdout open keeps the command InProgress);
 * - timeout and cancel kill the whole group and report exit code 137. The agent sends SIGKILL
 *   at once; here SIGTERM comes first and SIGKILL `killGraceMs` later (0 = the agent's way).
 */

export type ScriptStatus = 'InProgress' | 'Success' | 'Failed' | 'Cancelling' | 'Cancelled' | 'TimedOut';

export interface ScriptResult {
  readonly status: Exclude<ScriptStatus, 'InProgress' | 'Cancelling'>;
  /** SSM's StatusDetails: Success, Failed, Cancelled, ExecutionTimedOut. */
  readonly statusDetails: string;
  readonly responseCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly endedAt: Date;
}

export interface ScriptOptions {
  /** Work directory of this execution (created; the caller removes it). */
  readonly dir: string;
  readonly script: string;
  readonly env: Record<string, string>;
  readonly timeoutSeconds: number;
  readonly workingDirectory?: string;
  readonly killGraceMs: number;
  /** The shell; the agent uses `sh`, which is bash on Amazon Linux. @default 'bash' */
  readonly shell?: string;
}

export const MAX_STDOUT_BYTES = 24_000;
export const MAX_STDERR_BYTES = 8_000;
const TRUNCATED_SUFFIX = '--output truncated--';
/** Exit code the agent reports for a command it stopped (128 + SIGKILL). */
export const STOPPED_EXIT_CODE = 137;

export class ScriptProcess {
  readonly startedAt = new Date();
  private state: ScriptStatus = 'InProgress';
  private outcome?: ScriptResult;
  private readonly stdout = new HeadBuffer(MAX_STDOUT_BYTES);
  private readonly stderr = new HeadBuffer(MAX_STDERR_BYTES);
  private stopReason?: 'Cancelled' | 'TimedOut';
  private timeoutTimer?: NodeJS.Timeout;
  /** Pending SIGKILL of a stopped group; settles when it has been sent. */
  private killSent?: Promise<void>;
  private resolveDone!: () => void;
  /** Resolves once the result is final and the output files are written. */
  readonly done = new Promise<void>((resolve) => (this.resolveDone = resolve));

  private constructor(
    private readonly child: ChildProcess,
    private readonly killGraceMs: number,
    private readonly files: { stdout: WriteStream; stderr: WriteStream },
  ) {
    child.stdout?.on('data', (chunk: Buffer) => {
      this.stdout.push(chunk);
      if (!files.stdout.writableEnded) files.stdout.write(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr.push(chunk);
      if (!files.stderr.writableEnded) files.stderr.write(chunk);
    });
    child.on('error', (error) => {
      // The shell could not start: the agent reports exit code 1 and the error on stderr.
      this.stderr.push(Buffer.from(`failed to run commands: ${error.message}\n`));
      this.finish('Failed', 'Failed', 1);
    });
    // 'exit' matters only when we stopped the group: the pipes may stay open in survivors.
    child.on('exit', () => {
      if (this.stopReason) this.finish(this.stopReason, stoppedDetails(this.stopReason), STOPPED_EXIT_CODE);
    });
    child.on('close', (code, signal) => {
      if (this.stopReason) return;
      // Go reports -1 for a process killed by a signal (someone else's kill).
      const exitCode = code ?? (signal ? -1 : 1);
      this.finish(exitCode === 0 ? 'Success' : 'Failed', exitCode === 0 ? 'Success' : 'Failed', exitCode);
    });
  }

  static async start(opts: ScriptOptions): Promise<ScriptProcess> {
    await mkdir(opts.dir, { recursive: true, mode: 0o700 });
    const scriptPath = join(opts.dir, '_script.sh');
    await writeFile(scriptPath, opts.script, { mode: 0o700 });
    const child = spawn(opts.shell ?? 'bash', [scriptPath], {
      cwd: opts.workingDirectory ?? opts.dir,
      env: opts.env,
      // Its own process group (setsid), so a timeout or cancel can kill every descendant.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const files = {
      stdout: createWriteStream(join(opts.dir, 'stdout')),
      stderr: createWriteStream(join(opts.dir, 'stderr')),
    };
    // The files are a debugging aid (the result keeps its own copy): a write error must not crash us.
    for (const file of Object.values(files)) file.on('error', () => undefined);
    const run = new ScriptProcess(child, opts.killGraceMs, files);
    run.timeoutTimer = setTimeout(() => run.stop('TimedOut'), opts.timeoutSeconds * 1000);
    return run;
  }

  get status(): ScriptStatus {
    return this.outcome?.status ?? this.state;
  }

  /** The final result; undefined while the script runs. */
  get result(): ScriptResult | undefined {
    return this.outcome;
  }

  /** CancelCommand: a no-op once the script has ended. */
  cancel(): void {
    if (!this.outcome) this.stop('Cancelled');
  }

  /** SIGKILL to the whole group, at once (a second Ctrl-C: nothing may wait). */
  killNow(): void {
    this.signalGroup('SIGKILL');
  }

  /** Stops the group if it still runs; resolves when the result is final and SIGKILL was sent. */
  async terminate(): Promise<void> {
    this.cancel();
    await this.done;
    await this.killSent;
  }

  private stop(reason: 'Cancelled' | 'TimedOut'): void {
    if (this.outcome || this.stopReason) return;
    this.stopReason = reason;
    if (reason === 'Cancelled') this.state = 'Cancelling';
    if (this.killGraceMs > 0) {
      this.signalGroup('SIGTERM');
      // Sent even when the shell is gone by then: it is what removes descendants that ignored SIGTERM.
      this.killSent = new Promise((resolve) =>
        setTimeout(() => {
          this.signalGroup('SIGKILL');
          resolve();
        }, this.killGraceMs),
      );
    } else {
      this.signalGroup('SIGKILL');
    }
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      // The shell had already exited (its pipes held open by a survivor): nothing more to wait for.
      this.finish(reason, stoppedDetails(reason), STOPPED_EXIT_CODE);
    }
  }

  private signalGroup(signal: NodeJS.Signals): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // ESRCH: the whole group is gone already.
    }
  }

  private finish(status: ScriptResult['status'], statusDetails: string, responseCode: number): void {
    if (this.outcome) return;
    this.outcome = {
      status,
      statusDetails,
      responseCode,
      stdout: this.stdout.text(),
      stderr: this.stderr.text(),
      endedAt: new Date(),
    };
    // Survivors may hold the pipes open; stop reading them, the result is final.
    if (this.stopReason) {
      this.child.stdout?.destroy();
      this.child.stderr?.destroy();
    }
    clearTimeout(this.timeoutTimer);
    const flushed = [this.files.stdout, this.files.stderr].map(
      (file) => new Promise<void>((resolve) => file.end(resolve)),
    );
    void Promise.all(flushed).then(() => this.resolveDone());
  }
}

function stoppedDetails(reason: 'Cancelled' | 'TimedOut'): string {
  return reason === 'TimedOut' ? 'ExecutionTimedOut' : 'Cancelled';
}

/** Keeps the first `limit` bytes of a stream, and renders them as the agent's `ReadPrefix`. */
export class HeadBuffer {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    if (this.size >= this.limit) return;
    const part = chunk.subarray(0, this.limit - this.size);
    this.chunks.push(part);
    this.size += part.length;
  }

  text(): string {
    return readPrefix(Buffer.concat(this.chunks), this.limit);
  }
}

/** pluginutil.StringPrefix: under the limit unchanged, else cut to leave room for the suffix. */
export function readPrefix(data: Buffer, limit: number): string {
  if (data.length < limit) return data.toString('utf8');
  return data.subarray(0, limit - TRUNCATED_SUFFIX.length).toString('utf8') + TRUNCATED_SUFFIX;
}
