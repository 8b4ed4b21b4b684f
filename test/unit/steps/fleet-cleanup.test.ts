import 'aws-sdk-client-mock-jest';
import { CancelCommandCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { DebugTaskError, fromStepFunctionsFailure, toStepFunctionsError } from '../../../lib/domain/errors';
import type { FleetLaunchInfo } from '../../../lib/domain/host-plan';
import { buildCommandDocument, commandParameters } from '../../../lib/host/runner-script';
import { resolveParameters } from '../../../lib/sandbox/ssm-document';
import { resetStepClients } from '../../../lib/steps/clients';
import { cleanupFleet, type FleetCleanupState } from '../../../lib/steps/fleet-cleanup';
import { stepHandler } from '../../../lib/steps/step-handler';
import { BUCKET, CLUSTER, DOCUMENT, IMAGE, SESSION_ID, caught, executionInput, withEnv } from './fixtures';

const ssm = mockClient(SSMClient);

const instanceId = (j: number) => `i-${j.toString(16).padStart(17, '0')}`;
const START_AT = Date.parse('2025-01-01T12:00:30.000Z') / 1000;
const BATCH_0 = Array.from({ length: 50 }, (_, j) => instanceId(j));
const BATCH_1 = Array.from({ length: 7 }, (_, j) => instanceId(50 + j));
const fleet: FleetLaunchInfo = {
  bucket: BUCKET,
  startAt: START_AT,
  expiresAt: START_AT + 90,
  deadline: START_AT + 210,
  batches: [
    { batch: 0, instanceIds: BATCH_0 },
    { batch: 1, instanceIds: BATCH_1 },
  ],
  counts: { listed: 57, targets: 57, skipped: 0, leftOut: 0 },
  cluster: CLUSTER,
  service: 'web',
};

/** The {Error, Cause} Catch puts at $.error when a Lambda step raised `error`. */
function caughtError(error: DebugTaskError): FleetCleanupState['error'] {
  const carried = toStepFunctionsError(error);
  return {
    Error: carried.name,
    Cause: JSON.stringify({ errorType: carried.name, errorMessage: carried.message }),
  };
}

const CANCELLED = new DebugTaskError('CANCELLED', `Session ${SESSION_ID} was cancelled.`, {
  details: { marker: `sessions/${SESSION_ID}/cancel` },
});
const input = executionInput({ target: { service: 'web', cluster: CLUSTER, maxTasks: 100 } });
const state: FleetCleanupState = { ...input, fleet, error: caughtError(CANCELLED) };

function sentInputs() {
  return ssm.commandCalls(SendCommandCommand).map((c) => c.args[0].input);
}

let restoreEnv: () => void;

beforeEach(() => {
  ssm.reset();
  resetStepClients();
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cleanup-command' } });
  restoreEnv = withEnv({ DOCUMENT_NAME: DOCUMENT, TOOLBOX_IMAGE: IMAGE });
});

afterEach(() => {
  restoreEnv();
  resetStepClients();
});

describe('cleanupFleet', () => {
  it('sends action=cleanup with the fleet’s id once per batch, to that batch’s hosts, then re-raises the original error', async () => {
    const error = await caught(() => cleanupFleet(state));

    expect(error).toBeInstanceOf(DebugTaskError);
    expect((error as unknown as DebugTaskError).toJSON()).toEqual(CANCELLED.toJSON());
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 2);
    const sent = sentInputs().sort((a, b) => (a.InstanceIds?.length ?? 0) - (b.InstanceIds?.length ?? 0));
    expect(sent.map((s) => s.InstanceIds)).toEqual([BATCH_1, BATCH_0]);
    for (const s of sent) {
      expect(s).toMatchObject({
        DocumentName: DOCUMENT,
        DocumentVersion: '$LATEST',
        MaxErrors: '100%',
        Comment: `debug-task ${SESSION_ID}`,
      });
      expect(s.Parameters).toEqual(
        commandParameters({
          action: 'cleanup',
          sessionId: SESSION_ID,
          expiresAt: String(fleet.expiresAt),
          executionTimeout: '120',
        }),
      );
    }
    expect(ssm).toHaveReceivedCommandTimes(CancelCommandCommand, 0);
  });

  it('sends parameters the SSM document takes', async () => {
    await caught(() => cleanupFleet(state));

    const parameters = sentInputs()[0].Parameters;
    expect(resolveParameters(buildCommandDocument(), parameters)).toMatchObject({
      action: 'cleanup',
      sessionId: SESSION_ID,
    });
  });

  it('still cleans up the other batches, and re-raises the original error, when one SendCommand fails', async () => {
    ssm
      .on(SendCommandCommand, { InstanceIds: BATCH_0 })
      .rejects(Object.assign(new Error('Instances not in a valid state'), { name: 'InvalidInstanceId' }));

    const error = await caught(() => cleanupFleet(state));

    expect(error).toMatchObject({ code: 'CANCELLED', message: CANCELLED.message });
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, { InstanceIds: BATCH_1 });
  });

  it('re-raises the original error when every SendCommand fails', async () => {
    ssm.on(SendCommandCommand).rejects(new Error('network down'));
    const busy = new DebugTaskError('HOST_BUSY', 'The host already runs 2 sessions.');

    const error = await caught(() => cleanupFleet({ ...state, error: caughtError(busy) }));

    expect(error).toMatchObject({ code: 'HOST_BUSY', message: busy.message });
  });

  // missing variable throws AWS_ERROR and replaces the original error (cleanupSession keeps it).
  it('re-raises the original error when DOCUMENT_NAME is missing', async () => {
    delete process.env.DOCUMENT_NAME;

    const error = await caught(() => cleanupFleet(state));

    expect(error).toMatchObject({ code: 'CANCELLED' });
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });

  it.each([
    ['no plan summary (FleetPlan failed)', undefined],
    ['a plan without batches', { ...fleet, batches: [] }],
  ])('calls nothing with %s, and re-raises the original error', async (_label, planned) => {
    const failed = new DebugTaskError('TASK_NOT_FOUND', 'Service "web" has no running tasks.');

    const error = await caught(() => cleanupFleet({ ...input, fleet: planned, error: caughtError(failed) }));

    expect(error).toMatchObject({ code: 'TASK_NOT_FOUND', message: failed.message });
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });

  it('turns a Step Functions timeout into SESSION_TIMED_OUT', async () => {
    const error = await caught(() =>
      cleanupFleet({ ...state, error: { Error: 'States.Timeout', Cause: 'Task timed out' } }),
    );

    expect(error).toMatchObject({ code: 'SESSION_TIMED_OUT' });
  });

  it('as the Lambda handler, fails the execution with the original code, message and details', async () => {
    ssm.on(SendCommandCommand).rejects(new Error('network down'));
    const handler = stepHandler('fleet-cleanup', cleanupFleet);

    const error = await caught(() => handler(state));

    expect(error.name).toBe('CANCELLED');
    const decoded = fromStepFunctionsFailure(
      error.name,
      JSON.stringify({ errorType: error.name, errorMessage: error.message }),
    );
    expect(decoded.toJSON()).toEqual(CANCELLED.toJSON());
  });
});
