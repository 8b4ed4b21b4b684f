import { PutObjectCommand, type PutObjectCommandInput } from '@aws-sdk/client-s3';
import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import fc from 'fast-check';
import { DebugTaskError } from '../../../lib/domain/errors';
import { INSTANCE_ID_PATTERN, PLAN_HEADER } from '../../../lib/domain/host-plan';
import { HOST_PARAMS, isValidHostParam, type HostParamName } from '../../../lib/domain/params';
import type { ExecutionInput } from '../../../lib/domain/session';
import { launchBatch } from '../../../lib/steps/launch';
import { planSession } from '../../../lib/steps/plan';
import { hostileJson, hostileString } from '../../support/hostile';
import { aws, givenBucket, useAwsMocks } from '../../support/aws';
import { givenTask } from '../../support/ecs-fleet';
import { BUCKET, container, executionInput, runningTask } from '../../support/fixtures';

/**
 * No injection through the state machine's input: its JSON is anyone's with states:StartExecution,
 * and Plan and Launch turn it (and what ECS answers) into SSM parameters and the lines of the host
 * plan. A hostile value never becomes a parameter or a plan field the SSM document or the runner
 * would refuse: Plan or Launch throws a typed error first and sends nothing.
 */

useAwsMocks();

const NOW_MS = Date.parse('2025-01-01T12:00:10.000Z');

/** Where a hostile value can sit in the execution input (or in ECS's answer), and how to put it there. */
const PLACES: Record<string, (input: ExecutionInput, value: unknown) => void> = {
  sessionId: (s, v) => (s.sessionId = v as string),
  caller: (s, v) => (s.caller = v as string),
  tool: (s, v) => (s.spec.tool = v as ExecutionInput['spec']['tool']),
  durationSeconds: (s, v) => (s.spec.durationSeconds = v as number),
  maxBytes: (s, v) => (s.spec.maxBytes = v as number),
  filter: (s, v) => (s.spec.filter = v as string),
  iface: (s, v) => (s.spec.iface = v as string),
  snaplen: (s, v) => (s.spec.snaplen = v as number),
  allowHostNetwork: (s, v) => (s.spec.allowHostNetwork = v as boolean),
  allowHostPid: (s, v) => (s.spec.allowHostPid = v as boolean),
  reason: (s, v) => (s.spec.reason = v as string),
  match: (s, v) => (s.spec.match = v as string),
  syscalls: (s, v) => (s.spec.syscalls = v as string),
  pid: (s, v) => (s.spec.pid = v as number),
  container: (s, v) => ((s.spec.target as { container?: unknown }).container = v),
  // ECS's answer: the Docker id that ends up in the host plan (a string: the SDK's parser sees to that).
  runtimeId: (_s, v) =>
    givenTask({
      tasks: [
        runningTask({
          containers: [container({ runtimeId: typeof v === 'string' ? v : JSON.stringify(v) })],
        }),
      ],
    }),
};

beforeEach(() => {
  aws.ssm.on(SendCommandCommand).resolves({ Command: { CommandId: '11111111-2222-3333-4444-555555555555' } });
  aws.sts.on(AssumeRoleCommand).resolves({
    Credentials: {
      AccessKeyId: 'ASIAUPLOADSESSION001',
      SecretAccessKey: 'upload-secret',
      SessionToken: 'upload-token',
      Expiration: new Date(NOW_MS + 3600_000),
    },
  });
});

type Started = { parameters: Record<string, string[]>; plans: string[] } | { error: unknown; sent: number };

/** Plan then Launch on `input`: what reached SendCommand and the host plans, or what was thrown. */
async function start(input: ExecutionInput): Promise<Started> {
  try {
    const plan = await planSession(input, { now: () => NOW_MS });
    await launchBatch({ ...input, plan, batch: plan.batches[0] }, { now: () => NOW_MS });
  } catch (error) {
    expectOnlySaneAssumeRoles();
    return { error, sent: aws.ssm.commandCalls(SendCommandCommand).length };
  }
  expectOnlySaneAssumeRoles();
  const plans = aws.s3
    .commandCalls(PutObjectCommand)
    .map((c) => c.args[0].input as PutObjectCommandInput)
    .filter((p) => p.Key?.endsWith('.tsv'))
    .map((p) => p.Body as string);
  return { parameters: aws.ssm.commandCalls(SendCommandCommand)[0].args[0].input.Parameters ?? {}, plans };
}

/** Whatever the input holds, an AssumeRole that leaves names a valid session and its children's keys only. */
function expectOnlySaneAssumeRoles(): void {
  for (const call of aws.sts.commandCalls(AssumeRoleCommand)) {
    const input = call.args[0].input;
    expect(input.RoleSessionName).toMatch(/^[\w+=,.@-]{2,64}$/);
    expect(input.DurationSeconds).toBeGreaterThanOrEqual(900);
    expect(input.DurationSeconds).toBeLessThanOrEqual(3600);
    const policy = JSON.parse(input.Policy ?? '') as {
      Statement: Array<{ Action: string; Resource: string | string[] }>;
    };
    expect(policy.Statement).toHaveLength(1);
    expect(policy.Statement[0].Action).toBe('s3:PutObject');
    // This session's children's objects, or all of its children/ prefix: never another session's.
    const children = `arn:aws:s3:::${BUCKET}/sessions/${input.RoleSessionName}/children/`;
    const child = new RegExp(`^${children}${input.RoleSessionName}-[0-9]{4}/\\*$`);
    for (const resource of [policy.Statement[0].Resource].flat()) {
      expect(resource === `${children}*` || child.test(resource)).toBe(true);
    }
  }
}

function expectEveryParameterFits(parameters: Record<string, string[]>): void {
  const misfits = Object.entries(parameters)
    .filter(
      ([name, values]) =>
        !(name in HOST_PARAMS) || values.length !== 1 || !isValidHostParam(name as HostParamName, values[0]),
    )
    .map(([name]) => name);
  expect(misfits).toEqual([]);
}

/** Every line of a host plan: five fields, each what the runner accepts for it. */
function expectEveryPlanLineFits(plan: string): void {
  const [header, ...lines] = plan.replace(/\n$/, '').split('\n');
  expect(header).toBe(PLAN_HEADER);
  for (const line of lines) {
    const [instanceId, child, containerId, artifactUrl, manifestUrl, ...rest] = line.split('\t');
    expect(rest).toEqual([]);
    expect(new RegExp(INSTANCE_ID_PATTERN).test(instanceId)).toBe(true);
    expect(isValidHostParam('sessionId', child) && child !== '').toBe(true);
    expect(isValidHostParam('containerId', containerId) && containerId !== '').toBe(true);
    expect(isValidHostParam('uploadUrl', artifactUrl) && isValidHostParam('uploadUrl', manifestUrl)).toBe(
      true,
    );
  }
}

function expectSafe(result: Started): void {
  if ('error' in result) {
    expect(result.error).toBeInstanceOf(DebugTaskError);
    expect(result.sent).toBe(0);
  } else {
    expectEveryParameterFits(result.parameters);
    expect(result.plans).toHaveLength(1);
    expectEveryPlanLineFits(result.plans[0]);
  }
}

describe('no injection through the state machine input (Plan, then Launch)', () => {
  beforeEach(() => {
    givenTask();
    givenBucket();
  });

  it('sends parameters and a plan that all fit for the valid input the properties start from', async () => {
    const result = await start(structuredClone(executionInput()));

    expect('parameters' in result).toBe(true);
    expectSafe(result);
    expect(aws.sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 1);
  });

  it('throws typed and sends nothing, or sends only what the SSM document and the runner accept', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom(...Object.keys(PLACES)), hostileJson(), { minKeys: 1, maxKeys: 3 }),
        async (values) => {
          aws.ssm.resetHistory();
          aws.sts.resetHistory();
          aws.s3.resetHistory();
          givenTask();
          const input = structuredClone(executionInput());
          for (const [place, value] of Object.entries(values)) PLACES[place](input, value);

          expectSafe(await start(input));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never lets a hostile reason or caller reach the host unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(hostileString(), hostileString(), async (reason, caller) => {
        aws.ssm.resetHistory();
        aws.sts.resetHistory();
        aws.s3.resetHistory();
        const input = structuredClone(executionInput());
        input.spec.reason = reason;
        input.caller = caller;

        expectSafe(await start(input));
      }),
      { numRuns: 200 },
    );
  });
});
