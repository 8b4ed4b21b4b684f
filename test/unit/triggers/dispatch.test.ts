import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  ListExecutionsCommand,
  StartExecutionCommand,
  type DescribeExecutionCommandInput,
} from '@aws-sdk/client-sfn';
import { handler } from '../../../lambda/api';
import type { ApiConfig } from '../../../lib/api/sessions';
import { audit, type AuditRecord } from '../../../lib/audit/audit';
import { DEFAULT_LIMITS } from '../../../lib/domain/session-spec';
import { sessionKeys, type ExecutionInput } from '../../../lib/domain/session';
import {
  handleTriggerInvocation,
  isTriggerInvocation,
  type TriggerInvocation,
} from '../../../lib/triggers/dispatch';
import {
  presetNamed,
  presetsFromEnv,
  TRIGGERS_ENV,
  type TriggerPresets,
} from '../../../lib/triggers/presets';
import { apiEvent } from '../../support/api-event';
import { FAKE, aws, noSuchKey, useAwsMocks, withEnv } from '../../support/aws';

useAwsMocks();

const config: ApiConfig = {
  stateMachineArn: FAKE.stateMachineArn,
  bucket: FAKE.bucket,
  limits: DEFAULT_LIMITS,
};
const RULE = `arn:aws:events:${FAKE.region}:${FAKE.account}:rule/DebugTask-TriggersOnAlarm-1AB2C3`;
const STOP_RULE = `arn:aws:events:${FAKE.region}:${FAKE.account}:rule/DebugTask-TriggersKeepRing-4DE5F6`;
const ALICE = `arn:aws:sts::${FAKE.account}:assumed-role/oncall/alice`;

const PRESETS: TriggerPresets = {
  'on-alarm': {
    action: 'start',
    request: {
      target: { cluster: 'prod', service: 'payments' },
      tool: 'tcpdump',
      ring: { seconds: 300 },
      reason: 'trigger on-alarm',
    },
  },
  'keep-ring': { action: 'stop', target: { cluster: 'prod', service: 'payments' } },
  'too-long': {
    action: 'start',
    request: { target: { cluster: 'prod', service: 'payments' }, tool: 'tcpdump', durationSeconds: 3600 },
  },
};

const invocation = (trigger: string, ruleArn = RULE): TriggerInvocation => ({
  debugTask: 'trigger',
  trigger,
  ruleArn,
  event: {
    id: 'ev-1',
    source: 'aws.cloudwatch',
    'detail-type': 'CloudWatch Alarm State Change',
    resources: ['arn:aws:cloudwatch:xx-test-1:123456789012:alarm:payments-5xx'],
  },
});

/** The audit events written (the trail logs them when no AUDIT_LOG_GROUP is set). */
let written: AuditRecord[] = [];
beforeEach(() => {
  written = [];
  const flush = audit.flush.bind(audit);
  jest.spyOn(audit, 'flush').mockImplementation(async () => {
    written.push(...audit.pending());
    await flush();
  });
  aws.sfn.on(StartExecutionCommand).resolves({ executionArn: 'x', startDate: new Date() });
  aws.s3.on(GetObjectCommand).rejects(noSuchKey());
  aws.s3.on(PutObjectCommand).resolves({});
});
afterEach(() => jest.restoreAllMocks());

describe('telling a trigger from an HTTP request', () => {
  it('knows a trigger rule input from an API Gateway event', () => {
    expect(isTriggerInvocation(invocation('on-alarm'))).toBe(true);
    expect(isTriggerInvocation(apiEvent('list'))).toBe(false);
    expect(isTriggerInvocation({ trigger: 'on-alarm' })).toBe(false);
  });
});

describe('the presets', () => {
  it('are read from the environment the stack sets, and looked up by name only', () => {
    const presets = presetsFromEnv({ [TRIGGERS_ENV]: JSON.stringify(PRESETS) });

    expect(presetNamed('keep-ring', presets)).toEqual(PRESETS['keep-ring']);
    expect(() => presetNamed('toString', presets)).toThrow(/declares no trigger "toString"/);
    expect(presetsFromEnv({})).toEqual({});
  });

  it('refuse a malformed variable as the deployment’s fault (AWS_ERROR)', () => {
    expect(() => presetsFromEnv({ [TRIGGERS_ENV]: '{' })).toThrow(
      expect.objectContaining({ code: 'AWS_ERROR' }),
    );
    expect(() => presetsFromEnv({ [TRIGGERS_ENV]: '{"a b":{"action":"start","request":{}}}' })).toThrow(
      expect.objectContaining({ code: 'AWS_ERROR' }),
    );
  });
});

describe('a start trigger', () => {
  it('starts its preset through POST /sessions’ path, with the rule ARN as caller and the trigger named', async () => {
    const result = await handleTriggerInvocation(invocation('on-alarm'), config, { presets: PRESETS });

    expect(result).toMatchObject({
      trigger: 'on-alarm',
      action: 'start',
      sessionId: expect.stringMatching(/^dt-/),
    });
    const started = aws.sfn.commandCalls(StartExecutionCommand)[0].args[0].input;
    const input = JSON.parse(started.input!) as ExecutionInput;
    expect(started.name).toBe(result.sessionId);
    expect(input).toMatchObject({
      caller: RULE,
      trigger: 'on-alarm',
      spec: { tool: 'tcpdump', ring: { seconds: 300 }, target: { service: 'payments', cluster: 'prod' } },
    });
    // The ring's duration is the deployment's ring limit: the route's own defaults applied.
    expect(input.spec.durationSeconds).toBe(DEFAULT_LIMITS.maxRingSeconds);
    expect(written).toEqual([
      expect.objectContaining({
        type: 'session.requested',
        caller: RULE,
        trigger: 'on-alarm',
        reason: 'trigger on-alarm',
      }),
      expect.objectContaining({
        type: 'trigger.fired',
        trigger: 'on-alarm',
        caller: RULE,
        action: 'start',
        sessionId: result.sessionId,
        event: {
          id: 'ev-1',
          source: 'aws.cloudwatch',
          detailType: 'CloudWatch Alarm State Change',
          resources: ['arn:aws:cloudwatch:xx-test-1:123456789012:alarm:payments-5xx'],
        },
      }),
    ]);
  });

  it('is refused by the route’s own limits, starting nothing, and the refusal is audited', async () => {
    const result = await handleTriggerInvocation(invocation('too-long'), config, { presets: PRESETS });

    expect(result.error).toMatchObject({ code: 'DURATION_OUT_OF_RANGE' });
    expect(aws.sfn).not.toHaveReceivedCommand(StartExecutionCommand);
    expect(written).toEqual([
      expect.objectContaining({ type: 'trigger.fired', errorCode: 'DURATION_OUT_OF_RANGE' }),
    ]);
  });

  it('runs nothing for a name the deployment did not declare, or an input that is not a rule’s', async () => {
    const unknown = await handleTriggerInvocation(invocation('nope'), config, { presets: PRESETS });
    const forged = await handleTriggerInvocation(invocation('on-alarm', ALICE), config, { presets: PRESETS });

    expect(unknown.error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/no trigger "nope"/),
    });
    expect(forged.error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(aws.sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('reaches the api function’s handler, which answers an HTTP request as before', async () => {
    const restore = withEnv({ [TRIGGERS_ENV]: JSON.stringify(PRESETS) });
    try {
      const result = await handler(invocation('on-alarm'));
      expect(result).toMatchObject({ trigger: 'on-alarm', sessionId: expect.stringMatching(/^dt-/) });
      const http = await handler({ ...apiEvent('list'), routeKey: 'GET /nothing' });
      expect(http.statusCode).toBe(404);
    } finally {
      restore();
    }
  });
});

describe('a stop trigger', () => {
  /** Running executions: a ring session of the preset's service (alice's), a capture of it without ring, a ring of another service. */
  const running: Record<string, Partial<ExecutionInput>> = {
    'dt-20261206120000-ring01': {
      caller: ALICE,
      spec: ringSpec('payments'),
    },
    'dt-20261206120001-plain1': {
      caller: ALICE,
      spec: { ...ringSpec('payments'), ring: undefined },
    },
    'dt-20261206120002-other1': {
      caller: ALICE,
      spec: ringSpec('orders'),
    },
  };
  function ringSpec(service: string): ExecutionInput['spec'] {
    return {
      target: { service, cluster: 'prod', maxTasks: 100 },
      tool: 'tcpdump',
      durationSeconds: 2400,
      maxBytes: 1e8,
      filter: '',
      iface: '',
      snaplen: 262144,
      allowHostNetwork: false,
      allowHostPid: false,
      ring: { seconds: 300 },
    };
  }
  beforeEach(() => {
    aws.sfn.on(ListExecutionsCommand).resolves({
      executions: Object.keys(running).map((name) => ({
        name,
        executionArn: `${FAKE.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`,
        stateMachineArn: FAKE.stateMachineArn,
        status: 'RUNNING',
        startDate: new Date(),
      })),
    });
    aws.sfn.on(DescribeExecutionCommand).callsFake((input: DescribeExecutionCommandInput) => {
      const name = input.executionArn!.split(':').at(-1)!;
      return {
        executionArn: input.executionArn,
        status: 'RUNNING',
        input: JSON.stringify({ sessionId: name, requestedAt: '', ...running[name] }),
      };
    });
  });

  function withPolicy(text: string): () => void {
    const file = join(mkdtempSync(join(tmpdir(), 'debug-task-policy-')), 'policy.cedar');
    writeFileSync(file, text);
    return withEnv({ DEBUG_TASK_POLICY_FILE: file, DEBUG_TASK_POLICY_SHA256: undefined });
  }
  const stopMarkers = () => aws.s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input.Key);
  /** Fires the stop trigger keep-ring, as its rule, under a deployment policy (`policy`'s text) or none. */
  async function fireKeepRing(policy?: string) {
    const restore =
      policy === undefined ? withEnv({ DEBUG_TASK_POLICY_FILE: undefined }) : withPolicy(policy);
    try {
      return await handleTriggerInvocation(invocation('keep-ring', STOP_RULE), config, { presets: PRESETS });
    } finally {
      restore();
    }
  }

  it('stops the running ring sessions of its target that the policy lets it stop, and keeps them (a stop marker)', async () => {
    const result = await fireKeepRing(`@id("keep-ring-may-stop")
permit (principal is DebugTask::Trigger, action == DebugTask::Action::"stop", resource)
when { principal.name == "keep-ring" && resource.service == "payments" };`);

    expect(result).toEqual({
      trigger: 'keep-ring',
      action: 'stop',
      stopped: ['dt-20261206120000-ring01'],
      refused: [],
    });
    expect(stopMarkers()).toEqual([sessionKeys.stop('dt-20261206120000-ring01')]);
    const marker = JSON.parse(String(aws.s3.commandCalls(PutObjectCommand)[0].args[0].input.Body));
    expect(marker.caller).toBe(STOP_RULE);
    expect(written).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          type: 'decision',
          action: 'stop',
          allowed: true,
          caller: STOP_RULE,
          trigger: 'keep-ring',
          sessionId: 'dt-20261206120000-ring01',
          rule: 'permit "keep-ring-may-stop"',
        }),
        expect.objectContaining({
          type: 'trigger.fired',
          action: 'stop',
          stopped: ['dt-20261206120000-ring01'],
        }),
      ]),
    );
  });

  it('is refused another principal’s session when the policy does not permit it (permits for callers do not cover triggers), and the refusal is audited', async () => {
    const result = await fireKeepRing(`@id("oncall-stops")
permit (principal is DebugTask::Caller, action == DebugTask::Action::"stop", resource);`);

    expect(result).toEqual({
      trigger: 'keep-ring',
      action: 'stop',
      stopped: [],
      refused: [{ sessionId: 'dt-20261206120000-ring01', code: 'NOT_AUTHORIZED' }],
    });
    expect(stopMarkers()).toEqual([]);
    expect(written).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          type: 'decision',
          action: 'stop',
          allowed: false,
          caller: STOP_RULE,
          trigger: 'keep-ring',
        }),
        expect.objectContaining({
          type: 'trigger.fired',
          refused: [{ sessionId: 'dt-20261206120000-ring01', code: 'NOT_AUTHORIZED' }],
        }),
      ]),
    );
  });

  it('stops the ring session another trigger started, without a deployment policy (both are the deployment’s)', async () => {
    running['dt-20261206120000-ring01'] = { caller: RULE, trigger: 'on-alarm', spec: ringSpec('payments') };
    try {
      const result = await fireKeepRing();

      expect(result.stopped).toEqual(['dt-20261206120000-ring01']);
      expect(written).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            type: 'decision',
            allowed: true,
            trigger: 'keep-ring',
            rule: expect.stringMatching(/^a trigger's session/),
          }),
        ]),
      );
    } finally {
      running['dt-20261206120000-ring01'] = { caller: ALICE, spec: ringSpec('payments') };
    }
  });

  it('stops nothing of anyone else without a deployment policy (owner isolation), and says so in the audit', async () => {
    const result = await fireKeepRing();

    expect(result.refused).toEqual([{ sessionId: 'dt-20261206120000-ring01', code: 'NOT_AUTHORIZED' }]);
    expect(stopMarkers()).toEqual([]);
    expect(written).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          type: 'decision',
          allowed: false,
          trigger: 'keep-ring',
          rule: expect.stringMatching(/^owner isolation/),
        }),
      ]),
    );
  });
});
