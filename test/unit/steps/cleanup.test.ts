import 'aws-sdk-client-mock-jest';
import { CancelCommandCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { DebugTaskError, fromStepFunctionsFailure, toStepFunctionsError } from '../../../lib/domain/errors';
import { buildCommandDocument, commandParameters } from '../../../lib/host/runner-script';
import { resolveParameters } from '../../../lib/sandbox/ssm-document';
import { cleanupSession, type CleanupState } from '../../../lib/steps/cleanup';
import { stepHandler } from '../../../lib/steps/step-handler';
import {
  DOCUMENT,
  IMAGE,
  INSTANCE_ID,
  SESSION_ID,
  caught,
  executionInput,
  launch,
  target,
  withEnv,
} from './fixtures';

const ssm = mockClient(SSMClient);

/** The {Error, Cause} Catch puts at $.error when a Lambda step raised `error`. */
function caughtError(error: DebugTaskError): CleanupState['error'] {
  const carried = toStepFunctionsError(error);
  return {
    Error: carried.name,
    Cause: JSON.stringify({ errorType: carried.name, errorMessage: carried.message }),
  };
}

const CANCELLED = new DebugTaskError('CANCELLED', `Session ${SESSION_ID} was cancelled.`, {
  details: { by: 'alice' },
});
const fullState: CleanupState = { ...executionInput(), target, launch, error: caughtError(CANCELLED) };

let restoreEnv: () => void;

beforeEach(() => {
  ssm.reset();
  ssm.on(CancelCommandCommand).resolves({});
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cleanup-command' } });
  restoreEnv = withEnv({ DOCUMENT_NAME: DOCUMENT, TOOLBOX_IMAGE: IMAGE });
});

afterEach(() => restoreEnv());

describe('cleanupSession', () => {
  it('cancels the command, asks the host to clean up the session, then re-raises the original error', async () => {
    const error = await caught(() => cleanupSession(fullState));

    expect(error).toBeInstanceOf(DebugTaskError);
    expect((error as unknown as DebugTaskError).toJSON()).toEqual(CANCELLED.toJSON());
    expect(ssm).toHaveReceivedCommandWith(CancelCommandCommand, {
      CommandId: launch.commandId,
      InstanceIds: [INSTANCE_ID],
    });
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
  });

  it('sends the same document with action cleanup for this session', async () => {
    await caught(() => cleanupSession(fullState));

    const input = ssm.commandCalls(SendCommandCommand)[0].args[0].input;
    expect(input).toMatchObject({
      DocumentName: DOCUMENT,
      InstanceIds: [INSTANCE_ID],
      Comment: `debug-task ${SESSION_ID}`,
    });
    expect(input.Parameters).toEqual(
      commandParameters({
        action: 'cleanup',
        sessionId: SESSION_ID,
        expiresAt: String(launch.expiresAt),
        executionTimeout: '120',
      }),
    );
  });

  it('sends only what cleanup needs, and SSM takes it: every other parameter has a default', async () => {
    await caught(() => cleanupSession(fullState));

    const parameters = ssm.commandCalls(SendCommandCommand)[0].args[0].input.Parameters;
    expect(Object.keys(parameters ?? {}).sort()).toEqual([
      'action',
      'executionTimeout',
      'expiresAt',
      'sessionId',
    ]);
    // SendCommand's own check (required parameters, patterns), as the sandbox's SSM applies it.
    const resolved = resolveParameters(buildCommandDocument(), parameters);
    expect(resolved).toMatchObject({ action: 'cleanup', sessionId: SESSION_ID, containerId: '', tool: '' });
  });

  it('without a launch (Launch failed), still names the session and an expiry of now', async () => {
    const { launch: _launch, ...beforeLaunch } = fullState;

    await caught(() => cleanupSession(beforeLaunch, { now: () => 1_735_732_800_000 }));

    expect(ssm.commandCalls(SendCommandCommand)[0].args[0].input.Parameters).toEqual({
      action: ['cleanup'],
      sessionId: [SESSION_ID],
      expiresAt: ['1735732800'],
      executionTimeout: ['120'],
    });
  });

  it('re-raises the original code even when CancelCommand fails, and still cleans up the host', async () => {
    ssm
      .on(CancelCommandCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    const error = await caught(() => cleanupSession(fullState));

    expect(error).toMatchObject({ code: 'CANCELLED' });
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
  });

  it('re-raises the original code when the cleanup command fails too', async () => {
    ssm.on(CancelCommandCommand).rejects(new Error('network down'));
    ssm.on(SendCommandCommand).rejects(Object.assign(new Error('nope'), { name: 'InvalidInstanceId' }));
    const busy = new DebugTaskError('HOST_BUSY', 'The host already runs 2 sessions.');

    const error = await caught(() => cleanupSession({ ...fullState, error: caughtError(busy) }));

    expect(error).toMatchObject({ code: 'HOST_BUSY', message: busy.message });
  });

  it('re-raises the original code when DOCUMENT_NAME is missing', async () => {
    delete process.env.DOCUMENT_NAME;

    const error = await caught(() => cleanupSession(fullState));

    expect(error).toMatchObject({ code: 'CANCELLED' });
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });

  it('cleans up the host but cancels nothing when Launch failed before a command existed', async () => {
    const { launch: _launch, ...beforeLaunch } = fullState;

    await caught(() => cleanupSession(beforeLaunch));

    expect(ssm).toHaveReceivedCommandTimes(CancelCommandCommand, 0);
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
  });

  it('calls nothing when the target was never resolved', async () => {
    const { launch: _launch, target: _target, ...unresolved } = fullState;

    await caught(() => cleanupSession(unresolved));

    expect(ssm).toHaveReceivedCommandTimes(CancelCommandCommand, 0);
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });

  it('turns a Step Functions timeout into SESSION_TIMED_OUT', async () => {
    const error = await caught(() =>
      cleanupSession({ ...fullState, error: { Error: 'States.Timeout', Cause: 'Task timed out' } }),
    );

    expect(error).toMatchObject({ code: 'SESSION_TIMED_OUT' });
  });

  it('as the Lambda handler, fails the execution with the original code, hint and details', async () => {
    const handler = stepHandler('cleanup', cleanupSession);
    ssm.on(CancelCommandCommand).rejects(new Error('network down'));

    const error = await caught(() => handler(fullState));

    expect(error.name).toBe('CANCELLED');
    const decoded = fromStepFunctionsFailure(
      error.name,
      JSON.stringify({ errorType: error.name, errorMessage: error.message }),
    );
    expect(decoded.toJSON()).toEqual(CANCELLED.toJSON());
  });
});
