import { DescribeTaskDefinitionCommand, type ECSClient } from '@aws-sdk/client-ecs';
import type { Authorizer, Decision } from '../authz/authorizer';
import { deploymentAuthorizer } from '../authz/load';
import {
  principalArn,
  type CaptureContext,
  type PolicyAction,
  type Principal,
  type TaskAttributes,
} from '../authz/schema';
import { clusterNameOf } from '../domain/arn';
import { DebugTaskError } from '../domain/errors';
import { mapLimit } from '../domain/map-limit';
import type { PlanTarget, ResolvedTarget, SkippedTask } from '../domain/session';
import type { SessionSpec } from '../domain/session-spec';
import { awsCall } from '../aws/errors';
import { ecsClient } from '../aws/ecs';
import { audit } from '../audit/audit';
import type { Resolution } from './targets';

/**
 * The deployment policy's say on a capture, once its targets are resolved (Plan, and the preview
 * and doctor that show what a session would capture): each target is decided with its real
 * cluster, service, container, tags, launch type and network mode, never what the caller named.
 *
 * A denied task of a one-task session fails the request with NOT_AUTHORIZED before anything is
 * sent to a host; a service's denied tasks are skipped with that code, like its other skipped
 * tasks, and the rest are captured. Without a policy file, IAM on the routes decides alone.
 */
export interface AuthorizeDeps {
  /** Default: the deployment's policy (lib/authz/load.ts), or none. */
  authorizer?: Authorizer | null;
  ecs?: ECSClient;
  /** Where each decision goes; default: the audit log (lib/audit). */
  record?: (decision: Decision) => void;
  /** The session a capture decision is for (the audit record names it). */
  sessionId?: string;
}

export async function authorizeCapture(
  spec: SessionSpec,
  /** The caller's IAM ARN, or the trigger that started the session (lib/authz/schema.ts). */
  caller: Principal,
  resolution: Resolution,
  deps: AuthorizeDeps = {},
): Promise<Resolution> {
  const authorizer = deps.authorizer === undefined ? deploymentAuthorizer() : deps.authorizer;
  if (!authorizer) return resolution;
  const record = deps.record ?? auditDecision(authorizer.policySha256, deps.sessionId);

  const withModes = await withNetworkModes(resolution, deps.ecs ?? ecsClient());
  const context = captureContext(spec, withModes.targets.length);
  const allowed: ResolvedTarget[] = [];
  const denied: SkippedTask[] = [];
  const decisions: Decision[] = [];
  for (const target of withModes.targets) {
    const decision = authorizer.decide('capture', caller, taskAttributes(target), context);
    record(decision);
    decisions.push(decision);
    if (decision.allowed) allowed.push(target);
    else
      denied.push({
        taskArn: target.taskArn,
        code: 'NOT_AUTHORIZED',
        message: denialMessage(decision, spec),
      });
  }
  if (resolution.kind === 'task' && denied.length > 0) {
    throw notAuthorized(decisions[0], spec);
  }
  if (allowed.length === 0) {
    throw new DebugTaskError(
      'NOT_AUTHORIZED',
      `The deployment's policy lets ${principalArn(caller)} capture with ${spec.tool} on none of the ${denied.length} tasks of service "${resolution.service}" (${decisions[0].rule}).`,
      {
        details: {
          action: 'capture',
          tool: spec.tool,
          rule: decisions[0].rule,
          policies: decisions[0].policies,
        },
      },
    );
  }
  return { ...withModes, targets: allowed, skipped: [...withModes.skipped, ...denied] };
}

/** The Cedar resource of a target: what was resolved, as the schema names it. */
export function taskAttributes(target: ResolvedTarget | PlanTarget): TaskAttributes {
  const container = typeof target.container === 'string' ? target.container : target.container.name;
  return {
    taskArn: target.taskArn,
    cluster: clusterNameOf(target.clusterArn),
    service: target.service ?? '',
    container,
    launchType: target.launchType ?? '',
    networkMode: target.networkMode ?? '',
    tags: target.tags ?? {},
  };
}

export function captureContext(spec: SessionSpec, targets: number): CaptureContext {
  return {
    tool: spec.tool,
    durationSeconds: spec.durationSeconds,
    maxBytes: spec.maxBytes,
    allowHostNetwork: spec.allowHostNetwork,
    allowHostPid: spec.allowHostPid,
    reason: spec.reason ?? '',
    targets,
  };
}

/** NOT_AUTHORIZED naming what was asked and the rule that said no; nothing about the target beyond what the caller named. */
export function notAuthorized(decision: Decision, spec?: Pick<SessionSpec, 'tool'>): DebugTaskError {
  return new DebugTaskError('NOT_AUTHORIZED', denialMessage(decision, spec), {
    details: {
      action: decision.action,
      ...(spec && { tool: spec.tool }),
      rule: decision.rule,
      policies: decision.policies,
    },
  });
}

const VERB: Record<PolicyAction, string> = {
  capture: 'capture on',
  read: 'read the session of',
  stop: 'stop the session of',
  cancel: 'cancel the session of',
  fetch: 'fetch the artifact of',
};

function denialMessage(decision: Decision, spec?: Pick<SessionSpec, 'tool'>): string {
  const tool = decision.action === 'capture' && spec ? ` with ${spec.tool}` : '';
  return `The deployment's policy does not let ${decision.caller} ${VERB[decision.action]} task ${decision.task}${tool}: ${decision.rule}.`;
}

/**
 * Network modes come from task definitions (DescribeTasks does not carry them): one
 * DescribeTaskDefinition per distinct definition, only when a policy decides, so a deployment
 * without one keeps its three calls before SendCommand.
 */
async function withNetworkModes(resolution: Resolution, ecs: ECSClient): Promise<Resolution> {
  const arns = [
    ...new Set(resolution.targets.flatMap((t) => (t.taskDefinitionArn ? [t.taskDefinitionArn] : []))),
  ];
  const modes = new Map<string, string>();
  await mapLimit(arns, 4, async (taskDefinition) => {
    const out = await awsCall('ecs:DescribeTaskDefinition', () =>
      ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition })),
    );
    // ECS's default on Linux container instances when a definition names none.
    modes.set(taskDefinition, out.taskDefinition?.networkMode ?? 'bridge');
  });
  return {
    ...resolution,
    targets: resolution.targets.map((t) => ({
      ...t,
      networkMode: (t.taskDefinitionArn && modes.get(t.taskDefinitionArn)) || 'bridge',
    })),
    calls: { ...resolution.calls, 'ecs:DescribeTaskDefinition': arns.length },
  };
}

/** The audit log (lib/audit): every decision, allow and deny, with the policy file's sha256. */
function auditDecision(policySha256: string, sessionId?: string): (decision: Decision) => void {
  return (decision) => audit.decision({ ...decision, policySha256, ...(sessionId && { sessionId }) });
}
