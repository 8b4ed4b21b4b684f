import { DebugTaskError, fromStepFunctionsFailure } from '../../../lib/domain/errors';
import { logger } from '../../../lib/log';
import { stepHandler } from '../../../lib/steps/step-handler';
import { SESSION_ID, caught } from '../../support/fixtures';

/** What Step Functions receives as the failed task's Cause (the Lambda runtime's error JSON). */
function causeOf(error: Error): string {
  return JSON.stringify({
    errorType: error.name,
    errorMessage: error.message,
    trace: error.stack?.split('\n'),
  });
}

afterEach(() => jest.restoreAllMocks());

describe('stepHandler', () => {
  it("returns the step's result", async () => {
    const handler = stepHandler('poll', async (event: { sessionId: string; n: number }) => event.n + 1);

    await expect(handler({ sessionId: SESSION_ID, n: 41 })).resolves.toBe(42);
  });

  it('tags every log line of the invocation with the session id, and forgets it afterwards', async () => {
    const append = jest.spyOn(logger, 'appendKeys');
    const remove = jest.spyOn(logger, 'removeKeys');
    const handler = stepHandler('resolve', async () => 'ok');

    await handler({ sessionId: SESSION_ID });

    expect(append).toHaveBeenCalledWith({ sessionId: SESSION_ID, step: 'resolve' });
    expect(remove).toHaveBeenCalledWith(['sessionId', 'step']);
  });

  it('logs the start and the end with the duration', async () => {
    const info = jest.spyOn(logger, 'info');
    const handler = stepHandler('launch', async () => 'ok');

    await handler({ sessionId: SESSION_ID });

    expect(info).toHaveBeenCalledWith('launch started');
    expect(info).toHaveBeenCalledWith('launch ended', { durationMs: expect.any(Number) });
  });

  it('raises a DebugTaskError as name = code and message = its JSON body, which decodes back to it', async () => {
    const original = new DebugTaskError('HOST_BUSY', 'The host runs 2 sessions.', {
      details: { running: 2 },
    });
    const handler = stepHandler('collect', async () => {
      throw original;
    });

    const error = await caught(() => handler({ sessionId: SESSION_ID }));

    expect(error.name).toBe('HOST_BUSY');
    expect(JSON.parse(error.message)).toEqual(original.toJSON());
    expect(fromStepFunctionsFailure(error.name, causeOf(error)).toJSON()).toEqual(original.toJSON());
  });

  it('wraps any other error into AWS_ERROR without its message or stack reaching the caller', async () => {
    const handler = stepHandler('poll', async () => {
      throw new TypeError("Cannot read properties of undefined (reading 'commandId')");
    });

    const error = await caught(() => handler({ sessionId: SESSION_ID }));

    expect(error.name).toBe('AWS_ERROR');
    const body = JSON.parse(error.message);
    expect(body).toMatchObject({
      code: 'AWS_ERROR',
      message: 'The poll step failed unexpectedly (TypeError).',
    });
    expect(error.stack).toBe(`AWS_ERROR: ${error.message}`);
    expect(causeOf(error)).not.toContain('commandId');
    expect(causeOf(error)).not.toMatch(/\.ts:\d+/);
  });

  it('logs the unexpected error with its cause, for the operator', async () => {
    const logError = jest.spyOn(logger, 'error');
    const boom = new Error('boom');
    const handler = stepHandler('poll', async () => {
      throw boom;
    });

    await caught(() => handler({ sessionId: SESSION_ID }));

    expect(logError).toHaveBeenCalledWith(
      'poll failed',
      expect.objectContaining({ code: 'AWS_ERROR', cause: boom }),
    );
  });

  it('keeps no stack frames on an error of ours either', async () => {
    const handler = stepHandler('resolve', async () => {
      throw new DebugTaskError('TASK_NOT_FOUND', 'not found');
    });

    const error = await caught(() => handler({ sessionId: SESSION_ID }));

    expect(error.stack).not.toContain('\n');
  });
});
