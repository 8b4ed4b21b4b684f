import { ListExecutionsCommand, type ExecutionListItem } from '@aws-sdk/client-sfn';
import { audit, type TriggerFiredEvent } from '../audit/audit';
import { isRuleArn } from '../authz/schema';
import { awsCall } from '../aws/errors';
import { sfnClient } from '../aws/sfn';
import { clusterNameOf } from '../domain/arn';
import { DebugTaskError } from '../domain/errors';
import { mapLimit } from '../domain/map-limit';
import { clusterOfRequest } from '../domain/routes';
import type { ExecutionInput } from '../domain/session';
import { isServiceTarget } from '../domain/session-spec';
import { logger } from '../log';
import { sessionAccess } from '../api/access';
import {
  describe,
  executionArnOf,
  parseInput,
  startSession,
  stopSession,
  type ApiConfig,
} from '../api/sessions';
import { presetNamed, presetsFromEnv, TRIGGER_NAME, type StopTarget, type TriggerPresets } from './presets';

/**
 * What the api function receives from a trigger's EventBridge rule (lib/infra/triggers.ts): the
 * rule's input transformer writes `trigger` (a constant of the rule: which preset runs) and
 * `ruleArn` (EventBridge's own `<aws.events.rule-arn>`: who asks), and the event's envelope
 * (`<aws.events.event>`: id, source, detail-type, time, resources; for the audit record only). The
 * event's content never chooses what runs: the preset is the deployment's.
 */
export interface TriggerInvocation {
  debugTask: 'trigger';
  trigger: string;
  ruleArn: string;
  event?: Record<string, unknown>;
}

export interface TriggerResult {
  trigger: string;
  action?: 'start' | 'stop';
  /** start: the session started. */
  sessionId?: string;
  /** stop: the ring sessions stopped (kept), and those the policy or owner isolation refused. */
  stopped?: string[];
  refused?: { sessionId: string; code: string }[];
  error?: { code: string; message: string; hint: string };
}

/** True for a trigger rule's input rather than an API Gateway request. */
export function isTriggerInvocation(event: unknown): event is TriggerInvocation {
  return (
    typeof event === 'object' && event !== null && (event as { debugTask?: unknown }).debugTask === 'trigger'
  );
}

export interface TriggerDeps {
  presets?: TriggerPresets;
}

/**
 * Runs the named trigger's preset as the trigger's own principal (its rule's ARN):
 * - start: the very path of POST /sessions (startSession: the same validation of every parameter,
 *   the same limits, the same audit record), with the trigger as caller; Plan then decides the
 *   capture under the deployment's policy for that principal, as for anyone.
 * - stop: every RUNNING ring session of the preset's target (same cluster, and the same task or the
 *   same service; of its tool, when it names one) is stopped and kept through the stop route's own
 *   code (sessionAccess + stopSession). Sessions of other principals are stopped only where the
 *   deployment's policy permits this trigger `stop` on them (owner isolation otherwise): each refusal
 *   is a NOT_AUTHORIZED decision in the audit log, and the other sessions are stopped all the same.
 *
 * Every firing writes a `trigger.fired` audit event. Failures are answered, not thrown: EventBridge
 * invokes the function asynchronously, and a retry would run the same preset again.
 */
export async function handleTriggerInvocation(
  invocation: TriggerInvocation,
  config: ApiConfig,
  deps: TriggerDeps = {},
): Promise<TriggerResult> {
  const name = String(invocation.trigger ?? '');
  const caller = String(invocation.ruleArn ?? '');
  const fired: TriggerFiredEvent = {
    type: 'trigger.fired',
    trigger: name.slice(0, 60),
    caller: caller.slice(0, 300),
    action: 'start',
    event: envelopeOf(invocation.event),
  };
  try {
    if (!TRIGGER_NAME.test(name) || !isRuleArn(caller)) {
      throw new DebugTaskError(
        'INVALID_ARGUMENT',
        'A trigger invocation names its trigger and its EventBridge rule ARN.',
        { hint: 'Only the rules the stack created from its declared triggers invoke the function this way.' },
      );
    }
    const preset = presetNamed(name, deps.presets ?? presetsFromEnv());
    fired.action = preset.action;
    if (preset.action === 'start') {
      const started = await startSession(preset.request, caller, config, { trigger: name });
      fired.sessionId = started.sessionId;
      audit.trigger(fired);
      await audit.flush();
      logger.info('trigger started a session', { trigger: name, sessionId: started.sessionId });
      return { trigger: name, action: 'start', sessionId: started.sessionId };
    }
    const outcome = await stopRingSessions(preset.target, preset.tool, { caller, trigger: name }, config);
    Object.assign(fired, outcome);
    audit.trigger(fired);
    await audit.flush();
    logger.info('trigger stopped ring sessions', { trigger: name, ...outcome });
    return { trigger: name, action: 'stop', ...outcome };
  } catch (error) {
    const typed =
      error instanceof DebugTaskError
        ? error
        : new DebugTaskError('AWS_ERROR', 'The trigger failed inside the API.', { cause: error });
    fired.errorCode = typed.code;
    audit.trigger(fired);
    await audit.flush().catch(() => undefined);
    logger.error('trigger failed', { trigger: name, error: typed, cause: typed.cause });
    return { trigger: name, action: fired.action, error: typed.toJSON() };
  }
}

/** The running ring sessions of a target, stopped and kept where this trigger may stop them. */
async function stopRingSessions(
  target: StopTarget,
  tool: string | undefined,
  principal: { caller: string; trigger: string },
  config: ApiConfig,
): Promise<{ stopped: string[]; refused: { sessionId: string; code: string }[] }> {
  const cluster = clusterNameOf(target.cluster);
  const running = await runningSessions(config);
  const matching = running.filter(
    ({ input }) =>
      input.spec.ring !== undefined &&
      input.reupload === undefined &&
      (tool === undefined || input.spec.tool === tool) &&
      sameTarget(input, target),
  );
  const stopped: string[] = [];
  const refused: { sessionId: string; code: string }[] = [];
  for (const { sessionId } of matching) {
    try {
      const access = await sessionAccess('stop', sessionId, { cluster, ...principal }, config);
      await stopSession(sessionId, principal.caller, config, access.execution);
      stopped.push(sessionId);
    } catch (error) {
      if (!(error instanceof DebugTaskError) || !['NOT_AUTHORIZED', 'SESSION_NOT_FOUND'].includes(error.code))
        throw error;
      refused.push({ sessionId, code: error.code });
    }
  }
  return { stopped, refused };
}

/** A session is the preset's when it is of the same cluster and the same task (by id) or service (by name). */
function sameTarget(input: ExecutionInput, target: StopTarget): boolean {
  const spec = input.spec.target;
  if (clusterOfRequest(spec) !== clusterNameOf(target.cluster)) return false;
  if (target.service !== undefined) {
    return isServiceTarget(spec) && lastSegment(spec.service) === lastSegment(target.service);
  }
  return (
    !isServiceTarget(spec) && target.task !== undefined && lastSegment(spec.task) === lastSegment(target.task)
  );
}

const lastSegment = (nameOrArn: string) => nameOrArn.split('/').at(-1) ?? nameOrArn;

/** Executions that run now (re-uploads included: the caller filters them), with their inputs. */
async function runningSessions(config: ApiConfig): Promise<{ sessionId: string; input: ExecutionInput }[]> {
  const listed: ExecutionListItem[] = [];
  let nextToken: string | undefined;
  // A thousand running sessions at most: far more than one deployment's hosts can run at once.
  for (let page = 0; page < 10; page++) {
    const out = await awsCall('states:ListExecutions', () =>
      sfnClient().send(
        new ListExecutionsCommand({
          stateMachineArn: config.stateMachineArn,
          statusFilter: 'RUNNING',
          maxResults: 100,
          ...(nextToken && { nextToken }),
        }),
      ),
    );
    listed.push(...(out.executions ?? []));
    nextToken = out.nextToken;
    if (!nextToken) break;
  }
  const rows = await mapLimit(listed, 8, async (execution) => {
    const name = execution.name ?? '';
    const described = await describe(executionArnOf(config.stateMachineArn, name), name).catch(
      () => undefined,
    );
    const input = parseInput(described?.input);
    return input?.spec && described?.status === 'RUNNING' ? { sessionId: name, input } : undefined;
  });
  return rows.filter((row): row is { sessionId: string; input: ExecutionInput } => row !== undefined);
}

/** The event's envelope for the audit record: never its detail (it may carry anything). */
function envelopeOf(event: Record<string, unknown> | undefined): TriggerFiredEvent['event'] {
  if (!event || typeof event !== 'object') return {};
  const text = (key: string) =>
    typeof event[key] === 'string' ? (event[key] as string).slice(0, 300) : undefined;
  const resources = Array.isArray(event.resources)
    ? event.resources.filter((r): r is string => typeof r === 'string').slice(0, 10)
    : undefined;
  return {
    ...(text('id') && { id: text('id') }),
    ...(text('source') && { source: text('source') }),
    ...(text('detail-type') && { detailType: text('detail-type') }),
    ...(text('time') && { time: text('time') }),
    ...(resources && { resources }),
  };
}
