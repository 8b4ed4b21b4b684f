/**
 * The plan object (one per SendCommand batch): what each host of that batch runs. Every session is
 * a plan, a single task's a plan of one (child `<sessionId>-0000`). SendCommand gives every host
 * of a call the same parameters, so each host's runner fetches this (presigned GET, `planUrl`) and
 * keeps the lines of its own instance id (`AWS_SSM_INSTANCE_ID`, set by the SSM agent for every
 * command): `action=plan` runs one capture (`run`) per line, `action=reupload` re-uploads each
 * line's kept artifact.
 *
 * Text, not JSON: the runner is bash on hosts without jq. Line 1 is PLAN_HEADER; then one line per
 * target, five fields separated by one TAB, LF-terminated:
 *
 *   <instanceId> TAB <childSessionId> TAB <containerId> TAB <artifactUrl> TAB <manifestUrl> [TAB <chunkUrl>]
 *
 * The sixth field is there when the session is followed (`--follow`): the child's chunk form
 * (chunkUrl, lib/domain/follow.ts).
 *
 * containerId is the target's Docker id (`-` in a re-upload plan: nothing is started);
 * artifactUrl and manifestUrl are presigned PUTs of the child's artifact and of its manifest
 * (RunnerManifest, JSON), which the host puts after the artifact. Every field matches its
 * HOST_PARAMS pattern (instanceId: INSTANCE_ID_PATTERN; artifactUrl: uploadUrl's); the runner
 * checks each again before use, as it checks SSM parameters. No field can hold a TAB or a newline.
 */
export const PLAN_HEADER = '# debug-task plan v2';
export const INSTANCE_ID_PATTERN = '^(i-[0-9a-f]{8,17}|mi-[0-9a-f]{17})$';
/** The containerId of a re-upload plan's lines. */
export const NO_CONTAINER = '-';

export interface PlanLine {
  instanceId: string;
  childSessionId: string;
  /** The target's Docker id; NO_CONTAINER in a re-upload plan. */
  containerId: string;
  /** Presigned PUT of the child's artifact. */
  artifactUrl: string;
  /** Presigned PUT of the child's manifest (put after the artifact). */
  manifestUrl: string;
  /** --follow: the child's chunk form (a presigned POST as one URL); absent when not followed. */
  chunkUrl?: string;
}

export function renderPlan(lines: readonly PlanLine[]): string {
  const body = lines.map((l) =>
    [
      l.instanceId,
      l.childSessionId,
      l.containerId,
      l.artifactUrl,
      l.manifestUrl,
      ...(l.chunkUrl ? [l.chunkUrl] : []),
    ].join('\t'),
  );
  return [PLAN_HEADER, ...body].join('\n') + '\n';
}
