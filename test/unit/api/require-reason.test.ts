import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { S3Client } from '@aws-sdk/client-s3';
import { startSession, type ApiConfig } from '../../../lib/api/sessions';

const sfn = mockClient(SFNClient);
const TASK = 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef';
const config: ApiConfig = {
  stateMachineArn: 'arn:aws:states:xx-test-1:123456789012:stateMachine:DebugTaskSessions',
  bucket: 'artifacts',
  limits: { maxDurationSeconds: 900, maxBytes: 1e9 },
  requireReason: true,
};
const clients = { sfn: new SFNClient({}), s3: new S3Client({}) };

beforeEach(() => sfn.reset());

describe('a deployment that requires a reason', () => {
  it('refuses a session without one with INVALID_ARGUMENT, starting nothing', async () => {
    await expect(
      startSession({ target: { task: TASK }, tool: 'tcpdump' }, 'arn:aws:iam::1:user/a', config, clients),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', hint: expect.stringMatching(/--reason/) });
    expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('refuses a reason of blanks', async () => {
    await expect(
      startSession({ target: { task: TASK }, tool: 'tcpdump', reason: '   ' }, 'u', config, clients),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('starts a session that says why, with the reason in the execution input', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'x', startDate: new Date() });
    await startSession({ target: { task: TASK }, tool: 'tcpdump', reason: 'INC-42' }, 'u', config, clients);
    const input = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input!);
    expect(input.spec.reason).toBe('INC-42');
  });
});
