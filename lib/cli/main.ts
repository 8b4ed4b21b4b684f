import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { EXIT } from '../domain/errors';
import { defaultOutput, printError, type Output } from './output';
import {
  apiOptions,
  captureOptions,
  type DemoFlags,
  type DoctorFlags,
  type LocalFlags,
  type RunFlags,
  JSON_HELP,
  type SandboxFlags,
  type SessionFlags,
} from './options';

/** `--cluster` of the session commands: spares the lookup of a session's cluster through the API. */
const SESSION_CLUSTER = [
  '-c, --cluster <name>',
  'cluster of the session (default: asked of the API)',
] as const;

/**
 * The composition root of the CLI: declares the commands once, runs one, returns its exit code.
 * Commands live in ./commands and are loaded only when chosen, so `--help` stays fast (no SDK).
 */

export function buildProgram(run: (load: () => Promise<number>) => void): Command {
  const program = new Command('debug-task')
    .description(
      'Bring your tools with you: run tcpdump, ngrep or strace next to an ECS task, time-boxed, and get the result.',
    )
    .version(packageVersion(), '-V, --version', 'print the version of debug-task')
    .option('--debug', 'show stack traces')
    .argument('[task]', 'task ARN (long or old format), or task id with --cluster (or give --service)')
    .option(
      '-c, --cluster <name>',
      'cluster of the task or service (needed for a task id, an old-format ARN, a service)',
    )
    .option('--service <name>', 'capture on every running task of this service at once (with --cluster)')
    .option('--max-tasks <n>', 'with --service: at most this many tasks (1 to 1000, default 100)')
    .option(
      '-y, --yes',
      `with --service: go ahead without asking (needed above 5 tasks when there is no terminal)`,
    )
    .option('--dry-run', 'with --service: show which tasks would be captured, start nothing')
    .option('--merge', 'with --service and a pcap tool: also merge the captures into merged.pcap')
    .option('--container <name>', 'container of the task (needed when the task has several)')
    .option('--reason <text>', 'why, for the audit record')
    .option('--no-wait', 'start the session and print its id without waiting')
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  captureOptions(program, 'run');
  apiOptions(program);
  // The tool is mandatory for a session, but not for `debug-task status ...`: checked in the action.
  program.options.find((o) => o.long === '--tool')!.mandatory = false;

  program.action((task: string | undefined, flags: RunFlags, command: Command) =>
    run(async () =>
      (await import('./commands/run')).runCommand(
        task,
        flags,
        outputFor(program, flags),
        command.args.slice(1),
      ),
    ),
  );

  apiOptions(
    program
      .command('status')
      .argument('<session>')
      .option(...SESSION_CLUSTER)
      .option('--json', JSON_HELP),
  )
    .description('show a session’s status, phase, result or error')
    .action((id: string, flags: SessionFlags) =>
      run(async () =>
        (await import('./commands/sessions')).statusCommand(id, flags, outputFor(program, flags)),
      ),
    );
  apiOptions(
    program
      .command('stop')
      .argument('<session>')
      .option(...SESSION_CLUSTER)
      .option('--no-wait', 'return once the stop is asked for, without waiting for the session to end')
      .option('--json', JSON_HELP),
  )
    .description(
      'stop a running session now and keep its capture (every task of a fleet): collected and verified as at the end of its duration; `fetch` downloads it',
    )
    .action((id: string, flags: SessionFlags & { wait: boolean }) =>
      run(async () =>
        (await import('./commands/sessions')).stopCommand(id, flags, outputFor(program, flags)),
      ),
    );
  apiOptions(
    program
      .command('cancel')
      .argument('<session>')
      .option(...SESSION_CLUSTER)
      .option('--no-wait', 'return once the cancel is asked for, without waiting for the cleanup')
      .option('--json', JSON_HELP),
  )
    .description(
      'cancel a running session and wait until its toolbox container is removed (the capture is discarded)',
    )
    .action((id: string, flags: SessionFlags & { wait: boolean }) =>
      run(async () =>
        (await import('./commands/sessions')).cancelCommand(id, flags, outputFor(program, flags)),
      ),
    );
  apiOptions(
    program
      .command('fetch')
      .argument('<session>')
      .option(...SESSION_CLUSTER)
      .option(
        '-o, --output <path>',
        'where to write the artifact; - writes it to stdout, for a pipe (e.g. | tshark -r -), checked first',
      )
      .option('-w, --write <file>', 'same as -o (tcpdump’s name for it)')
      .option('--json', JSON_HELP),
  )
    .description(
      'download (again) the artifact of a finished session, checking its sha256; after UPLOAD_FAILED, first upload again the artifact kept on its host',
    )
    .action((id: string, flags: SessionFlags & { output?: string; write?: string }) =>
      run(async () =>
        (await import('./commands/sessions')).fetchCommand(id, flags, outputFor(program, flags)),
      ),
    );
  apiOptions(
    program
      .command('list')
      .option('--active', 'only running sessions')
      .option('-c, --cluster <name>', 'only sessions of this cluster')
      .option('--json', JSON_HELP),
  )
    .description('recent sessions, newest first')
    .action((flags: SessionFlags & { active?: boolean }) =>
      run(async () => (await import('./commands/sessions')).listCommand(flags, outputFor(program, flags))),
    );
  apiOptions(
    program
      .command('doctor')
      .argument('[task]', 'task ARN (long or old format), or task id with --cluster')
      .option(
        '--stack',
        'check the deployment itself (stack, API, document, image, bucket, hosts, policy) instead of a task',
      )
      .option(
        '-c, --cluster <name>',
        'cluster of the task (needed for a task id or an old-format ARN); with --stack, the cluster whose hosts to check',
      )
      .option('--container <name>', 'container of the task (needed when the task has several)')
      .option('-t, --tool <name>', 'tool you mean to run (default: tcpdump)')
      .option('--json', 'print {"checks": [...], "ok": bool} as the last line on stdout'),
  )
    .description(
      'check every precondition of a session on this task, in order, and say how to fix the first failure; with --stack, check the deployment end to end; nothing is started',
    )
    .action((task: string | undefined, flags: DoctorFlags) =>
      run(async () => (await import('./commands/doctor')).doctorMain(task, flags, outputFor(program, flags))),
    );
  program
    .command('tools')
    .option('--json', JSON_HELP)
    .description(
      'the tool catalog: capabilities, output format, default and maximum duration and size, the arguments each takes (--filter, --match, --syscalls, --pid)',
    )
    .action((flags: { json?: boolean }) =>
      run(async () => (await import('./commands/tools')).toolsCommand(outputFor(program, flags))),
    );
  captureOptions(
    program
      .command('local')
      .argument('<container>', 'name or id of a container on the local Docker engine')
      .option(
        '--image <ref>',
        'toolbox image (default: built from toolbox/Dockerfile, or from this machine’s binaries where the base image cannot be pulled)',
      ),
    'local',
  )
    .description('run the host runner against a container on the local Docker engine')
    .action((container: string, flags: LocalFlags) =>
      run(async () =>
        (await import('./commands/local')).localCommand(container, flags, outputFor(program, flags)),
      ),
    );
  captureOptions(
    program
      .command('demo')
      .option(
        '--image <ref>',
        'toolbox image (default: built from toolbox/Dockerfile, or from this machine’s binaries where the base image cannot be pulled)',
      )
      .option('--keep', 'leave the sandbox’s S3 data directory for inspection')
      .option(
        '--agent-version <version>',
        'the SSM agent version the sandbox host reports and emulates (below 3.3.2746.0: parameters as quoted text, no ENV_VAR)',
      )
      .option(
        '--replicas <n>',
        'start N tasks (1 to 10) of one demo service and capture on all of them at once',
      )
      .option('--merge', 'with --replicas: merge the captures into merged.pcap'),
    'demo',
  )
    .description(
      'the whole path on a local sandbox: a target with HTTP traffic, one session, torn down after',
    )
    .action((flags: DemoFlags) =>
      run(async () => (await import('./commands/demo')).demoCommand(flags, outputFor(program, flags))),
    );
  program
    .command('sandbox')
    .option('--policy <file>', 'a Cedar policy file: the sandbox API decides with it, as a deployment would')
    .option(
      '--triggers <file>',
      'a JSON file of triggers (the stack’s `triggers`): events sent to the ready line’s eventsUrl (PutEvents) run those that match',
    )
    .option('--replicas <n>', 'tasks of the demo service (1 to 10, default 2)')
    .option(
      '--image <ref>',
      'toolbox image (default: built from toolbox/Dockerfile, or from this machine’s binaries where the base image cannot be pulled)',
    )
    .option('--json', 'accepted for symmetry: the ready line is always JSON, as the last line on stdout')
    .description(
      'the local sandbox, kept running: a demo service with traffic and the API, for the real CLI and a policy; prints one JSON line (apiUrl, region, cluster, tasks, principals), stops on Ctrl-C or SIGTERM and removes everything it started',
    )
    .action((flags: SandboxFlags) =>
      run(async () => (await import('./commands/sandbox')).sandboxCommand(flags, outputFor(program, flags))),
    );
  // After the subcommands are declared (they copy the setting): the main command's extra words are
  // checked by runCommand, which can tell a mistyped subcommand (`stauts dt-x`) from a second task.
  program.allowExcessArguments(true);
  return program;
}

/** The package's version, read from its package.json (two levels up from lib/cli and dist/lib/cli). */
function packageVersion(): string {
  for (const up of ['../..', '../../..']) {
    try {
      const pkg = JSON.parse(readFileSync(join(__dirname, up, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'debug-task' && pkg.version) return pkg.version;
    } catch {
      // not this level
    }
  }
  return 'unknown';
}

function outputFor(program: Command, flags: { json?: boolean }): Output {
  return defaultOutput(flags.json === true, program.opts().debug === true);
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let pending: Promise<number> | undefined;
  const program = buildProgram((load) => {
    pending = load();
  });
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with exit code 0; a usage error is bad input.
      return error.exitCode === 0 ? EXIT.OK : EXIT.BAD_INPUT;
    }
    return printError(defaultOutput(argv.includes('--json'), argv.includes('--debug')), error);
  }
  if (!pending) return EXIT.OK;
  try {
    return await pending;
  } catch (error) {
    return printError(defaultOutput(argv.includes('--json'), argv.includes('--debug')), error);
  }
}
