/**
 * The CLI's one place for Ctrl-C (and SIGTERM). `withInterrupt` runs `work` with an AbortSignal
 * that the first signal aborts, so the work can cancel what it started and clean up; a second
 * signal exits at once with 130, after the last-resort cleanups registered with `onForcedExit`
 * (synchronous: removing a container, a temporary folder), so even an impatient exit leaves
 * nothing behind that this process made.
 *
 * A capture takes tcpdump's habit instead (`withStopInterrupt`): the first signal STOPS it and
 * keeps what was captured (its `stop` signal), the second cancels it and discards everything
 * (`cancel`), and only a third exits at once as above.
 */

const lastResorts = new Set<() => void>();

/** Registers a synchronous cleanup for a forced exit; returns its removal (call it once cleaned). */
export function onForcedExit(cleanup: () => void): () => void {
  lastResorts.add(cleanup);
  return () => lastResorts.delete(cleanup);
}

/** Runs every registered last-resort cleanup, newest first; one failing does not stop the others. */
export function runForcedExitCleanups(): void {
  for (const cleanup of [...lastResorts].reverse()) {
    try {
      cleanup();
    } catch {
      // best effort: the process is about to exit
    }
  }
  lastResorts.clear();
}

export async function withInterrupt<T>(
  work: (signal: AbortSignal) => Promise<T>,
  options: { onSecondSignal?: () => void } = {},
): Promise<T> {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) {
      process.stderr.write('\ninterrupted again: removing what this run started, then exiting\n');
      runForcedExitCleanups();
      (options.onSecondSignal ?? (() => process.exit(130)))();
      return;
    }
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The signals of a capture's Ctrl-C: `stop` (first: end now, keep), `cancel` (second: discard). */
export interface CaptureInterrupts {
  stop: AbortSignal;
  cancel: AbortSignal;
}

export async function withStopInterrupt<T>(
  work: (interrupts: CaptureInterrupts) => Promise<T>,
  options: { onThirdSignal?: () => void } = {},
): Promise<T> {
  const stop = new AbortController();
  const cancel = new AbortController();
  // The work says what each of the first two does (it knows the session); the third is ours.
  const onSignal = () => {
    if (!stop.signal.aborted) {
      stop.abort();
    } else if (!cancel.signal.aborted) {
      cancel.abort();
    } else {
      process.stderr.write('\ninterrupted a third time: removing what this run started, then exiting\n');
      runForcedExitCleanups();
      (options.onThirdSignal ?? (() => process.exit(130)))();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work({ stop: stop.signal, cancel: cancel.signal });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
