import {
  createEventBus,
  startEventsStandIn,
  type Delivery,
  type EventHandler,
} from '../../../lib/sandbox/events';
import { eventRules, functionEnvironment, synthesizeTemplate } from '../../../lib/sandbox/template';
import { TRIGGERS_ENV } from '../../../lib/triggers/presets';

const REGION = 'xx-sandbox-1';
const ACCOUNT = '000000000000';

/** The real stack with two triggers, synthesized once, as the sandbox synthesizes it. */
const template = synthesizeTemplate({
  toolboxImage: `123456789012.dkr.ecr.xx-test-1.amazonaws.com/toolbox@sha256:${'ab'.repeat(32)}`,
  triggers: [
    {
      name: 'on-alarm',
      target: { cluster: 'sandbox', service: 'demo' },
      tool: 'tcpdump',
      on: { alarm: 'sandbox-5xx' },
    },
    {
      name: 'keep-ring',
      action: 'stop',
      target: { cluster: 'sandbox', service: 'demo' },
      on: { taskStopped: { cluster: 'sandbox', nonZeroExit: true } },
    },
  ],
});

function busWith(calls: unknown[]) {
  const api: EventHandler = async (input) => {
    calls.push(input);
    return { ok: true };
  };
  return createEventBus(
    eventRules(template, { region: REGION }),
    { api },
    { region: REGION, account: ACCOUNT },
  );
}

describe("the sandbox's EventBridge, on the synthesized template", () => {
  it('reads the trigger rules (not the sweeper’s schedule), their patterns resolved with the sandbox’s values', () => {
    const rules = eventRules(template, { region: REGION });

    expect(rules).toHaveLength(2);
    expect(rules.every((r) => r.targets.length === 1 && r.targets[0].handler === 'api')).toBe(true);
    expect(JSON.stringify(rules.map((r) => r.pattern))).toContain(
      `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/sandbox`,
    );
  });

  it('delivers a matching event to the api function with the input the rule writes, and nothing else', async () => {
    const calls: unknown[] = [];
    const deliveries = await busWith(calls).deliver({
      source: 'aws.cloudwatch',
      'detail-type': 'CloudWatch Alarm State Change',
      detail: { alarmName: 'sandbox-5xx', state: { value: 'ALARM' }, secret: 'not for the function' },
    });

    expect(deliveries).toHaveLength(1);
    expect(calls).toEqual([
      {
        debugTask: 'trigger',
        trigger: 'on-alarm',
        ruleArn: expect.stringMatching(new RegExp(`^arn:aws:events:${REGION}:${ACCOUNT}:rule/\\w+$`)),
        event: expect.objectContaining({
          source: 'aws.cloudwatch',
          'detail-type': 'CloudWatch Alarm State Change',
          account: ACCOUNT,
          region: REGION,
          id: expect.any(String),
        }),
      },
    ]);
    expect(JSON.stringify(calls)).not.toContain('not for the function');
  });

  it('runs the stop trigger on a task that stopped with a non-zero exit, and no trigger on one that exited 0', async () => {
    const calls: { trigger: string }[] = [];
    const bus = busWith(calls);
    const stopped = (exitCode: number) => ({
      source: 'aws.ecs',
      'detail-type': 'ECS Task State Change',
      detail: {
        clusterArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/sandbox`,
        lastStatus: 'STOPPED',
        containers: [{ exitCode }],
      },
    });

    expect(await bus.deliver(stopped(0))).toEqual([]);
    await bus.deliver(stopped(1));
    expect(calls.map((c) => c.trigger)).toEqual(['keep-ring']);
  });

  it('gives the api function the presets the stack wrote', () => {
    expect(Object.keys(JSON.parse(String(functionEnvironment(template, 'api')[TRIGGERS_ENV])))).toEqual([
      'on-alarm',
      'keep-ring',
    ]);
  });
});

describe("the sandbox's PutEvents", () => {
  it('takes an event as `aws events put-events` sends it and delivers it to the rules it matches', async () => {
    const calls: { trigger: string }[] = [];
    let delivered: (value: Delivery[] | Error) => void = () => undefined;
    const done = new Promise<Delivery[] | Error>((resolve) => (delivered = resolve));
    const events = await startEventsStandIn(busWith(calls), delivered);
    try {
      const put = (body: unknown) =>
        fetch(events.endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.PutEvents' },
          body: JSON.stringify(body),
        });
      const response = await put({
        Entries: [
          {
            Source: 'aws.cloudwatch',
            DetailType: 'CloudWatch Alarm State Change',
            Detail: JSON.stringify({ alarmName: 'sandbox-5xx', state: { value: 'ALARM' } }),
          },
        ],
      });

      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        FailedEntryCount: 0,
        Entries: [{ EventId: expect.any(String) }],
      });
      expect(await done).toHaveLength(1);
      expect(calls.map((c) => c.trigger)).toEqual(['on-alarm']);
      const refused = await put({ Entries: [{ Source: 'x', DetailType: 'y', Detail: '{' }] });
      expect(refused.status).toBe(400);
      expect(await refused.json()).toMatchObject({ __type: 'ValidationException' });
    } finally {
      await events.stop();
    }
  });
});
