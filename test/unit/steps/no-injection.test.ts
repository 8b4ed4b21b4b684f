import 'aws-sdk-client-mock-jest';
import { S3Client } from '@aws-sdk/client-s3';
import { SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { DebugTaskError } from '../../../lib/domain/errors';
import { HOST_PARAMS, isValidHostParam, type HostParamName } from '../../../lib/domain/params';
import { resetStepClients } from '../../../lib/steps/clients';
import { launchSession, type LaunchState } from '../../../lib/steps/launch';
import { hostileJson, hostileString } from '../../support/hostile';
import { BUCKET, DOCUMENT, IMAGE, executionInput, target, withEnv } from './fixtures';

/**
 * No injection through the state machine's input: Launch turns whatever its state holds into SSM
 * parameters, and a hostile value there (the execution input is JSON anyone with
 * states:StartExecution could write) never becomes a parameter the SSM document would refuse: Launch
 * throws a typed error first, and sends nothing.
 */

const ssm = mockClient(SSMClient);
const sts = mockClient(STSClient);
mockClient(S3Client); // presigning sends nothing; this only guarantees nothing else does

const NOW_MS = Date.parse('2025-01-01T12:00:10.000Z');
const VALID: LaunchState = { ...executionInput({ durationSeconds: 60 }), target };

/** Where a hostile value can sit in Launch's state, and how to put it there. */
const PLACES: Record<string, (state: LaunchState, value: unknown) => void> = {
  sessionId: (s, v) => (s.sessionId = v as string),
  caller: (s, v) => (s.caller = v as string),
  tool: (s, v) => (s.spec.tool = v as LaunchState['spec']['tool']),
  durationSeconds: (s, v) => (s.spec.durationSeconds = v as number),
  maxBytes: (s, v) => (s.spec.maxBytes = v as number),
  filter: (s, v) => (s.spec.filter = v as string),
  iface: (s, v) => (s.spec.iface = v as string),
  snaplen: (s, v) => (s.spec.snaplen = v as number),
  allowHostNetwork: (s, v) => (s.spec.allowHostNetwork = v as boolean),
  allowHostPid: (s, v) => (s.spec.allowHostPid = v as boolean),
  reason: (s, v) => (s.spec.reason = v as string),
  runtimeId: (s, v) => (s.target.container.runtimeId = v as string),
};

let restoreEnv: () => void;

beforeEach(() => {
  ssm.reset();
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: '11111111-2222-3333-4444-555555555555' } });
  sts.reset();
  sts.on(AssumeRoleCommand).resolves({
    Credentials: {
      AccessKeyId: 'ASIAUPLOADSESSION001',
      SecretAccessKey: 'upload-secret',
      SessionToken: 'upload-token',
      Expiration: new Date(NOW_MS + 3600_000),
    },
  });
  resetStepClients();
  restoreEnv = withEnv({
    BUCKET_NAME: BUCKET,
    DOCUMENT_NAME: DOCUMENT,
    TOOLBOX_IMAGE: IMAGE,
    UPLOAD_ROLE_ARN: 'arn:aws:iam::123456789012:role/upload',
    AWS_S3_FORCE_PATH_STYLE: undefined,
  });
});
afterEach(() => {
  restoreEnv();
  resetStepClients();
});

type Launched = { parameters: Record<string, string[]> } | { error: unknown; sent: number };

/** Launch on `state`: what it sent, or what it threw. */
async function launch(state: LaunchState): Promise<Launched> {
  ssm.resetHistory();
  sts.resetHistory();
  try {
    await launchSession(state, { now: () => NOW_MS });
  } catch (error) {
    expectOnlySaneAssumeRoles();
    return { error, sent: ssm.commandCalls(SendCommandCommand).length };
  }
  expectOnlySaneAssumeRoles();
  return { parameters: ssm.commandCalls(SendCommandCommand)[0].args[0].input.Parameters ?? {} };
}

/** Whatever the state holds, an AssumeRole that leaves names a valid session and one key of the bucket's sessions/. */
function expectOnlySaneAssumeRoles(): void {
  for (const call of sts.commandCalls(AssumeRoleCommand)) {
    const input = call.args[0].input;
    expect(input.RoleSessionName).toMatch(/^[\w+=,.@-]{2,64}$/);
    expect(input.DurationSeconds).toBeGreaterThanOrEqual(900);
    expect(input.DurationSeconds).toBeLessThanOrEqual(3600);
    const policy = JSON.parse(input.Policy ?? '') as {
      Statement: Array<{ Action: string; Resource: string }>;
    };
    expect(policy.Statement).toHaveLength(1);
    expect(policy.Statement[0].Action).toBe('s3:PutObject');
    expect(policy.Statement[0].Resource).toMatch(
      new RegExp(`^arn:aws:s3:::${BUCKET}/sessions/${input.RoleSessionName}/artifact\\.[a-z]+\\.gz$`),
    );
  }
}

function expectEveryParameterFits(parameters: Record<string, string[]>): void {
  const misfits = Object.entries(parameters)
    .filter(([name, values]) => {
      if (!(name in HOST_PARAMS) || values.length !== 1) return true;
      return !isValidHostParam(name as HostParamName, values[0]);
    })
    .map(([name]) => name);
  expect(misfits).toEqual([]);
}

describe('no injection through the state machine input (Launch)', () => {
  it('sends parameters that all fit for the valid state the properties start from', async () => {
    const result = await launch(structuredClone(VALID));

    expect('parameters' in result).toBe(true);
    if ('parameters' in result) expectEveryParameterFits(result.parameters);
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 1);
  });

  it('throws typed and sends nothing, or sends only parameters the SSM document accepts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom(...Object.keys(PLACES)), hostileJson(), { minKeys: 1, maxKeys: 3 }),
        async (values) => {
          const state = structuredClone(VALID);
          for (const [place, value] of Object.entries(values)) PLACES[place](state, value);

          const result = await launch(state);

          if ('error' in result) {
            expect(result.error).toBeInstanceOf(DebugTaskError);
            expect(result.sent).toBe(0);
          } else {
            expectEveryParameterFits(result.parameters);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never lets a hostile reason or caller reach the host unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(hostileString(), hostileString(), async (reason, caller) => {
        const state = structuredClone(VALID);
        state.spec.reason = reason;
        state.caller = caller;

        const result = await launch(state);

        if ('parameters' in result) expectEveryParameterFits(result.parameters);
        else expect(result.error).toBeInstanceOf(DebugTaskError);
      }),
      { numRuns: 200 },
    );
  });
});
