import type { EntityJson, SchemaJson } from '@cedar-policy/cedar-wasm/nodejs';

/**
 * The deployment policy's vocabulary (README, "Who may debug what"): a Cedar schema every policy
 * file is validated against at `cdk synth`, and the entities and contexts the deciding functions
 * build from it. This is a contract with the policies people write: change a name only with a reason.
 *
 *   principal  DebugTask::Caller  { arn, account }            the caller's IAM ARN as the API sees it
 *              DebugTask::Trigger { arn, account, name }      a declared trigger: its EventBridge rule's
 *                                                            ARN, and the trigger's name
 *   resource   DebugTask::Task    { cluster, service, container, launchType, networkMode }
 *                                 + the task's tags as Cedar entity tags
 *   action     DebugTask::Action::"capture" | "read" | "stop" | "cancel" | "fetch"
 *   context    (capture)          { tool, durationSeconds, maxBytes, allowHostNetwork, allowHostPid,
 *                                   reason, targets }
 *
 * Task tags are entity tags (`resource.hasTag("team") && resource.getTag("team") == "payments"`),
 * not a record attribute: a record's keys must all be declared in a schema, and tags are whatever
 * a team puts on its tasks.
 */
export const NAMESPACE = 'DebugTask';

/**
 * capture: start a session on a task (also what a preview and doctor show: the targets a session
 *          would capture); read: a session's status, result, download URLs and its row in `list`;
 *          stop: end its captures now and keep them; cancel: stop it and discard; fetch: upload
 *          again what a failed upload left on a host.
 * The owner of a session may always read, stop, cancel and fetch it; the policy decides for everyone
 * else. `stop` is its own action, not `cancel`'s: a policy may let an on-call team end someone's
 * capture and keep the evidence without letting it destroy the evidence, and a policy written
 * before `stop` existed grants nothing new (deny by default).
 */
export const ACTIONS = ['capture', 'read', 'stop', 'cancel', 'fetch'] as const;
export type PolicyAction = (typeof ACTIONS)[number];

/** The action that starts something on a host carries the capture's context. */
const WITH_CAPTURE_CONTEXT: readonly PolicyAction[] = ['capture'];

const CAPTURE_CONTEXT = {
  type: 'Record',
  attributes: {
    tool: { type: 'String' },
    durationSeconds: { type: 'Long' },
    maxBytes: { type: 'Long' },
    allowHostNetwork: { type: 'Boolean' },
    allowHostPid: { type: 'Boolean' },
    reason: { type: 'String' },
    /** How many tasks the session covers (1 for a task; a service's targets). */
    targets: { type: 'Long' },
  },
} as const;

export const SCHEMA: SchemaJson<string> = {
  [NAMESPACE]: {
    entityTypes: {
      Caller: {
        shape: { type: 'Record', attributes: { arn: { type: 'String' }, account: { type: 'String' } } },
      },
      /**
       * A trigger the deployment declared (lib/triggers), acting as its own principal: its rule's ARN
       * (`arn:aws:events:<region>:<account>:rule/<rule>`) and its name, so a policy can grant one
       * trigger (`principal is DebugTask::Trigger && principal.name == "keep-ring"`) what no person
       * gets. It has `arn` and `account` as a Caller does: a policy written for every principal of
       * an account covers the deployment's triggers too.
       */
      Trigger: {
        shape: {
          type: 'Record',
          attributes: { arn: { type: 'String' }, account: { type: 'String' }, name: { type: 'String' } },
        },
      },
      Task: {
        shape: {
          type: 'Record',
          attributes: {
            cluster: { type: 'String' },
            /** Empty when the task belongs to no service. */
            service: { type: 'String' },
            container: { type: 'String' },
            launchType: { type: 'String' },
            networkMode: { type: 'String' },
          },
        },
        tags: { type: 'String' },
      },
    },
    actions: Object.fromEntries(
      ACTIONS.map((action) => [
        action,
        {
          appliesTo: {
            principalTypes: ['Caller', 'Trigger'],
            resourceTypes: ['Task'],
            ...(WITH_CAPTURE_CONTEXT.includes(action) && { context: CAPTURE_CONTEXT }),
          },
        },
      ]),
    ),
  },
} as unknown as SchemaJson<string>;

/** Who asks. */
export interface CallerAttributes {
  arn: string;
  account: string;
}

/** The task a decision is about, as resolved (not as the caller named it). */
export interface TaskAttributes {
  /** Its id in the decision: the task ARN. */
  taskArn: string;
  cluster: string;
  service: string;
  container: string;
  launchType: string;
  networkMode: string;
  tags: Record<string, string>;
}

export interface CaptureContext {
  tool: string;
  durationSeconds: number;
  maxBytes: number;
  allowHostNetwork: boolean;
  allowHostPid: boolean;
  reason: string;
  targets: number;
}

export const uid = (type: 'Caller' | 'Trigger' | 'Task' | 'Action', id: string) => ({
  type: `${NAMESPACE}::${type}`,
  id,
});

export function callerEntity(caller: CallerAttributes): EntityJson {
  return { uid: uid('Caller', caller.arn), attrs: { arn: caller.arn, account: caller.account }, parents: [] };
}

export function taskEntity(task: TaskAttributes): EntityJson {
  return {
    uid: uid('Task', task.taskArn),
    attrs: {
      cluster: task.cluster,
      service: task.service,
      container: task.container,
      launchType: task.launchType,
      networkMode: task.networkMode,
    },
    parents: [],
    tags: task.tags,
  };
}

/** The account of an IAM or STS ARN (`arn:aws:sts::123456789012:assumed-role/...`), or ''. */
export function accountOf(arn: string): string {
  return /^arn:aws[a-z-]*:(?:iam|sts)::([0-9]{12}):/.exec(arn)?.[1] ?? '';
}

/**
 * Who asks: an IAM caller by its ARN, or a declared trigger (its rule's ARN and its name). A trigger
 * is only ever named by the api function's trigger path and by Plan for the sessions it started,
 * from the name the rule's own input carries: an HTTP caller is always a Caller.
 */
export type Principal = string | { arn: string; trigger?: string };

/** An EventBridge rule's ARN: `arn:aws:events:<region>:<account>:rule/<name>` (its account, or undefined). */
const RULE_ARN = /^arn:aws[a-z-]*:events:[a-z0-9-]+:([0-9]{12}):rule\/[.\-_A-Za-z0-9/]{1,128}$/;

export function isRuleArn(arn: string): boolean {
  return RULE_ARN.test(arn);
}

/** The principal's ARN (what Decision.caller and the audit record name). */
export function principalArn(principal: Principal): string {
  return typeof principal === 'string' ? principal : principal.arn;
}

/** The Cedar entity of a principal: a Trigger for a named trigger whose ARN is a rule's, else a Caller. */
export function principalEntity(principal: Principal): EntityJson {
  if (typeof principal !== 'string' && principal.trigger !== undefined && isRuleArn(principal.arn)) {
    return {
      uid: uid('Trigger', principal.arn),
      attrs: {
        arn: principal.arn,
        account: RULE_ARN.exec(principal.arn)?.[1] ?? '',
        name: principal.trigger,
      },
      parents: [],
    };
  }
  const arn = principalArn(principal);
  return callerEntity({ arn, account: accountOf(arn) });
}
