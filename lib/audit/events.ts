import type { Decision } from '../authz/authorizer';

/**
 * The audit events of a deployment: one JSON object per CloudWatch Logs event in the audit log group
 * (lib/infra/audit-log.ts), so that Logs Insights can answer "who captured what on cluster prod last
 * quarter" or "every denial of strace" with `filter type = ...`. Every event carries `v` (this
 * shape's version), `type`, `at` (ISO time) and `source` (the function that emitted it).
 *
 * A field is added, never renamed or retyped, without a new `v`: outside checks read these.
 */
export const AUDIT_EVENT_VERSION = 1;

/**
 * An authorization decision as the API and Plan record it (lib/authz/authorizer.ts makes the
 * `Decision`; owner isolation makes one too, with `rule: 'owner'`). Allows and denials alike.
 */
export type AuditDecision = Decision & {
  /** The session the decision was about (a read, a cancel), or the one a capture would start. */
  sessionId?: string;
  /** sha256 of the policy file the decision was made with; absent: owner isolation alone decided. */
  policySha256?: string;
};

/** The session events, from the request to the downloads of its artifacts. */
export type SessionAuditEvent =
  | {
      type: 'session.requested';
      sessionId: string;
      caller: string;
      /** `describeTarget` of the request: `task <arn>` or `service <name> in <cluster>`. */
      target: string;
      tool: string;
      durationSeconds: number;
      maxBytes: number;
      reason: string | null;
      /** A re-upload of a kept artifact: its id. */
      reuploadId?: string;
      /** The declared trigger that asked (`caller` is then its rule's ARN). */
      trigger?: string;
    }
  | {
      type: 'session.resolved';
      sessionId: string;
      /** The tasks the session captures, each with the host it runs on. */
      targets: { childId: string; task: string; container: string; instanceId: string }[];
      /** Tasks left out, each with why (NOT_AUTHORIZED, FARGATE_UNSUPPORTED, ...). */
      skipped: { task: string; code: string }[];
    }
  | {
      type: 'session.started';
      sessionId: string;
      /** The SSM command that runs the toolbox on these hosts. */
      commandId: string;
      batch: number;
      instanceIds: string[];
      children: string[];
    }
  | {
      type: 'session.ended';
      sessionId: string;
      status: 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
      /** The error the session ended with, when it failed. */
      errorCode?: string;
      /** Each stored artifact, by its sha256: what a later download can be checked against. */
      artifacts: { childId: string; task: string; s3Uri: string; bytes: number; sha256: string }[];
      /** Children that failed, each with its error code. */
      failed: { childId: string; task: string; code: string }[];
      /** The end of a re-upload of kept artifacts: its id. */
      reuploadId?: string;
    }
  | {
      type: 'artifact.download-url';
      sessionId: string;
      childId: string;
      /** Who was given the presigned GET (the URL itself is a credential: never logged). */
      caller: string;
      s3Uri: string;
      expiresInSeconds: number;
    }
  | {
      /** --follow: presigned GETs of a followed child's chunks (one event per list, not per chunk). */
      type: 'artifact.chunk-urls';
      sessionId: string;
      childId: string;
      caller: string;
      /** The sequence numbers given, first and last, and how many. */
      firstSeq: number;
      lastSeq: number;
      count: number;
      expiresInSeconds: number;
    };

/**
 * A declared trigger fired (lib/triggers): which rule, on which event (its envelope: id, source,
 * detail-type, resources; never its detail), and what it did. Written whether it started, stopped,
 * found nothing to stop, or was refused.
 */
export interface TriggerFiredEvent {
  type: 'trigger.fired';
  trigger: string;
  /** The trigger's principal: its EventBridge rule's ARN. */
  caller: string;
  action: 'start' | 'stop';
  event: { id?: string; source?: string; detailType?: string; time?: string; resources?: string[] };
  /** start: the session it started. */
  sessionId?: string;
  /** stop: the ring sessions it stopped (their captures are kept), and those it was refused. */
  stopped?: string[];
  refused?: { sessionId: string; code: string }[];
  /** Set when it could do nothing (an invalid preset, NOT_AUTHORIZED, an AWS error). */
  errorCode?: string;
}

/** What lands in the log group: an event with its envelope. */
export type AuditRecord = (({ type: 'decision' } & AuditDecision) | SessionAuditEvent | TriggerFiredEvent) & {
  v: typeof AUDIT_EVENT_VERSION;
  at: string;
  source: string;
  /** `part/parts` when one event was split to fit CloudWatch Logs' event size. */
  part?: string;
};

export type AuditEventType = AuditRecord['type'];
