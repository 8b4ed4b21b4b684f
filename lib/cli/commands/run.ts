import { DebugTaskError, EXIT } from '../../domain/errors';
import { TOOLS } from '../../domain/tools';
import { clientFor } from '../api-discovery';
import { checkFleetFlags, runFleet } from '../fleet';
import { withStopInterrupt } from '../interrupt';
import type { RunFlags } from '../options';
import { checkFollow, checkOutput, followAndPrint, outputFlag, produceAndPrint } from '../output-path';
import { printJson, type Output } from '../output';
import { createProgress } from '../progress';
import { buildSessionRequest, checkTaskRef, precheckFilter } from '../request';
import { runSession } from '../session-runner';
import { checkTaskWord } from '../subcommands';

/**
 * debug-task <task> --tool NAME ...: one session through the deployed API.
 * debug-task --service NAME --cluster C --tool NAME ...: every running task of a service (../fleet.ts).
 * Every local precondition (the target's syntax, the flags, the filter, where the artifact goes) is
 * checked before the API is called: bad input is exit 2 with nothing started.
 */
export async function runCommand(
  task: string | undefined,
  flags: RunFlags,
  output: Output,
  extra: readonly string[] = [],
): Promise<number> {
  checkTaskWord(task, extra);
  const maxTasks = checkFleetFlags({ task, service: flags.service }, flags);
  // The target first: `debug-task foo` is told that foo is not a task before anything about flags.
  if (task !== undefined && flags.service === undefined) checkTaskRef(task, flags.cluster);
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
  const writes = flags.wait && !flags.dryRun;
  const choice = writes
    ? await checkOutput(outputFlag(flags), {
        expect: flags.service !== undefined ? 'folder' : 'file',
        json: output.json,
        extension: TOOLS[request.tool as keyof typeof TOOLS].extension,
      })
    : undefined;
  if (request.follow && !flags.wait) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      '--follow streams the capture while this command waits for it; --no-wait does not wait.',
      {
        hint: 'Drop --no-wait (or --follow: `debug-task fetch SESSION` downloads the capture once it has ended).',
      },
    );
  }
  const follow =
    choice && request.follow
      ? await checkFollow(choice, flags, TOOLS[request.tool as keyof typeof TOOLS].format)
      : undefined;
  const client = await clientFor(flags, request.target.task);
  if (flags.service !== undefined) {
    // A first Ctrl-C stops every child and keeps their captures; a second cancels (discards).
    return withStopInterrupt(({ stop, cancel }) =>
      runFleet(client, request, output, {
        yes: flags.yes,
        dryRun: flags.dryRun,
        merge: flags.merge,
        output: choice && choice.kind !== 'stdout' ? choice.path : undefined,
        noWait: !flags.wait,
        progress: createProgress(process.stderr),
        signal: cancel,
        stop,
        interactive: process.stdin.isTTY === true && process.stderr.isTTY === true,
      }),
    );
  }
  if (!choice) {
    const started = await client.startSession(request);
    if (output.json) printJson(output, started);
    else output.out.write(`${started.sessionId}\n`);
    return EXIT.OK;
  }
  if (follow) {
    await withStopInterrupt(({ stop, cancel }) =>
      followAndPrint(follow, output, (sink) =>
        runSession(client, request, {
          follow: sink,
          progress: createProgress(process.stderr),
          signal: cancel,
          stop,
        }),
      ),
    );
    return EXIT.OK;
  }
  await withStopInterrupt(({ stop, cancel }) =>
    produceAndPrint(choice, output, (path) =>
      runSession(client, request, {
        output: path,
        progress: createProgress(process.stderr),
        signal: cancel,
        stop,
      }),
    ),
  );
  return EXIT.OK;
}
