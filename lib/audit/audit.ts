import { randomUUID } from 'node:crypto';
import {
  CreateLogStreamCommand,
  PutLogEventsCommand,
  type InputLogEvent,
} from '@aws-sdk/client-cloudwatch-logs';
import { awsCall, sdkErrorInfo, translateAwsError } from '../aws/errors';
import { logsClient } from '../aws/logs';
import { logger } from '../log';
import {
  AUDIT_EVENT_VERSION,
  type AuditDecision,
  type AuditRecord,
  type SessionAuditEvent,
  type TriggerFiredEvent,
} from './events';

export type { AuditDecision, AuditRecord, SessionAuditEvent, TriggerFiredEvent } from './events';

/**
 * The audit log of a deployment (docs/ARCHITECTURE.md, "Audit"): `audit.decision(...)` and
 * `audit.session(...)` queue a structured event (./events.ts); `audit.flush()` writes the queue to the
 * audit log group (AUDIT_LOG_GROUP) with CloudWatch Logs PutLogEvents. The api's `respond` and every
 * step's `stepHandler` flush when a request or a step ends; code that must not act before its audit is
 * written (StartExecution after a capture was allowed) flushes first itself. A flush that fails is an
 * AWS_ERROR: the request or the step fails with it, so nothing is done without its record.
 *
 * Why PutLogEvents from the functions, and not a line on stdout sent on by a subscription filter or
 * Lambda's log routing: the audit group then holds exactly the audit (an auditor is granted that
 * group, not the functions' debug output), it is written before the request returns (a subscription
 * is asynchronous: a denial could be answered before its record exists), and a write that fails is
 * seen by the code that acted. The cost: one client (the CloudWatch Logs SDK, two commands), only in
 * the six functions that emit: +22 KB minified in api, plan, doctor, launch and cleanup, +42 KB in
 * collect (its only other client, S3, speaks XML, so the JSON protocol comes with it); poll and the
 * sweeper carry none (esbuild with the stack's options, 2026-12-06). One CreateLogStream per Lambda
 * container, one PutLogEvents per request or step that emitted anything.
 *
 * Without AUDIT_LOG_GROUP (`debug-task local`, unit tests of other modules) the events go to the
 * function's own log as `audit` lines: never dropped.
 */
export class AuditTrail {
  private queue: AuditRecord[] = [];
  private stream: { group: string; name: string } | undefined;

  /** An authorization decision, allow or deny (who, action, target, rule). */
  decision(decision: AuditDecision): void {
    this.queue.push(envelope({ type: 'decision', ...decision }));
  }

  /** A session event (requested, resolved, started, ended, download URL given). */
  session(event: SessionAuditEvent): void {
    for (const part of splitToFit(event)) this.queue.push(part);
  }

  /** A declared trigger fired: what it did, or why it could not (lib/triggers). */
  trigger(event: TriggerFiredEvent): void {
    this.queue.push(envelope(event));
  }

  /** Events queued and not yet written (tests, and the flush's own bookkeeping). */
  pending(): readonly AuditRecord[] {
    return this.queue;
  }

  /** Writes every queued event; throws AWS_ERROR (after logging them) when the group refuses them. */
  async flush(): Promise<void> {
    if (this.queue.length === 0) return;
    const records = this.queue;
    this.queue = [];
    const group = process.env.AUDIT_LOG_GROUP;
    if (!group) {
      for (const record of records) logger.info('audit', { audit: record });
      return;
    }
    try {
      const stream = await this.streamOf(group);
      for (const batch of batches(records)) {
        await awsCall('logs:PutLogEvents', () =>
          logsClient().send(
            new PutLogEventsCommand({ logGroupName: group, logStreamName: stream, logEvents: batch }),
          ),
        );
      }
    } catch (error) {
      // The function's own log keeps them, so an outage of the audit group loses nothing.
      logger.error('audit events not written to the audit log', { auditLogGroup: group, audit: records });
      throw error;
    }
  }

  /** Forgets the queue and the log stream (tests; a new container starts like this). */
  reset(): void {
    this.queue = [];
    this.stream = undefined;
  }

  /** One stream per Lambda container (PutLogEvents needs one; a container writes in order). */
  private async streamOf(group: string): Promise<string> {
    if (this.stream?.group === group) return this.stream.name;
    const day = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
    const name = `${day}/${process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'debug-task'}/${randomUUID()}`;
    try {
      await logsClient().send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: name }));
    } catch (error) {
      // Another container cannot have made this name (a UUID): only a retried call of ours has. By
      // name, as every SDK error is read (the bundles do not register the SDK's error classes).
      if (sdkErrorInfo(error).name !== 'ResourceAlreadyExistsException')
        throw translateAwsError('logs:CreateLogStream', error);
    }
    this.stream = { group, name };
    return name;
  }
}

/** The audit trail of this process (one per Lambda container). */
export const audit = new AuditTrail();

function envelope<E extends { type: string }>(event: E): AuditRecord {
  return {
    v: AUDIT_EVENT_VERSION,
    at: new Date().toISOString(),
    source: process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'debug-task',
    ...event,
  } as unknown as AuditRecord;
}

/** Entries of a list field per event: ~250 bytes each keeps an event far below CloudWatch's 256 KB. */
export const ENTRIES_PER_EVENT = 200;

/** A fleet's resolved or ended event, split into parts of ENTRIES_PER_EVENT entries of each list. */
function splitToFit(event: SessionAuditEvent): AuditRecord[] {
  const lists = Object.entries(event).filter(([, value]) => Array.isArray(value)) as [string, unknown[]][];
  const parts = Math.max(1, ...lists.map(([, list]) => Math.ceil(list.length / ENTRIES_PER_EVENT)));
  if (parts === 1) return [envelope(event)];
  return Array.from({ length: parts }, (_, i) => {
    const slice = Object.fromEntries(
      lists.map(([key, list]) => [key, list.slice(i * ENTRIES_PER_EVENT, (i + 1) * ENTRIES_PER_EVENT)]),
    );
    return { ...envelope({ ...event, ...slice }), part: `${i + 1}/${parts}` };
  });
}

/** PutLogEvents' limits: 10,000 events and 1,048,576 bytes (each message + 26) per call. */
const MAX_EVENTS_PER_CALL = 10_000;
const MAX_BYTES_PER_CALL = 1_048_576;
const EVENT_OVERHEAD_BYTES = 26;

function batches(records: readonly AuditRecord[]): InputLogEvent[][] {
  const out: InputLogEvent[][] = [];
  let current: InputLogEvent[] = [];
  let bytes = 0;
  for (const record of records) {
    const message = JSON.stringify(record);
    const size = Buffer.byteLength(message) + EVENT_OVERHEAD_BYTES;
    if (current.length > 0 && (current.length >= MAX_EVENTS_PER_CALL || bytes + size > MAX_BYTES_PER_CALL)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push({ timestamp: Date.parse(record.at), message });
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * Wraps a step (or any handler) so that the audit events it queued are written when it ends: before
 * its result is returned (a failed write fails the step), and on failure too, without hiding the
 * step's own error (a failed write is then logged with the events).
 */
export function withAudit<E, R>(fn: (event: E) => Promise<R>): (event: E) => Promise<R> {
  return async (event: E) => {
    let result: R;
    try {
      result = await fn(event);
    } catch (error) {
      await audit.flush().catch(() => undefined);
      throw error;
    }
    await audit.flush();
    return result;
  };
}
