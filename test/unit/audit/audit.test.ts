import {
  CreateLogStreamCommand,
  PutLogEventsCommand,
  ResourceAlreadyExistsException,
  ResourceNotFoundException,
} from '@aws-sdk/client-cloudwatch-logs';
import { ENTRIES_PER_EVENT, audit, withAudit, type AuditDecision } from '../../../lib/audit/audit';
import { endedEvent } from '../../../lib/audit/session-events';
import type { ChildResult } from '../../../lib/domain/session';
import { DebugTaskError } from '../../../lib/domain/errors';
import { logger } from '../../../lib/log';
import { aws, useAwsMocks } from '../../support/aws';

const GROUP = 'DebugTask-Audit1234ABCD-xyz';
useAwsMocks({ AUDIT_LOG_GROUP: GROUP, AWS_LAMBDA_FUNCTION_NAME: 'DebugTask-api' });

const DENIAL: AuditDecision = {
  allowed: false,
  action: 'capture',
  caller: 'arn:aws:sts::123456789012:assumed-role/OnCall/alice',
  task: 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef',
  policies: ['no-strace-in-prod'],
  rule: 'forbid "no-strace-in-prod"',
  sessionId: 'dt-20261205120000-abc123',
  policySha256: 'f'.repeat(64),
};

const written = () =>
  aws.logs
    .commandCalls(PutLogEventsCommand)
    .flatMap((call) => call.args[0].input.logEvents ?? [])
    .map((e) => JSON.parse(e.message ?? '') as Record<string, unknown>);

function child(i: number, status: 'SUCCEEDED' | 'FAILED'): ChildResult {
  const id = `dt-20261205120000-abc123-${String(i).padStart(4, '0')}`;
  return {
    index: i,
    sessionId: id,
    taskArn: `arn:aws:ecs:xx-test-1:123456789012:task/prod/${String(i).padStart(32, '0')}`,
    clusterArn: 'arn:aws:ecs:xx-test-1:123456789012:cluster/prod',
    container: 'web',
    instanceId: 'i-0123456789abcdef0',
    status,
    ...(status === 'SUCCEEDED'
      ? {
          artifact: {
            format: 'pcap',
            compression: 'gzip',
            bytes: 1000 + i,
            sha256: String(i % 10).repeat(64),
            objectBytes: 500,
            objectSha256: 'e'.repeat(64),
            truncated: false,
            s3Uri: `s3://bucket/sessions/x/children/${id}/artifact.pcap.gz`,
            bucket: 'bucket',
            key: `sessions/x/children/${id}/artifact.pcap.gz`,
          },
        }
      : { error: { code: 'HOST_BUSY', message: 'busy', hint: '' } }),
  } as ChildResult;
}

describe('audit', () => {
  beforeEach(() => {
    aws.logs.on(CreateLogStreamCommand).resolves({});
    aws.logs.on(PutLogEventsCommand).resolves({});
  });

  it('writes a denial to the audit log group as one JSON event: who, action, target, rule', async () => {
    audit.decision(DENIAL);

    await audit.flush();

    expect(aws.logs).toHaveReceivedCommandWith(PutLogEventsCommand, { logGroupName: GROUP });
    expect(written()).toEqual([
      {
        v: 1,
        type: 'decision',
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        source: 'DebugTask-api',
        ...DENIAL,
      },
    ]);
  });

  it('writes allows too, and everything queued in one PutLogEvents call, in order', async () => {
    audit.decision({ ...DENIAL, allowed: true, policies: ['oncall'], rule: 'permit "oncall"' });
    audit.session({
      type: 'artifact.download-url',
      sessionId: DENIAL.sessionId!,
      childId: `${DENIAL.sessionId}-0000`,
      caller: DENIAL.caller,
      s3Uri: 's3://bucket/key',
      expiresInSeconds: 300,
    });

    await audit.flush();

    expect(aws.logs.commandCalls(PutLogEventsCommand)).toHaveLength(1);
    expect(written().map((e) => [e.type, e.allowed])).toEqual([
      ['decision', true],
      ['artifact.download-url', undefined],
    ]);
    expect(audit.pending()).toHaveLength(0);
  });

  it('makes one log stream per container, named by day and function, and reuses it', async () => {
    audit.decision(DENIAL);
    await audit.flush();
    audit.decision(DENIAL);
    await audit.flush();

    expect(aws.logs.commandCalls(CreateLogStreamCommand)).toHaveLength(1);
    const stream = aws.logs.commandCalls(CreateLogStreamCommand)[0].args[0].input.logStreamName;
    expect(stream).toMatch(/^\d{4}\/\d\d\/\d\d\/DebugTask-api\/[0-9a-f-]{36}$/);
    expect(aws.logs.commandCalls(PutLogEventsCommand).map((c) => c.args[0].input.logStreamName)).toEqual([
      stream,
      stream,
    ]);
  });

  it('takes a stream that already exists (a retried CreateLogStream) as made', async () => {
    aws.logs
      .on(CreateLogStreamCommand)
      .rejects(new ResourceAlreadyExistsException({ message: 'exists', $metadata: {} }));
    audit.decision(DENIAL);

    await expect(audit.flush()).resolves.toBeUndefined();
    expect(written()).toHaveLength(1);
  });

  it('fails with AWS_ERROR naming the call when the audit group refuses the events, and does not send them twice', async () => {
    aws.logs
      .on(PutLogEventsCommand)
      .rejects(
        new ResourceNotFoundException({ message: 'The specified log group does not exist.', $metadata: {} }),
      );
    audit.decision(DENIAL);

    const error = await audit.flush().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DebugTaskError);
    expect((error as DebugTaskError).code).toBe('AWS_ERROR');
    expect((error as DebugTaskError).message).toContain('logs:PutLogEvents');
    expect(audit.pending()).toHaveLength(0);
  });

  it('calls nothing when nothing was queued', async () => {
    await audit.flush();

    expect(aws.logs.calls()).toHaveLength(0);
  });

  it('splits a large fleet event into parts of at most ENTRIES_PER_EVENT entries, each under 256 KB', async () => {
    const children = Array.from({ length: 1000 }, (_, i) => child(i, i % 3 === 0 ? 'FAILED' : 'SUCCEEDED'));
    audit.session(endedEvent(DENIAL.sessionId!, 'SUCCEEDED', children));

    await audit.flush();

    const parts = written();
    // 666 artifacts need 4 parts of 200, 334 failures 2: 4 parts, each with its share of both lists.
    expect(parts.map((p) => p.part)).toEqual(['1/4', '2/4', '3/4', '4/4']);
    expect(parts.flatMap((p) => p.artifacts as unknown[])).toHaveLength(666);
    expect(parts.flatMap((p) => p.failed as unknown[])).toHaveLength(334);
    for (const p of parts) {
      expect((p.artifacts as unknown[]).length).toBeLessThanOrEqual(ENTRIES_PER_EVENT);
      expect(Buffer.byteLength(JSON.stringify(p))).toBeLessThan(256 * 1024);
    }
    expect((parts[0].artifacts as { sha256: string }[])[0].sha256).toBe('1'.repeat(64));
  });

  it('writes to the function log instead when no audit log group is configured (nothing is dropped)', async () => {
    const saved = process.env.AUDIT_LOG_GROUP;
    delete process.env.AUDIT_LOG_GROUP;
    const info = jest.spyOn(logger, 'info');
    try {
      audit.decision(DENIAL);
      await audit.flush();
    } finally {
      process.env.AUDIT_LOG_GROUP = saved;
    }
    const calls = [...info.mock.calls];
    info.mockRestore();

    expect(calls).toEqual([['audit', { audit: expect.objectContaining({ type: 'decision', ...DENIAL }) }]]);
    expect(aws.logs.calls()).toHaveLength(0);
  });
});

describe('withAudit', () => {
  beforeEach(() => {
    aws.logs.on(CreateLogStreamCommand).resolves({});
    aws.logs.on(PutLogEventsCommand).resolves({});
  });

  it("writes the step's events before its result is returned", async () => {
    const step = withAudit(async (n: number) => {
      audit.decision(DENIAL);
      return n + 1;
    });

    await expect(step(1)).resolves.toBe(2);
    expect(written()).toHaveLength(1);
  });

  it("writes the events of a failed step too, and rethrows the step's own error, not the write's", async () => {
    aws.logs.on(PutLogEventsCommand).rejects(new Error('throttled'));
    const original = new DebugTaskError('CANCELLED', 'The session was cancelled.');
    const step = withAudit(async () => {
      audit.decision(DENIAL);
      throw original;
    });

    await expect(step(undefined)).rejects.toBe(original);
    expect(aws.logs.commandCalls(PutLogEventsCommand)).toHaveLength(1);
  });

  it('fails a step that succeeded when its audit cannot be written: nothing goes on unrecorded', async () => {
    aws.logs.on(PutLogEventsCommand).rejects(new Error('throttled'));
    const step = withAudit(async () => {
      audit.decision(DENIAL);
      return 'done';
    });

    await expect(step(undefined)).rejects.toMatchObject({ code: 'AWS_ERROR' });
  });
});
