/**
 * The plan object: what each host of a SendCommand batch runs (docs/ARCHITECTURE.md, "The plan on
 * a host"). SendCommand gives every host of a call the same parameters, so each host's runner
 * fetches this (presigned GET, `planUrl`) and keeps the lines of its own instance id
 * (`AWS_SSM_INSTANCE_ID`, set by the SSM agent for every command).
 *
 * Text, not JSON: the runner is bash on hosts without jq. Line 1 is PLAN_HEADER; then one line per
 * target, five fields separated by one TAB, LF-terminated:
 *
 *   <instanceId> TAB <childSessionId> TAB <containerId (Docker id)> TAB <artifactUrl> TAB <manifestUrl>
 *
 * The URLs are presigned PUTs of the child's artifact and manifest. A re-upload's plan has `-` for
 * the container (nothing runs next to it). Every field matches its HOST_PARAMS pattern
 * (instanceId: INSTANCE_ID_PATTERN); the runner checks each again before use, as it checks SSM
 * parameters. No field can hold a TAB or a newline.
 */
export const PLAN_HEADER = '# debug-task plan v2';
export const INSTANCE_ID_PATTERN = '^(i-[0-9a-f]{8,17}|mi-[0-9a-f]{17})$';

export interface PlanLine {
  instanceId: string;
  childSessionId: string;
  containerId: string;
  artifactUrl: string;
  manifestUrl: string;
}

export function renderPlan(lines: readonly PlanLine[]): string {
  const body = lines.map((l) =>
    [l.instanceId, l.childSessionId, l.containerId, l.artifactUrl, l.manifestUrl].join('\t'),
  );
  return [PLAN_HEADER, ...body].join('\n') + '\n';
}
