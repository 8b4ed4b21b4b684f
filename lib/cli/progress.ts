/**
 * Progress on stderr: a live line (phase and countdown) on a TTY, one line per phase change
 * otherwise (so CI logs still show where a session is). Never on stdout: stdout is for results.
 */
export interface Progress {
  update(phase: string, secondsLeft?: number): void;
  note(message: string): void;
  done(): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr, quiet = false): Progress {
  const live = stream.isTTY === true && !quiet;
  let lastPhase = '';
  let lineOpen = false;
  const clear = () => {
    if (lineOpen) stream.write('\r\x1b[2K');
    lineOpen = false;
  };
  return {
    update(phase, secondsLeft) {
      if (quiet) return;
      const left = secondsLeft === undefined ? '' : ` ${formatSeconds(Math.max(0, secondsLeft))} left`;
      if (live) {
        stream.write(`\r\x1b[2K${phase}${left}`);
        lineOpen = true;
      } else if (phase !== lastPhase) {
        stream.write(`${phase}\n`);
      }
      lastPhase = phase;
    },
    note(message) {
      if (quiet) return;
      clear();
      stream.write(`${message}\n`);
    },
    done() {
      clear();
    },
  };
}

function formatSeconds(seconds: number): string {
  const s = Math.ceil(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
