import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DebugTaskClient } from '../../lib/client/api-client';
import type { SessionResult } from '../../lib/domain/session';
import { startDemoTarget } from '../../lib/sandbox/demo-target';
import { startSandbox } from '../../lib/sandbox/sandbox';
import { BUILT_CLI, ROOT, ensureBuiltCli, sandboxCliEnv } from '../lib/build';
import { removeSessionContainers } from '../lib/containers';
import { dockerExitToWait, nodeStart, runnerFlagsDockerRun } from '../lib/docker-floor';
import { run } from '../lib/proc';
import { median, round } from '../lib/stats';
import type { SuiteContext } from '../lib/context';

/**
 * Session overhead on the local sandbox: the built CLI started as a user starts it, against the
 * sandbox's API, to the verified artifact on disk; its wall time minus the capture's own duration.
 * Also where the rest goes (the session's timestamps), how soon the state machine learns that the
 * runner has ended, and the AWS calls made before SendCommand.
 */

export interface SessionBenchResult {
  sessionOverheadSeconds: number | null;
  callsSingleSession: number | null;
  raw: {
    reps: number;
    durationSeconds: number;
    wallSeconds: number | null;
    captureSeconds: number | null;
    /** The CLI's own account (its --json timings.overheadSeconds: from its session start, not process start). */
    cliReportedOverheadSeconds: number | null;
    /** Median ms of each stretch of a session, from the CLI's spawn to its exit. */
    phasesMs: Record<string, number | null>;
    /** ms from the runner's end to the end of the Poll that saw it (target: within 1 s). */
    endDetectionMs: number | null;
    endDetectionMaxMs: number | null;
    /** ECS/SSM calls before the first SendCommand, by action (first repetition). */
    callsBeforeSendCommand: string[];
    uploadCredentialCallsPerSession: number | null;
    /** Step Functions calls of one session (API + CLI polling), by action, median count. */
    sfnCallsPerSession: Record<string, number | null>;
    /**
     * Median ms of what Node and Docker take by themselves, none of our code between (the same
     * demo target's namespaces, the runner's flags): a `node -e 0`; a `docker run -d` to tcpdump
     * listening; a container's exit to `docker wait` returning. Their sum is the part of the
     * overhead that no change of ours can remove on this machine.
     */
    floorMs: {
      nodeStart: number | null;
      dockerRunToListening: number | null;
      exitToDockerWait: number | null;
      total: number | null;
    };
  };
}

interface Sample {
  wall: number;
  capture: number;
  cliOverhead: number;
  phases: Record<string, number>;
  endDetection: number | null;
  callsBefore: string[];
  sfnCalls: Record<string, number>;
}

const PHASES = [
  'CLI start to API accepted (requestedAt)',
  'Resolve + Launch (to SendCommand)',
  'SSM delivery to runner start',
  'runner start to capture',
  'capture',
  'runner finish (gzip, hash, upload)',
  'runner end to Poll done (end detection)',
  'Collect',
  'CLI sees the result, downloads, verifies, exits',
] as const;

export async function sessionOverhead(ctx: SuiteContext): Promise<SessionBenchResult> {
  await ensureBuiltCli(ctx);
  const reps = ctx.quick ? 1 : 5;
  const durationSeconds = ctx.quick ? 1 : 3;
  const target = await startDemoTarget(ctx.image);
  const sandbox = await startSandbox({ toolboxImage: ctx.image }).catch(async (error: unknown) => {
    await target.stop();
    throw error;
  });
  const samples: Sample[] = [];
  const floor = {
    nodeStart: [] as number[],
    dockerRunToListening: [] as number[],
    exitToDockerWait: [] as number[],
  };
  try {
    const client = new DebugTaskClient({
      apiUrl: sandbox.apiUrl,
      region: sandbox.region,
      credentials: sandbox.credentials,
    });
    const sfn = new SFNClient({
      region: sandbox.region,
      credentials: sandbox.credentials,
      endpoint: process.env.AWS_ENDPOINT_URL_SFN,
    });
    for (let rep = 0; rep < reps; rep++) {
      const ecsSsmBefore = sandbox.calls().filter((c) => c.service !== 'sfn').length;
      const sfnBefore = sandbox.calls().filter((c) => c.service === 'sfn').length;
      const output = join(ctx.tmp, `session-${rep}.pcap`);
      const spawnedAt = Date.now();
      const cli = await run(
        process.execPath,
        [
          BUILT_CLI, target.taskArn, '--container', target.containerName, '--tool', 'tcpdump',
          '--duration', `${durationSeconds}s`, '--api-url', sandbox.apiUrl, '--json', '--output', output,
        ], // prettier-ignore
        {
          cwd: ROOT,
          env: sandboxCliEnv(sandbox.credentials),
          timeoutMs: 120_000,
          allowFailure: true,
        },
      );
      const exitedAt = spawnedAt + cli.ms;
      const outcome = JSON.parse(cli.stdout.trim().split('\n').pop() ?? '{}') as {
        sessionId?: string;
        status?: string;
        timings?: { captureSeconds: number; overheadSeconds: number; downloadSeconds: number };
        error?: { code: string; message: string };
      };
      if (cli.code !== 0 || outcome.status !== 'SUCCEEDED' || !outcome.sessionId || !outcome.timings) {
        throw new Error(
          `the session failed (exit ${cli.code}): ${JSON.stringify(outcome.error ?? outcome)} ${cli.stderr.slice(-800)}`,
        );
      }
      await rm(output, { force: true });
      await removeSessionContainers(outcome.sessionId);

      const view = await client.getSession(outcome.sessionId);
      const history = await sfn.send(
        new GetExecutionHistoryCommand({
          executionArn: `${(process.env.STATE_MACHINE_ARN ?? '').replace(':stateMachine:', ':execution:')}:${outcome.sessionId}`,
          maxResults: 1000,
        }),
      );
      // When the command left: the end of the (one) Launch state.
      const launchedAt = (history.events ?? [])
        .find((e) => e.type === 'TaskStateExited' && e.stateExitedEventDetails?.name === 'Launch')
        ?.timestamp?.getTime();
      const t = timingsOf(view.result?.kind === 'task' ? view.result : undefined, launchedAt);
      const pollExits = (history.events ?? []).filter(
        (e) => e.type === 'TaskStateExited' && e.stateExitedEventDetails?.name === 'Poll',
      );
      const pollDoneAt = pollExits.at(-1)?.timestamp?.getTime();
      const endDetection = pollDoneAt !== undefined && t.hostEndedAt ? pollDoneAt - t.hostEndedAt : null;
      const downloadMs = outcome.timings.downloadSeconds * 1000;
      const phases: Record<string, number> = {
        [PHASES[0]]: t.requestedAt - spawnedAt,
        [PHASES[1]]: t.launchedAt - t.requestedAt,
        [PHASES[2]]: t.hostStartedAt - t.launchedAt,
        [PHASES[3]]: t.captureStartedAt - t.hostStartedAt,
        [PHASES[4]]: t.captureEndedAt - t.captureStartedAt,
        [PHASES[5]]: t.hostEndedAt - t.captureEndedAt,
        ...(pollDoneAt !== undefined && {
          [PHASES[6]]: pollDoneAt - t.hostEndedAt,
          [PHASES[7]]: t.collectedAt - pollDoneAt,
        }),
        [PHASES[8]]: exitedAt - t.collectedAt,
        'of which download + verify': downloadMs,
      };

      const ecsSsm = sandbox
        .calls()
        .filter((c) => c.service !== 'sfn')
        .slice(ecsSsmBefore);
      const firstSend = ecsSsm.findIndex((c) => c.action === 'SendCommand');
      const sfnCalls: Record<string, number> = {};
      for (const c of sandbox
        .calls()
        .filter((c) => c.service === 'sfn')
        .slice(sfnBefore)) {
        sfnCalls[c.action] = (sfnCalls[c.action] ?? 0) + 1;
      }
      samples.push({
        wall: cli.ms / 1000,
        capture: outcome.timings.captureSeconds,
        cliOverhead: outcome.timings.overheadSeconds,
        phases,
        endDetection,
        callsBefore: (firstSend < 0 ? ecsSsm : ecsSsm.slice(0, firstSend)).map(
          (c) => `${c.service}:${c.action}`,
        ),
        sfnCalls,
      });
      ctx.log(
        `  session ${rep + 1}/${reps}: ${(cli.ms / 1000).toFixed(2)} s wall, capture ${outcome.timings.captureSeconds} s, end seen after ${endDetection} ms`,
      );
    }
    // The floor, next to the same target, right after the sessions (the machine's same moment).
    for (let rep = 0; rep < reps; rep++) {
      floor.nodeStart.push(await nodeStart());
      floor.dockerRunToListening.push(await runnerFlagsDockerRun(ctx, target.containerId));
      floor.exitToDockerWait.push(await dockerExitToWait(ctx, target.containerId));
    }
  } finally {
    await target.stop();
    await sandbox.stop();
  }

  const overheads = samples.map((s) => s.wall - s.capture);
  const phaseNames = [...new Set(samples.flatMap((s) => Object.keys(s.phases)))];
  const detections = samples.map((s) => s.endDetection).filter((v): v is number => v !== null);
  const sfnActions = [...new Set(samples.flatMap((s) => Object.keys(s.sfnCalls)))];
  return {
    sessionOverheadSeconds: round(median(overheads)),
    // The target's resolution (ECS + SSM lookups). Launch's sts:AssumeRole for the one-key upload
    // credentials is not a lookup of the target: it is listed in the raw calls and counted apart.
    callsSingleSession: median(samples.map((s) => s.callsBefore.filter((c) => !c.startsWith('sts:')).length)),
    raw: {
      reps,
      durationSeconds,
      wallSeconds: round(median(samples.map((s) => s.wall))),
      captureSeconds: round(median(samples.map((s) => s.capture))),
      cliReportedOverheadSeconds: round(median(samples.map((s) => s.cliOverhead))),
      phasesMs: Object.fromEntries(
        phaseNames.map((name) => [name, round(median(samples.map((s) => s.phases[name] ?? Number.NaN)), 0)]),
      ),
      endDetectionMs: round(median(detections), 0),
      endDetectionMaxMs: detections.length ? Math.max(...detections) : null,
      callsBeforeSendCommand: samples[0]?.callsBefore ?? [],
      uploadCredentialCallsPerSession: median(
        samples.map((s) => s.callsBefore.filter((c) => c.startsWith('sts:')).length),
      ),
      sfnCallsPerSession: Object.fromEntries(
        sfnActions.map((a) => [a, round(median(samples.map((s) => s.sfnCalls[a] ?? 0)), 1)]),
      ),
      floorMs: {
        nodeStart: round(median(floor.nodeStart), 0),
        dockerRunToListening: round(median(floor.dockerRunToListening), 0),
        exitToDockerWait: round(median(floor.exitToDockerWait), 0),
        total: round(
          median(floor.nodeStart) + median(floor.dockerRunToListening) + median(floor.exitToDockerWait),
          0,
        ),
      },
    },
  };
}

function timingsOf(
  result: SessionResult | undefined,
  launchedAt: number | undefined,
): Record<
  | 'requestedAt'
  | 'launchedAt'
  | 'hostStartedAt'
  | 'captureStartedAt'
  | 'captureEndedAt'
  | 'hostEndedAt'
  | 'collectedAt',
  number
> {
  // The session's own times (ISO), and its one child's as the host reported them (epoch ms).
  const host = result?.children[0]?.timings ?? {};
  const ms = (value: unknown): number =>
    typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  return {
    requestedAt: ms(result?.timings.requestedAt),
    launchedAt: launchedAt ?? Number.NaN,
    hostStartedAt: ms(host.startedAt),
    captureStartedAt: ms(host.captureStartedAt),
    captureEndedAt: ms(host.captureEndedAt),
    hostEndedAt: ms(host.endedAt),
    collectedAt: ms(result?.timings.collectedAt),
  };
}
