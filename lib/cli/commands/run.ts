import { DebugTaskError, EXIT } from '../../domain/errors';
import { clientFor } from '../api-discovery';
import { checkFleetFlags, runFleet } from '../fleet';
import { withInterrupt } from '../interrupt';
import type { RunFlags } from '../options';
import { printJson, printOutcome, type Output } from '../output';
import { createProgress } from '../progress';
import { buildSessionRequest, precheckFilter } from '../request';
import { runSession } from '../session-runner';

/**
 * debug-task <task> --tool NAME ...: one session through the deployed API.
 * debug-task --service NAME --cluster C --tool NAME ...: every running task of a service (../fleet.ts).
 */
export async function runCommand(task: string | undefined, flags: RunFlags, output: Output): Promise<number> {
  const maxTasks = checkFleetFlags({ task, service: flags.service }, flags);
  if (!flags.tool) {
    throw new DebugTaskError('INVALID_ARGUMENT', 'No --tool was given.', {
      hint: 'Add --tool tcpdump (or ngrep, strace, snapshot); `debug-task tools` lists them.',
    });
  }
  const target =
    flags.service !== undefined
      ? {
          service: flags.service,
          ...(flags.cluster !== undefined && { cluster: flags.cluster }),
          ...(flags.container !== undefined && { container: flags.container }),
          ...(maxTasks !== undefined && { maxTasks }),
        }
      : {
          task,
          ...(flags.cluster !== undefined && { cluster: flags.cluster }),
          ...(flags.container !== undefined && { container: flags.container }),
        };
  const request = buildSessionRequest(target, flags);
  await precheckFilter(request);
  const client = await clientFor(flags);
  if (flags.service !== undefined) {
    return withInterrupt((signal) =>
      runFleet(client, request, output, {
        yes: flags.yes,
        dryRun: flags.dryRun,
        merge: flags.merge,
        output: flags.output,
        noWait: !flags.wait,
        progress: createProgress(process.stderr),
        signal,
        interactive: process.stdin.isTTY === true && process.stderr.isTTY === true,
      }),
    );
  }
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
