import type { DescribeExecutionCommandOutput } from '@aws-sdk/client-sfn';
import type { Authorizer, Decision } from '../authz/authorizer';
import { deploymentAuthorizer } from '../authz/load';
import { isOwner } from '../authz/owner';
import type { PolicyAction } from '../authz/schema';
import { clusterNameOf } from '../domain/arn';
import { DebugTaskError } from '../domain/errors';
import { clusterOfRequest } from '../domain/routes';
import {
  parseChildId,
  runKeys,
  type ExecutionInput,
  type PlanRecord,
  type PlanTarget,
} from '../domain/session';
import { isServiceTarget } from '../domain/session-spec';
import { audit } from '../audit/audit';
import { notAuthorized, taskAttributes } from '../session/authorize';
import { getJson } from '../session/store';
import { assertSessionId, describe, executionArnOf, parseInput, type ApiConfig } from './sessions';

/**
 * Who may act on a session (status and download, cancel, fetch): its owner always, anyone else only
 * when the deployment's policy permits that action on every task the session covered. Without a
 * policy, sessions are their owner's alone (owner isolation by default).
 *
 * The session must belong to the cluster the route names (what IAM allowed): a session of another
 * cluster is "not found" here, never revealed through a route IAM granted for a different cluster.
 */
export interface SessionAccess {
  /** The session (parent) id; a child's id resolves to its parent's execution. */
  sessionId: string;
  execution: DescribeExecutionCommandOutput;
  input: ExecutionInput | undefined;
  /** True when the caller started it. */
  owner: boolean;
}

export interface AccessDeps {
  authorizer?: Authorizer | null;
  record?: (decision: Decision) => void;
}

export async function sessionAccess(
  action: Exclude<PolicyAction, 'capture'>,
  id: string,
  /** `trigger`: a declared trigger asks (lib/triggers); `caller` is then its rule's ARN. */
  route: { cluster: string; caller: string; trigger?: string },
  config: ApiConfig,
  deps: AccessDeps = {},
): Promise<SessionAccess> {
  const sessionId = parseChildId(assertSessionId(id))?.sessionId ?? id;
  const execution = await describe(executionArnOf(config.stateMachineArn, sessionId), id);
  const input = parseInput(execution.input);
  if (!input?.spec || clusterOfRequest(input.spec.target) !== clusterNameOf(route.cluster)) {
    throw new DebugTaskError(
      'SESSION_NOT_FOUND',
      `There is no session ${id} in cluster "${route.cluster}".`,
      {
        hint: '`debug-task list` shows the sessions you may read, with their clusters.',
      },
    );
  }
  if (isOwner(route.caller, input.caller)) return { sessionId, execution, input, owner: true };

  const authorizer = deps.authorizer === undefined ? deploymentAuthorizer() : deps.authorizer;
  if (!authorizer && sharedWithoutPolicy(input, action)) {
    (deps.record ?? auditDecision(sessionId))({
      allowed: true,
      action,
      caller: route.caller,
      ...(route.trigger !== undefined && { trigger: route.trigger }),
      task: id,
      policies: [],
      rule: TRIGGER_SESSION_RULE,
    });
    return { sessionId, execution, input, owner: false };
  }
  if (!authorizer) {
    const decision: Decision = {
      allowed: false,
      action,
      caller: route.caller,
      ...(route.trigger !== undefined && { trigger: route.trigger }),
      task: id,
      policies: [],
      rule: 'owner isolation: no deployment policy lets anyone but its owner act on a session',
    };
    (deps.record ?? auditDecision(sessionId))(decision);
    throw new DebugTaskError(
      'NOT_AUTHORIZED',
      `Session ${id} is not yours to ${action}: without a deployment policy, a session belongs to the principal that started it.`,
      { details: { action, rule: decision.rule } },
    );
  }
  const targets = await sessionTargets(config.bucket, input, id);
  for (const target of targets) {
    const principal =
      route.trigger !== undefined ? { arn: route.caller, trigger: route.trigger } : route.caller;
    const decision = authorizer.decide(action, principal, taskAttributes(target));
    (deps.record ?? auditDecision(sessionId, authorizer.policySha256))(decision);
    if (!decision.allowed) throw notAuthorized({ ...decision, task: id });
  }
  return { sessionId, execution, input, owner: false };
}

/**
 * The tasks a session covered, as Plan resolved them (plan.json), so a policy on tags or services
 * is decided on the real targets; a child's id covers its own task only. Before Plan has written
 * its record (the first second of a session), what the request named.
 */
async function sessionTargets(bucket: string, input: ExecutionInput, id: string): Promise<PlanTarget[]> {
  const plan = await getJson<PlanRecord | undefined>(bucket, runKeys(input).plan, () => undefined);
  if (plan && plan.targets.length > 0) {
    const child = plan.targets.filter((t) => t.sessionId === id);
    return child.length > 0 ? child : plan.targets;
  }
  const target = input.spec.target;
  const cluster = clusterOfRequest(target);
  return [
    {
      index: 0,
      sessionId: id,
      taskArn: isServiceTarget(target) ? `service:${target.service}` : target.task,
      clusterArn: cluster,
      container: target.container ?? '',
      containerId: '',
      instanceId: '',
      service: isServiceTarget(target) ? target.service : '',
      tags: {},
    },
  ];
}

/** Whether the caller may see a session's row in `list`: owner, or `read` permitted. */
export async function mayRead(
  input: ExecutionInput | undefined,
  sessionId: string,
  caller: string,
  config: ApiConfig,
  deps: AccessDeps = {},
): Promise<boolean> {
  if (!input?.spec) return false;
  if (isOwner(caller, input.caller)) return true;
  const authorizer = deps.authorizer === undefined ? deploymentAuthorizer() : deps.authorizer;
  if (!authorizer) return sharedWithoutPolicy(input, 'read');
  const targets = await sessionTargets(config.bucket, input, sessionId);
  // A list row decides quietly: every session a caller may not read would otherwise log a denial.
  return targets.every((t) => authorizer.decide('read', caller, taskAttributes(t)).allowed);
}

/**
 * A session a declared trigger started belongs to the deployment, not to a person: nobody would
 * otherwise read the capture an alarm took at night, nor could the deployment's own stop trigger end
 * the ring its alarm trigger began. Without a deployment policy, IAM on its cluster's routes decides
 * who may read it, fetch it and stop it (and keep it), as it decides who may start one, and the
 * deployment's stop triggers may stop it; cancelling (discarding the evidence) needs a policy. With
 * a policy, the policy decides, as for any session.
 */
export const TRIGGER_SESSION_RULE =
  "a trigger's session: without a deployment policy, IAM on its cluster's routes decides read, fetch and stop";

function sharedWithoutPolicy(input: ExecutionInput, action: Exclude<PolicyAction, 'capture'>): boolean {
  return input.trigger !== undefined && ['read', 'fetch', 'stop'].includes(action);
}

/** The audit log (lib/audit): every decision on a session, allow and deny. */
function auditDecision(sessionId: string, policySha256?: string): (decision: Decision) => void {
  return (decision) => audit.decision({ ...decision, sessionId, ...(policySha256 && { policySha256 }) });
}
