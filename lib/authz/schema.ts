import type { EntityJson, SchemaJson } from '@cedar-policy/cedar-wasm/nodejs';

/**
 * The deployment policy's vocabulary (README, "Who may debug what"): a Cedar schema every policy
 * file is validated against at `cdk synth`, and the entities and contexts the deciding functions
 * build from it. This is a contract with the policies people write: change a name only with a reason.
 *
 *   principal  DebugTask::Caller  { arn, account }            the caller's IAM ARN as the API sees it
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
            principalTypes: ['Caller'],
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

export const uid = (type: 'Caller' | 'Task' | 'Action', id: string) => ({
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
