import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { startSession, type ApiConfig } from '../../../lib/api/sessions';
import { FAKE, aws, useAwsMocks } from '../../support/aws';
import { TASK_ARN } from '../../support/fixtures';
import { DEFAULT_LIMITS } from '../../../lib/domain/session-spec';

useAwsMocks();

const config: ApiConfig = {
  stateMachineArn: FAKE.stateMachineArn,
  bucket: FAKE.bucket,
  limits: DEFAULT_LIMITS,
  requireReason: true,
};

describe('a deployment that requires a reason', () => {
  it('refuses a session without one with INVALID_ARGUMENT, starting nothing', async () => {
    await expect(
      startSession({ target: { task: TASK_ARN }, tool: 'tcpdump' }, 'arn:aws:iam::1:user/a', config),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', hint: expect.stringMatching(/--reason/) });
    expect(aws.sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('refuses a reason of blanks', async () => {
    await expect(
      startSession({ target: { task: TASK_ARN }, tool: 'tcpdump', reason: '   ' }, 'u', config),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(aws.sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('starts a session that says why, with the reason in the execution input', async () => {
    aws.sfn.on(StartExecutionCommand).resolves({ executionArn: 'x', startDate: new Date() });

    await startSession({ target: { task: TASK_ARN }, tool: 'tcpdump', reason: 'INC-42' }, 'u', config);

    const input = JSON.parse(aws.sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input!);
    expect(input.spec.reason).toBe('INC-42');
  });
});
