import { HOST_PARAMS, hostParamRegExp, isValidHostParam, type HostParamValues } from './params';
import type { SessionSpec } from './session-spec';

/**
 * What every capture is told, whatever sends it (Launch through SSM, `debug-task local` to the
 * runner on this machine): the tool and its arguments, the image, the toolbox limits, the audit
 * values. The per-target values (child id, container, upload URLs) travel in the plan object
 * instead (lib/domain/host-plan.ts). Pure: the senders bring their deployment's limits.
 */
export function specCaptureValues(
  spec: SessionSpec,
  image: string,
  context: {
    caller?: string;
    /** The deployment's toolbox limits; absent ones take the runner's own defaults. */
    limits?: Pick<HostParamValues, 'cpus' | 'memoryMb' | 'pidsLimit' | 'maxSessions'>;
  } = {},
): HostParamValues {
  return {
    tool: spec.tool,
    durationSeconds: String(spec.durationSeconds),
    maxBytes: String(spec.maxBytes),
    filter: spec.filter,
    iface: spec.iface,
    snaplen: String(spec.snaplen),
    // The tool's own arguments (only the tools that take them get them: parseSessionRequest).
    match: spec.match ?? '',
    syscalls: spec.syscalls ?? '',
    pid: spec.pid === undefined ? '' : String(spec.pid),
    // A ring buffer: the most recent seconds or bytes of the capture ('': the whole capture).
    ringSeconds: spec.ring?.seconds === undefined ? '' : String(spec.ring.seconds),
    ringBytes: spec.ring?.bytes === undefined ? '' : String(spec.ring.bytes),
    // --follow: the chunk interval (the chunk form itself is per child: the plan's lines carry it).
    ...(spec.follow && { followSeconds: String(spec.follow.intervalSeconds) }),
    // Only a boolean true lets the host debug a target in the host's network mode.
    allowHostNetwork: spec.allowHostNetwork === true ? 'true' : 'false',
    // Likewise for a target in the host's pid namespace (HOST_PID_NOT_ALLOWED otherwise).
    allowHostPid: spec.allowHostPid === true ? 'true' : 'false',
    image,
    ...context.limits,
    // Audit: the runner labels the toolbox container with them and echoes them in its manifest.
    caller: auditValue('caller', context.caller),
    reason: auditValue('reason', spec.reason),
  };
}

/**
 * The caller's IAM ARN and the reason as their host parameters take them. An ARN always fits, and
 * the API accepts only reasons that fit; anything else (an unusual principal, an execution started
 * some other way) is made to fit rather than refused, since the labels are for audit only:
 * characters outside the pattern become `_`, and the value is cut at the length limit. The audit
 * record in S3 keeps both exactly as the execution received them.
 */
export function auditValue(name: 'caller' | 'reason', given: string | undefined): string {
  const value = given ?? '';
  if (isValidHostParam(name, value)) return value;
  // One character at a time against the parameter's own pattern: no second copy of it here.
  const allowed = hostParamRegExp(name);
  return [...value]
    .map((ch) => (allowed.test(ch) ? ch : '_'))
    .join('')
    .slice(0, HOST_PARAMS[name].maxChars);
}
