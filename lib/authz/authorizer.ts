import type { Cedar, ParsedPolicy } from './policy-file';
import {
  principalArn,
  principalEntity,
  taskEntity,
  uid,
  type CaptureContext,
  type PolicyAction,
  type Principal,
  type TaskAttributes,
} from './schema';

/** One decision of the deployment's policy, as the audit log and a denial report it. */
export interface Decision {
  allowed: boolean;
  action: PolicyAction;
  caller: string;
  /** The trigger that asked, when a declared trigger did (`caller` is then its rule's ARN). */
  trigger?: string;
  task: string;
  /**
   * The policies that decided (Cedar's "reason": the permits that allowed, or the forbids that
   * denied, by their @id); empty for a denial because no permit applied.
   */
  policies: string[];
  /** For humans: `forbid "no-strace-in-prod"`, `no permit applies`, `permit "oncall"`. */
  rule: string;
}

/**
 * The deployment's policy, evaluated by Cedar (the engine of Amazon Verified Permissions) in the
 * functions that decide: Plan (capture, preview, doctor, after each target is resolved) and the api
 * (read, cancel, stop, fetch, list of another caller's sessions). Deny by default: with a policy
 * file, a capture needs a permit.
 */
export class Authorizer {
  constructor(
    private readonly policy: ParsedPolicy,
    private readonly cedar: Cedar,
  ) {}

  /** The sha256 of the policy file every decision was made with (the audit record names it). */
  get policySha256(): string {
    return this.policy.sha256;
  }

  /** `caller`: an IAM caller's ARN, or a trigger (its rule's ARN and name: lib/authz/schema.ts). */
  decide(
    action: PolicyAction,
    principal: Principal,
    task: TaskAttributes,
    context?: CaptureContext,
  ): Decision {
    const entity = principalEntity(principal);
    const caller = principalArn(principal);
    const answer = this.cedar.isAuthorized({
      principal: entity.uid,
      action: uid('Action', action),
      resource: uid('Task', task.taskArn),
      context: context ? { ...context } : {},
      policies: { staticPolicies: this.policy.policies },
      entities: [entity, taskEntity(task)],
    });
    const trigger = typeof principal === 'string' ? undefined : principal.trigger;
    const base = { action, caller, ...(trigger !== undefined && { trigger }), task: task.taskArn };
    if (answer.type === 'failure') {
      // A request the engine cannot evaluate is a denial, never an accident that lets it through.
      return {
        ...base,
        allowed: false,
        policies: [],
        rule: `the policy could not be evaluated: ${answer.errors[0]?.message ?? ''}`,
      };
    }
    const { decision, diagnostics } = answer.response;
    const policies = diagnostics.reason;
    const allowed = decision === 'allow';
    const rule = allowed
      ? `permit ${policies.map((p) => JSON.stringify(p)).join(', ')}`
      : policies.length > 0
        ? `forbid ${policies.map((p) => JSON.stringify(p)).join(', ')}`
        : 'no permit applies';
    return { ...base, allowed, policies, rule };
  }
}
