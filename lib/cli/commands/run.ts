import { DebugTaskError, EXIT } from '../../domain/errors';
import { clientFor } from '../api-discovery';
import { withInterrupt } from '../interrupt';
import type { RunFlags } from '../main';
import { printJson, printOutcome, type Output } from '../output';
import { createProgress } from '../progress';
import { buildSessionRequest, precheckFilter } from '../request';
import { runSession } from '../session-runner';

/** debug-task <task> --tool NAME ...: one session through the deployed API. */
export async function runCommand(task: string | undefined, flags: RunFlags, output: Output): Promise<number> {
  if (!task) {
    throw new DebugTaskError('INVALID_ARGUMENT', 'No task was given.', {
      hint: 'Usage: debug-task <taskArn> --tool tcpdump (or a task id with --cluster); `debug-task --help` for more.',
    });
  }
  if (!flags.tool) {
    throw new DebugTaskError('INVALID_ARGUMENT', 'No --tool was given.', {
      hint: 'Add --tool tcpdump (or ngrep, strace, snapshot); `debug-task tools` lists them.',
    });
  }
  const request = buildSessionRequest(
    {
      task,
      ...(flags.cluster !== undefined && { cluster: flags.cluster }),
      ...(flags.container !== undefined && { container: flags.container }),
    },
    flags,
  );
  await precheckFilter(request);
  const client = await clientFor(flags);
  if (!flags.wait) {
    const started = await client.startSession(request);
    if (output.json) printJson(output, started);
    else output.out.write(`${started.sessionId}\n`);
    return EXIT.OK;
  }
  const outcome = await withInterrupt((signal) =>
    runSession(client, request, { output: flags.output, progress: createProgress(process.stderr), signal }),
  );
  printOutcome(output, outcome);
  return EXIT.OK;
}
