/** What every suite of the benchmark is given. */
export interface SuiteContext {
  /** The quick subset (CI): fewest repetitions, smallest inputs; still every code path. */
  quick: boolean;
  /** Unique per run: labels the containers this run starts. */
  runId: string;
  /** The toolbox image (the local one, built from this machine's binaries). */
  image: string;
  /** Scratch directory of this run, removed at the end. */
  tmp: string;
  log(message: string): void;
}
