import { DebugTaskError } from '../domain/errors';
import type { SessionRequest } from '../domain/session-spec';
import * as z from '../domain/zod';

/**
 * The triggers' presets as the api function reads them: what each named trigger does, and nothing
 * about when it fires (that is its EventBridge rule's). The stack writes them, validated at synth
 * (./declaration.ts), into the api function's environment (TRIGGERS_ENV); the function looks a
 * preset up by the name its rule's input carries, never by anything in the event itself.
 *
 * A `start` preset is a POST /sessions body: it goes through the route's own validation and limits
 * when it fires (lib/api/sessions.ts). A `stop` preset names the target whose running ring sessions
 * it stops (and, optionally, their tool).
 */
export const TRIGGERS_ENV = 'DEBUG_TASK_TRIGGERS';

/** Trigger names: what a rule's input, the audit record and `debug-task list` carry. */
export const TRIGGER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$/;

export interface StopTarget {
  cluster: string;
  task?: string;
  service?: string;
}

export type TriggerPreset =
  { action: 'start'; request: SessionRequest } | { action: 'stop'; target: StopTarget; tool?: string };

export type TriggerPresets = Record<string, TriggerPreset>;

const StopTargetSchema = z.object({
  cluster: z.string().check(z.minLength(1)),
  task: z.optional(z.string().check(z.minLength(1))),
  service: z.optional(z.string().check(z.minLength(1))),
});

// The shape only: a start preset's request is validated by parseSessionRequest when it fires.
const PresetSchema = z.union([
  z.object({ action: z.literal('start'), request: z.record(z.string(), z.unknown()) }),
  z.object({ action: z.literal('stop'), target: StopTargetSchema, tool: z.optional(z.string()) }),
]);

/** The environment's presets (none when the variable is unset); a malformed one is the deployment's fault. */
export function presetsFromEnv(env: NodeJS.ProcessEnv = process.env): TriggerPresets {
  const raw = env[TRIGGERS_ENV];
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (cause) {
    throw misconfigured(`${TRIGGERS_ENV} is not JSON.`, cause);
  }
  const result = z.record(z.string().check(z.regex(TRIGGER_NAME)), PresetSchema).safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw misconfigured(`${TRIGGERS_ENV} at ${issue.path.join('.') || '(root)'}: ${issue.message}.`);
  }
  return result.data as TriggerPresets;
}

/** The preset of a trigger, by the name its rule's input carries. */
export function presetNamed(name: string, presets: TriggerPresets): TriggerPreset {
  const preset = Object.hasOwn(presets, name) ? presets[name] : undefined;
  if (!preset) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `This deployment declares no trigger "${name.slice(0, 60)}".`,
      {
        hint: 'A trigger fires only for the rules the stack created from its declared triggers: redeploy after changing them.',
      },
    );
  }
  return preset;
}

function misconfigured(message: string, cause?: unknown): DebugTaskError {
  return new DebugTaskError('AWS_ERROR', message, {
    hint: 'Redeploy: the stack writes this variable from the triggers `cdk synth` validated.',
    cause,
  });
}
