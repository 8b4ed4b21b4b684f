import { CreateLogStreamCommand, PutLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { startSession, type ApiConfig } from '../../../lib/api/sessions';
import { FAKE, aws, useAwsMocks } from '../../support/aws';
import { TASK_ARN } from '../../support/fixtures';
import { DEFAULT_LIMITS } from '../../../lib/domain/session-spec';

const GROUP = 'DebugTask-Audit-xyz';
useAwsMocks({ AUDIT_LOG_GROUP: GROUP });

const config: ApiConfig = {
  stateMachineArn: FAKE.stateMachineArn,
  bucket: FAKE.bucket,
  limits: DEFAULT_LIMITS,
};
const CALLER = 'arn:aws:sts::123456789012:assumed-role/OnCall/alice';

describe('the audit of POST /sessions', () => {
  beforeEach(() => {
    aws.logs.on(CreateLogStreamCommand).resolves({});
    aws.logs.on(PutLogEventsCommand).resolves({});
    aws.sfn.on(StartExecutionCommand).resolves({ executionArn: 'x', startDate: new Date() });
  });

  it('writes the request (who, what, why) to the audit log before the execution starts', async () => {
    const { sessionId } = await startSession(
      { target: { task: TASK_ARN }, tool: 'tcpdump', durationSeconds: 30, reason: 'INC-42' },
      CALLER,
      config,
    );

    const put = aws.logs.commandCalls(PutLogEventsCommand);
    expect(put).toHaveLength(1);
    expect(put[0].calledBefore(aws.sfn.commandCalls(StartExecutionCommand)[0])).toBe(true);
    expect(JSON.parse(put[0].args[0].input.logEvents![0].message!)).toMatchObject({
      type: 'session.requested',
      sessionId,
      caller: CALLER,
      target: TASK_ARN,
      tool: 'tcpdump',
      durationSeconds: 30,
      reason: 'INC-42',
    });
  });

  it('starts nothing when the audit log cannot be written', async () => {
    aws.logs.on(PutLogEventsCommand).rejects(new Error('AccessDeniedException'));

    await expect(
      startSession({ target: { task: TASK_ARN }, tool: 'tcpdump' }, CALLER, config),
    ).rejects.toMatchObject({ code: 'AWS_ERROR' });
    expect(aws.sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });
});
