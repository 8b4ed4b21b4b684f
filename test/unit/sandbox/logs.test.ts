import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateLogStreamCommand, PutLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { audit } from '../../../lib/audit/audit';
import { logsClient } from '../../../lib/aws/logs';
import { resetAwsClients } from '../../../lib/aws/registry';
import { startLogsStandIn, type LogsStandIn } from '../../../lib/sandbox/logs';
import { useAwsMocks, withEnv } from '../../support/aws';

useAwsMocks({}, { real: ['logs'] });

const GROUP = 'debug-task-sandbox-audit';
let dir: string;
let logs: LogsStandIn;
let restore: () => void;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'logs-standin-'));
  logs = await startLogsStandIn({ logGroupName: GROUP, file: join(dir, 'audit.jsonl') });
  restore = withEnv({ AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: logs.endpoint, AUDIT_LOG_GROUP: GROUP });
  resetAwsClients();
});

afterEach(async () => {
  restore();
  await logs.stop();
  await rm(dir, { recursive: true, force: true });
});

const DECISION = {
  allowed: false,
  action: 'read' as const,
  caller: 'arn:aws:iam::000000000000:user/other',
  task: 'arn:aws:ecs:xx-sandbox-1:000000000000:task/sandbox/abc',
  policies: [],
  rule: 'owner',
};

describe('the CloudWatch Logs stand-in', () => {
  it('takes the audit events the real client writes, in order, and keeps them as JSON lines', async () => {
    audit.decision(DECISION);
    audit.decision({ ...DECISION, allowed: true, rule: 'permit "security-reads-all"' });
    await audit.flush();

    const lines = (await readFile(logs.file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.type, l.allowed, l.rule])).toEqual([
      ['decision', false, 'owner'],
      ['decision', true, 'permit "security-reads-all"'],
    ]);
    expect(logs.events()).toEqual(lines);
  });

  it('refuses another log group, and a stream made twice, as CloudWatch Logs does', async () => {
    await expect(
      logsClient().send(new CreateLogStreamCommand({ logGroupName: 'other', logStreamName: 's' })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await logsClient().send(new CreateLogStreamCommand({ logGroupName: GROUP, logStreamName: 's' }));
    await expect(
      logsClient().send(new CreateLogStreamCommand({ logGroupName: GROUP, logStreamName: 's' })),
    ).rejects.toMatchObject({ name: 'ResourceAlreadyExistsException' });
  });

  it('refuses events to a stream that was never made', async () => {
    await expect(
      logsClient().send(
        new PutLogEventsCommand({
          logGroupName: GROUP,
          logStreamName: 'never-made',
          logEvents: [{ timestamp: Date.now(), message: '{}' }],
        }),
      ),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });
});
