import { execFileSync } from 'node:child_process';

/**
 * Tests that need Docker call this first: on a developer machine without an engine they fail with
 * a clear message; under CI they fail too (never skip), so a missing engine cannot pass silently.
 */
export function requireDocker(): void {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    throw new Error(
      'These tests need a Docker engine: run `sudo ../shared/env/docker-up` (or start dockerd). ' +
        (process.env.CI ? 'CI must provide one (.ci/run starts it).' : ''),
    );
  }
}

export function containersWithLabel(label: string): string[] {
  const out = execFileSync('docker', ['ps', '-aq', '--filter', `label=${label}`], {
    encoding: 'utf8',
  }).trim();
  return out ? out.split('\n') : [];
}

/**
 * The demo tasks a `debug-task demo` run started, from its own progress lines ("demo task <arn>
 * serving HTTP ..."): what a test checks is gone afterwards, whatever else runs on the engine.
 */
export function demoTasksOf(stderr: string): string[] {
  return [...stderr.matchAll(/demo task (arn:aws:ecs:\S+) serving HTTP/g)].map((m) => m[1]);
}

/** Containers (running or not) of these demo tasks, by their ECS task-arn label. */
export function containersOfTasks(taskArns: readonly string[]): string[] {
  return taskArns.flatMap((arn) => containersWithLabel(`com.amazonaws.ecs.task-arn=${arn}`));
}

/** Toolbox containers (running or not) of a session and its children (`<id>-NNNN`). */
export function containersOfSession(sessionId: string): string[] {
  const out = execFileSync(
    'docker',
    [
      'ps',
      '-a',
      '--filter',
      'label=debug-task.session',
      '--format',
      '{{.ID}} {{.Label "debug-task.session"}}',
    ],
    { encoding: 'utf8' },
  ).trim();
  return (out ? out.split('\n') : [])
    .map((line) => line.split(' '))
    .filter(([, session]) => session === sessionId || session?.startsWith(`${sessionId}-`))
    .map(([id]) => id);
}
