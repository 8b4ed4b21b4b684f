import { DebugTaskError, quoted } from '../domain/errors';
import { closest } from '../domain/suggest';

/**
 * The CLI's subcommands, by name (main.ts declares them; a unit test checks that this list is that
 * one). The main command takes a task as its first word, so a mistyped subcommand would otherwise
 * be read as a task: `debug-task stauts dt-x` must say "did you mean status", not "too many arguments".
 */
export const SUBCOMMANDS = [
  'status',
  'stop',
  'cancel',
  'fetch',
  'list',
  'doctor',
  'tools',
  'local',
  'demo',
  'sandbox',
] as const;

/** A task ARN (any partition) or a task id (new 32-hex or old UUID format): no command looks like one. */
const TASK_LIKE = /^(arn:|[0-9a-f]{32}$|[0-9a-f]{8}-[0-9a-f]{4}-)/;

/** Refuses a first word that is a mistyped command, and words after the task; says what was meant. */
export function checkTaskWord(task: string | undefined, extra: readonly string[]): void {
  if (task === undefined) return;
  if (!TASK_LIKE.test(task.trim())) {
    const command = closest(task, SUBCOMMANDS);
    if (command) {
      const rest = extra.length > 0 ? ` ${extra.join(' ')}` : '';
      throw new DebugTaskError(
        'INVALID_ARGUMENT',
        `There is no command ${quoted(task)}: did you mean ${command}?`,
        {
          hint: `Run \`debug-task ${command}${rest}\`; \`debug-task --help\` lists the commands.`,
          details: { received: task.slice(0, 80), suggestion: command },
        },
      );
    }
    if (extra.length > 0) {
      throw new DebugTaskError('INVALID_ARGUMENT', `${quoted(task)} is neither a command nor a task.`, {
        hint: `Commands: ${SUBCOMMANDS.join(', ')}; a session is started with \`debug-task <task ARN> --tool tcpdump\`.`,
      });
    }
    return; // a single word: parseTaskRef says why it is not a task, naming the commands too
  }
  if (extra.length > 0) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `One task at a time: ${quoted(extra[0])} follows the task ${quoted(task, 40)}.`,
      { hint: 'Give one task, or every task of a service with --service NAME --cluster C.' },
    );
  }
}
