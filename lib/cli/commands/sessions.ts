import { describeTarget } from '../../domain/session-spec';
import { isFleetResult } from '../../domain/session';
import { EXIT, errorFromBody } from '../../domain/errors';
import { clientFor } from '../api-discovery';
import type { ApiFlags } from '../main';
import { printJson, printOutcome, type Output } from '../output';
import { createProgress } from '../progress';
import { fetchSession } from '../session-runner';

/** debug-task status <session> */
export async function statusCommand(sessionId: string, flags: ApiFlags, output: Output): Promise<number> {
  const view = await (await clientFor(flags)).getSession(sessionId);
  if (output.json) {
    printJson(output, view);
  } else {
    output.out.write(`${view.sessionId}  ${view.status}${view.phase ? `  (${view.phase})` : ''}\n`);
    if (view.input)
      output.out.write(`target  ${describeTarget(view.input.spec.target)}  tool ${view.input.spec.tool}\n`);
    if (view.result && isFleetResult(view.result)) output.out.write(`manifest  ${view.result.manifestUri}\n`);
    else if (view.result) output.out.write(`artifact  ${view.result.artifact.s3Uri}\n`);
    if (view.error)
      output.out.write(`error ${view.error.code}: ${view.error.message}\n  hint: ${view.error.hint}\n`);
  }
  return view.error ? errorFromBody(view.error).exitCode : EXIT.OK;
}

/** debug-task cancel <session> */
export async function cancelCommand(sessionId: string, flags: ApiFlags, output: Output): Promise<number> {
  const result = await (await clientFor(flags)).cancelSession(sessionId);
  if (output.json) printJson(output, result);
  else output.out.write(`${result.sessionId}  ${result.status}\n`);
  return EXIT.OK;
}

/** debug-task fetch <session> */
export async function fetchCommand(
  sessionId: string,
  flags: ApiFlags & { output?: string },
  output: Output,
): Promise<number> {
  const client = await clientFor(flags);
  const outcome = await fetchSession(client, sessionId, { output: flags.output, progress: createProgress() });
  printOutcome(output, outcome);
  return EXIT.OK;
}

/** debug-task list */
export async function listCommand(flags: ApiFlags & { active?: boolean }, output: Output): Promise<number> {
  const sessions = await (await clientFor(flags)).listSessions({ active: flags.active });
  if (output.json) {
    printJson(output, { sessions });
  } else {
    for (const s of sessions)
      output.out.write(`${s.sessionId}  ${s.status.padEnd(9)}  ${s.startedAt ?? ''}\n`);
    if (sessions.length === 0) output.out.write('no sessions\n');
  }
  return EXIT.OK;
}
