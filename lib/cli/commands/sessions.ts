import { describeTarget } from '../../domain/session-spec';
import type { SessionView } from '../../domain/session';
import { EXIT, errorFromBody } from '../../domain/errors';
import { clientFor } from '../api-discovery';
import type { ApiFlags } from '../options';
import {
  collectFleet,
  fleetExitCode,
  reuploadFailedChildren,
  renderFleetOutcome,
  renderFleetStatus,
} from '../fleet';
import { printJson, printOutcome, printable, renderSessionList, type Output } from '../output';
import { createProgress } from '../progress';
import { fetchSession } from '../session-runner';

/** debug-task status <session> */
export async function statusCommand(sessionId: string, flags: ApiFlags, output: Output): Promise<number> {
  const view = await (await clientFor(flags)).getSession(sessionId);
  if (output.json) printJson(output, view);
  else output.out.write(renderSessionView(view));
  return view.error ? errorFromBody(view.error).exitCode : EXIT.OK;
}

/** `debug-task status` for humans; a fleet gets its counts and one line per task. */
export function renderSessionView(view: SessionView): string {
  const lines = [`${view.sessionId}  ${view.status}${view.phase ? `  (${printable(view.phase)})` : ''}`];
  if (view.input) {
    lines.push(`target  ${printable(describeTarget(view.input.spec.target))}  tool ${view.input.spec.tool}`);
  }
  let text = `${lines.join('\n')}\n`;
  if (view.result?.kind === 'service') text += renderFleetStatus(view.result);
  else if (view.result?.children[0]?.artifact)
    text += `artifact  ${view.result.children[0].artifact.s3Uri}\n`;
  if (view.error) {
    text += `error ${view.error.code}: ${printable(view.error.message)}\n  hint: ${printable(view.error.hint)}\n`;
  }
  return text;
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
  const view = await client.getSession(sessionId);
  if (view.status === 'SUCCEEDED' && view.result?.kind === 'service') {
    const progress = createProgress();
    // A child whose upload failed kept its artifact on its host: upload it again first.
    const complete = await reuploadFailedChildren(client, view, progress);
    const fleet = await collectFleet(complete, { folder: flags.output, progress });
    if (output.json) printJson(output, fleet);
    else output.out.write(renderFleetOutcome(fleet));
    return fleetExitCode(fleet);
  }
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
    output.out.write(renderSessionList(sessions));
  }
  return EXIT.OK;
}
