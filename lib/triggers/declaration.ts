import { DebugTaskError } from '../domain/errors';
import {
  parseSessionRequest,
  toolNamed,
  type SessionLimits,
  type SessionRequest,
} from '../domain/session-spec';
import { parseDuration, parseRingFlag, parseSize } from '../domain/units';
import * as z from '../domain/zod';
import { checkEventPattern, EventPatternError, type EventPattern } from './event-pattern';
import { TRIGGER_NAME, type TriggerPreset } from './presets';

/**
 * A deployment's triggers as it declares them (the `triggers` prop, or the `triggers` context key):
 * named presets tied to an EventBridge rule. Checked at `cdk synth` with messages that name the
 * trigger and the field; a start preset's session parameters are checked by the very validation
 * POST /sessions applies (lib/domain/session-spec.ts), with the deployment's limits.
 *
 *   { name: 'on-5xx', action: 'start',
 *     target: { cluster: 'prod', service: 'payments' }, tool: 'tcpdump', filter: 'tcp port 443',
 *     duration: '2m',                                     // or ring: '10m' | '200MB'
 *     on: { alarm: 'payments-5xx' } }                     // an alarm's name or ARN entering ALARM
 *   { name: 'keep-ring', action: 'stop', target: { cluster: 'prod', service: 'payments' },
 *     on: { taskStopped: { cluster: 'prod', group: 'service:payments', nonZeroExit: true } } }
 *   { ..., on: { pattern: { source: ['my.app'], 'detail-type': ['Incident'] } } }  // any pattern
 */
export interface TriggerDeclaration {
  /** Letters, digits, - and _, up to 48: what `debug-task list` shows as `trigger:<name>`. */
  readonly name: string;
  /** `start` a session (the default), or `stop` the running ring sessions of the target and keep them. */
  readonly action?: 'start' | 'stop';
  /** A task (an ARN, or an id with its cluster) or a service, with its cluster. */
  readonly target: {
    readonly cluster: string;
    readonly task?: string;
    readonly service?: string;
    readonly container?: string;
    readonly maxTasks?: number;
  };
  /** start: the tool; stop: only sessions of this tool (any, when unset). */
  readonly tool?: string;
  readonly filter?: string;
  /** start: 90, '90s', '2m'. */
  readonly duration?: string | number;
  /** start: a ring buffer of the last '10m' or '200MB' (tcpdump). */
  readonly ring?: string;
  readonly maxSize?: string | number;
  readonly snaplen?: number;
  /** start: recorded with the session (default `trigger <name>`). */
  readonly reason?: string;
  readonly on: TriggerSource;
}

export type TriggerSource =
  | { readonly alarm: string }
  | {
      readonly taskStopped: {
        readonly cluster: string;
        /** ECS's `group`: `service:<name>` or `family:<name>`. */
        readonly group?: string;
        /** The task definition family. */
        readonly family?: string;
        /** Only tasks one of whose containers exited with a code other than 0. */
        readonly nonZeroExit: true;
      };
    }
  | { readonly pattern: Record<string, unknown> };

/** A declared trigger, checked: its preset (what the api function runs) and its source (the rule). */
export interface ResolvedTrigger {
  readonly name: string;
  readonly preset: TriggerPreset;
  readonly on: TriggerSource;
}

/** ECS cluster names; an alarm name is anything CloudWatch allows but control characters. */
const CLUSTER_NAME = /^[A-Za-z0-9_-]{1,255}$/;
const ALARM_ARN = /^arn:aws[a-z-]*:cloudwatch:[a-z0-9-]+:[0-9]{12}:alarm:.{1,255}$/;

const Source = z.union([
  z.strictObject({ alarm: z.string().check(z.minLength(1), z.maxLength(400), z.regex(/^[^\p{Cc}]+$/u)) }),
  z.strictObject({
    taskStopped: z.strictObject({
      cluster: z.string().check(z.regex(CLUSTER_NAME, 'use the cluster name')),
      group: z.optional(
        z
          .string()
          .check(z.regex(/^(service|family):[A-Za-z0-9_-]{1,255}$/, 'use service:<name> or family:<name>')),
      ),
      family: z.optional(z.string().check(z.regex(/^[A-Za-z0-9_-]{1,255}$/))),
      nonZeroExit: z.literal(true),
    }),
  }),
  z.strictObject({ pattern: z.record(z.string(), z.unknown()) }),
]);

const Declaration = z.strictObject({
  name: z
    .string()
    .check(z.regex(TRIGGER_NAME, 'use letters, digits, - and _ (1 to 48, first a letter or digit)')),
  action: z.optional(z.enum(['start', 'stop'])),
  target: z.strictObject({
    cluster: z.string().check(z.regex(CLUSTER_NAME, 'use the cluster name')),
    task: z.optional(z.string()),
    service: z.optional(z.string()),
    container: z.optional(z.string()),
    maxTasks: z.optional(z.number()),
  }),
  tool: z.optional(z.string()),
  filter: z.optional(z.string()),
  duration: z.optional(z.union([z.string(), z.number()])),
  ring: z.optional(z.string()),
  maxSize: z.optional(z.union([z.string(), z.number()])),
  snaplen: z.optional(z.number()),
  reason: z.optional(z.string()),
  on: Source,
});

/** Thrown for a trigger the stack cannot deploy; the message names the trigger and the field. */
export class TriggerDeclarationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TriggerDeclarationError';
  }
}

/** Checks every declaration; the names must be unique. */
export function resolveTriggers(declared: unknown, limits: SessionLimits): ResolvedTrigger[] {
  if (!Array.isArray(declared)) {
    throw new TriggerDeclarationError(
      `triggers must be a list of triggers (got ${JSON.stringify(declared)?.slice(0, 80)}).`,
    );
  }
  const seen = new Set<string>();
  return declared.map((item: unknown, index) => {
    const resolved = resolveTrigger(item, limits, index);
    if (seen.has(resolved.name)) {
      throw new TriggerDeclarationError(
        `triggers[${index}]: two triggers are named "${resolved.name}"; each needs its own name.`,
      );
    }
    seen.add(resolved.name);
    return resolved;
  });
}

function resolveTrigger(item: unknown, limits: SessionLimits, index: number): ResolvedTrigger {
  const label = (name?: unknown) =>
    `triggers[${index}]${typeof name === 'string' && name !== '' ? ` "${name.slice(0, 48)}"` : ''}`;
  const parsed = Declaration.safeParse(item);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = (item as { name?: unknown } | null)?.name;
    throw new TriggerDeclarationError(
      `${label(name)}: ${issue.path.join('.') || 'trigger'}: ${issue.message}.`,
    );
  }
  const d = parsed.data;
  const at = label(d.name);
  try {
    if ((d.target.task === undefined) === (d.target.service === undefined)) {
      throw new DebugTaskError(
        'INVALID_ARGUMENT',
        'target: give either a task or a service, with its cluster.',
      );
    }
    checkSource(d.on as TriggerSource);
    const preset = d.action === 'stop' ? stopPreset(d) : startPreset(d, limits);
    return { name: d.name, preset, on: d.on as TriggerSource };
  } catch (error) {
    if (error instanceof DebugTaskError || error instanceof EventPatternError) {
      const hint = error instanceof DebugTaskError && error.hint ? ` ${error.hint}` : '';
      throw new TriggerDeclarationError(`${at}: ${error.message}${hint}`, { cause: error });
    }
    throw error;
  }
}

function startPreset(d: z.infer<typeof Declaration>, limits: SessionLimits): TriggerPreset {
  if (d.tool === undefined) {
    throw new DebugTaskError('INVALID_ARGUMENT', 'a start trigger names its tool (e.g. tool: "tcpdump").');
  }
  const request: SessionRequest = {
    target: d.target,
    tool: d.tool,
    ...(d.filter !== undefined && { filter: d.filter }),
    ...(d.duration !== undefined && { durationSeconds: parseDuration(String(d.duration), 'duration') }),
    ...(d.ring !== undefined && { ring: parseRingFlag(d.ring) }),
    ...(d.maxSize !== undefined && { maxBytes: parseSize(String(d.maxSize), 'maxSize') }),
    ...(d.snaplen !== undefined && { snaplen: d.snaplen }),
    // The session says where it came from (and satisfies a deployment's requireReason).
    reason: d.reason ?? `trigger ${d.name}`,
  };
  // POST /sessions' own validation, with this deployment's limits: what fires is what passed here.
  parseSessionRequest(request, limits);
  return { action: 'start', request };
}

function stopPreset(d: z.infer<typeof Declaration>): TriggerPreset {
  const given = (['filter', 'duration', 'ring', 'maxSize', 'snaplen', 'reason'] as const).filter(
    (field) => d[field] !== undefined,
  );
  if (given.length > 0) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `a stop trigger takes no ${given.join(', ')}: it stops the running ring sessions of its target and keeps their captures.`,
    );
  }
  const { cluster, task, service } = d.target;
  return {
    action: 'stop',
    target: { cluster, ...(task !== undefined && { task }), ...(service !== undefined && { service }) },
    ...(d.tool !== undefined && { tool: toolNamed(d.tool) }),
  };
}

function checkSource(on: TriggerSource): void {
  if ('pattern' in on) checkEventPattern(on.pattern, 'on.pattern');
  if ('alarm' in on && on.alarm.startsWith('arn:') && !ALARM_ARN.test(on.alarm)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `on.alarm "${on.alarm.slice(0, 80)}" is not a CloudWatch alarm ARN (arn:aws:cloudwatch:<region>:<account>:alarm:<name>); give its ARN or its name.`,
    );
  }
  if ('taskStopped' in on && on.taskStopped.group !== undefined && on.taskStopped.family !== undefined) {
    throw new DebugTaskError('INVALID_ARGUMENT', 'on.taskStopped: give group or family, not both.');
  }
}

/** Where an ARN of the deployment's own account and region is built (tokens at synth, values in tests). */
export interface ArnScope {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/**
 * The EventBridge pattern of a trigger's source:
 * - an alarm: CloudWatch's "Alarm State Change" into ALARM, of that alarm (by ARN in `resources`,
 *   by name in `detail.alarmName`);
 * - a task that stopped: ECS's "Task State Change" with lastStatus STOPPED in that cluster (its
 *   group or task definition family, when given), one of whose containers has an exitCode other
 *   than 0 (`anything-but`: a container that never ran has no exitCode, and does not match);
 * - any pattern, as given.
 */
export function eventPatternOf(on: TriggerSource, scope: ArnScope): EventPattern {
  if ('alarm' in on) {
    return {
      source: ['aws.cloudwatch'],
      'detail-type': ['CloudWatch Alarm State Change'],
      ...(on.alarm.startsWith('arn:') ? { resources: [on.alarm] } : {}),
      detail: {
        ...(on.alarm.startsWith('arn:') ? {} : { alarmName: [on.alarm] }),
        state: { value: ['ALARM'] },
      },
    };
  }
  if ('taskStopped' in on) {
    const { cluster, group, family } = on.taskStopped;
    const arn = (resource: string) =>
      `arn:${scope.partition}:ecs:${scope.region}:${scope.account}:${resource}`;
    return {
      source: ['aws.ecs'],
      'detail-type': ['ECS Task State Change'],
      detail: {
        clusterArn: [arn(`cluster/${cluster}`)],
        lastStatus: ['STOPPED'],
        ...(group !== undefined && { group: [group] }),
        ...(family !== undefined && { taskDefinitionArn: [{ prefix: arn(`task-definition/${family}:`) }] }),
        containers: { exitCode: [{ 'anything-but': 0 }] },
      },
    };
  }
  return on.pattern as EventPattern;
}
