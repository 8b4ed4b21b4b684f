import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { acknowledgeDebugTaskGuardFindings, guardValidator } from '../../lib/checks/guard';
import { stackPropsFromContext } from '../../lib/infra/app-context';
import { DebugTaskStack } from '../../lib/infra/debug-task-stack';
import { triggerInputTemplate } from '../../lib/infra/triggers';
import type { TriggerDeclaration } from '../../lib/triggers/declaration';
import { TRIGGERS_ENV } from '../../lib/triggers/presets';
import {
  PINNED_IMAGE,
  fakeToolboxDirectory,
  flat,
  functionsByHandler,
  resourcesOfType,
  synth,
  testApp,
} from './helpers';

const TRIGGERS: TriggerDeclaration[] = [
  {
    name: 'on-5xx',
    target: { cluster: 'prod', service: 'payments' },
    tool: 'tcpdump',
    filter: 'tcp port 443',
    duration: '2m',
    on: { alarm: 'payments-5xx' },
  },
  {
    name: 'ring-on-crash',
    target: { cluster: 'prod', service: 'payments' },
    tool: 'tcpdump',
    ring: '10m',
    on: { alarm: 'arn:aws:cloudwatch:xx-test-1:123456789012:alarm:payments-latency' },
  },
  {
    name: 'keep-ring',
    action: 'stop',
    target: { cluster: 'prod', service: 'payments' },
    on: { taskStopped: { cluster: 'prod', group: 'service:payments', nonZeroExit: true } },
  },
  {
    name: 'custom',
    target: { cluster: 'prod', task: 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0' },
    tool: 'strace',
    on: { pattern: { source: ['my.app'], 'detail-type': ['Incident opened'] } },
  },
];

const { template } = synth({ toolboxImage: PINNED_IMAGE, triggers: TRIGGERS });
const api = functionsByHandler(template).api;
type Rule = {
  Properties: { EventPattern?: unknown; Targets?: Record<string, unknown>[]; Description?: string };
};
const triggerRules = () =>
  Object.entries(resourcesOfType(template, 'AWS::Events::Rule') as Record<string, Rule>).filter(
    ([, rule]) => rule.Properties.EventPattern !== undefined,
  );
const ruleOf = (name: string) => {
  const found = triggerRules().find(([, rule]) =>
    rule.Properties.Description?.startsWith(`debug-task trigger "${name}"`),
  );
  if (!found) throw new Error(`no rule for trigger ${name}`);
  return { logicalId: found[0], ...found[1].Properties };
};

describe('triggers in the template', () => {
  it('creates one event rule per trigger, and no Lambda function of its own (8, at most 8)', () => {
    expect(triggerRules()).toHaveLength(TRIGGERS.length);
    // Ours (debug-task:handler metadata); CDK's own custom-resource provider is not.
    expect(Object.keys(functionsByHandler(template)).length).toBeLessThanOrEqual(8);
    expect(Object.keys(functionsByHandler(template)).sort()).toEqual(
      ['api', 'cleanup', 'collect', 'doctor', 'launch', 'plan', 'poll', 'sweeper'].sort(),
    );
  });

  it('matches an alarm entering ALARM, by name or by ARN', () => {
    expect(ruleOf('on-5xx').EventPattern).toEqual({
      source: ['aws.cloudwatch'],
      'detail-type': ['CloudWatch Alarm State Change'],
      detail: { alarmName: ['payments-5xx'], state: { value: ['ALARM'] } },
    });
    expect(ruleOf('ring-on-crash').EventPattern).toEqual({
      source: ['aws.cloudwatch'],
      'detail-type': ['CloudWatch Alarm State Change'],
      resources: ['arn:aws:cloudwatch:xx-test-1:123456789012:alarm:payments-latency'],
      detail: { state: { value: ['ALARM'] } },
    });
  });

  it('matches an ECS task of the cluster and group that stopped with a container exit code other than 0', () => {
    const pattern = ruleOf('keep-ring').EventPattern as { detail: Record<string, unknown> };

    expect(pattern).toMatchObject({ source: ['aws.ecs'], 'detail-type': ['ECS Task State Change'] });
    expect(pattern.detail).toMatchObject({
      lastStatus: ['STOPPED'],
      group: ['service:payments'],
      containers: { exitCode: [{ 'anything-but': 0 }] },
    });
    expect(flat((pattern.detail.clusterArn as unknown[])[0])).toBe(
      'arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:cluster/prod',
    );
  });

  it('takes any other pattern as given', () => {
    expect(ruleOf('custom').EventPattern).toEqual({ source: ['my.app'], 'detail-type': ['Incident opened'] });
  });

  it('targets the existing api function with an input the rule writes: the trigger name and the rule ARN, never the event detail', () => {
    for (const [name] of TRIGGERS.map((t) => [t.name])) {
      const targets = ruleOf(name).Targets as Record<string, unknown>[];

      expect(targets).toHaveLength(1);
      expect(flat(targets[0].Arn)).toBe(`<${api.logicalId}.Arn>`);
      expect(targets[0].Input).toBeUndefined();
      expect(targets[0].InputTransformer).toEqual({ InputTemplate: triggerInputTemplate(name) });
      expect(triggerInputTemplate(name)).toContain('"ruleArn":"<aws.events.rule-arn>"');
    }
  });

  it('retries a delivery for an hour, then keeps it in an encrypted dead-letter queue', () => {
    const [queueId] = Object.keys(resourcesOfType(template, 'AWS::SQS::Queue'));
    for (const { name } of TRIGGERS) {
      const [target] = ruleOf(name).Targets as Record<string, unknown>[];

      expect(target.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 8 });
      expect(flat((target.DeadLetterConfig as { Arn: unknown }).Arn)).toBe(`<${queueId}.Arn>`);
    }
    expect(resourcesOfType(template, 'AWS::SQS::Queue')[queueId].Properties).toMatchObject({
      SqsManagedSseEnabled: true,
    });
  });

  it('lets each rule invoke the api function as itself only (a permission per rule, scoped to its ARN)', () => {
    const permissions = Object.values(resourcesOfType(template, 'AWS::Lambda::Permission')).filter(
      (p) =>
        p.Properties.Principal === 'events.amazonaws.com' &&
        flat(p.Properties.FunctionName) === `<${api.logicalId}.Arn>`,
    );

    expect(permissions.map((p) => flat(p.Properties.SourceArn)).sort()).toEqual(
      TRIGGERS.map(({ name }) => `<${ruleOf(name).logicalId}.Arn>`).sort(),
    );
  });

  it('gives the api function the presets, and nothing about when they fire', () => {
    const env = (api.resource.Properties.Environment as { Variables: Record<string, string> }).Variables;
    const presets = JSON.parse(env[TRIGGERS_ENV]);

    expect(Object.keys(presets).sort()).toEqual(['custom', 'keep-ring', 'on-5xx', 'ring-on-crash']);
    expect(presets['on-5xx']).toEqual({
      action: 'start',
      request: {
        target: { cluster: 'prod', service: 'payments' },
        tool: 'tcpdump',
        filter: 'tcp port 443',
        durationSeconds: 120,
        reason: 'trigger on-5xx',
      },
    });
    expect(presets['ring-on-crash'].request.ring).toEqual({ seconds: 600 });
    expect(presets['keep-ring']).toEqual({
      action: 'stop',
      target: { cluster: 'prod', service: 'payments' },
    });
    expect(JSON.stringify(presets)).not.toMatch(/alarm|pattern|aws\.ecs/);
  });

  it('adds nothing without triggers: no rule but the sweeper’s, no queue, no presets', () => {
    const { template: plain } = synth({ toolboxImage: PINNED_IMAGE });
    const env = (
      functionsByHandler(plain).api.resource.Properties.Environment as { Variables: Record<string, string> }
    ).Variables;

    expect(Object.keys(resourcesOfType(plain, 'AWS::Events::Rule'))).toHaveLength(1);
    expect(Object.keys(resourcesOfType(plain, 'AWS::SQS::Queue'))).toHaveLength(0);
    expect(env[TRIGGERS_ENV]).toBeUndefined();
  });
});

describe('triggers checked at synth', () => {
  const synthWith = (triggers: unknown) => () =>
    synth({ toolboxImage: PINNED_IMAGE, triggers: triggers as TriggerDeclaration[] });
  const base = TRIGGERS[0];

  it('refuses a preset POST /sessions would refuse, naming the trigger (the same validation, the same limits)', () => {
    expect(synthWith([{ ...base, duration: '2h' }])).toThrow(
      /triggers\[0\] "on-5xx": A tcpdump session lasts 1s to 15m; 2h was asked for/,
    );
    expect(synthWith([{ ...base, tool: 'wireshark' }])).toThrow(
      /triggers\[0\] "on-5xx": There is no tool "wireshark"/,
    );
    expect(synthWith([{ ...base, filter: 'tcp; rm -rf /' }])).toThrow(
      /triggers\[0\] "on-5xx": filter is invalid/,
    );
    expect(synthWith([{ ...base, tool: 'strace', ring: '10m' }])).toThrow(/strace takes no --ring/);
  });

  it('refuses a malformed declaration with the field at fault', () => {
    expect(synthWith([{ ...base, name: 'has space' }])).toThrow(
      /triggers\[0\] "has space": name: use letters, digits/,
    );
    expect(synthWith([{ ...base, on: { alarm: 'a', pattern: {} } }])).toThrow(/triggers\[0\] "on-5xx": on/);
    expect(synthWith([{ ...base, on: { taskStopped: { cluster: 'prod', nonZeroExit: false } } }])).toThrow(
      /on/,
    );
    expect(synthWith([base, base])).toThrow(/two triggers are named "on-5xx"/);
    expect(synthWith([{ ...base, target: { cluster: 'prod' } }])).toThrow(/give either a task or a service/);
    expect(synthWith([{ ...base, action: 'stop', tool: undefined }])).toThrow(
      /a stop trigger takes no filter, duration/,
    );
    expect(synthWith([{ ...base, tool: undefined }])).toThrow(/a start trigger names its tool/);
  });

  it('refuses an event pattern EventBridge would refuse, naming its path', () => {
    expect(synthWith([{ ...base, on: { pattern: { detail: { state: 'ALARM' } } } }])).toThrow(
      /on\.pattern\.detail\.state: a field's value is a list of matchers/,
    );
    expect(synthWith([{ ...base, on: { pattern: { source: [{ numeric: ['!=', 0] }] } } }])).toThrow(
      /on\.pattern\.source: .* is not a valid "numeric" matcher/,
    );
  });

  it('reads the context key as bin/app.ts does: a JSON array in cdk.json, or a file with -c', () => {
    const file = join(fakeToolboxDirectory(), 'triggers.json');
    writeFileSync(file, JSON.stringify([base]));
    const fromFile = new App({ context: { triggers: file } });
    const inline = new App({ context: { triggers: [base] } });

    expect(stackPropsFromContext(fromFile.node).triggers).toEqual([base]);
    expect(stackPropsFromContext(inline.node).triggers).toEqual([base]);
    expect(() => stackPropsFromContext(new App({ context: { triggers: '/nonexistent.json' } }).node)).toThrow(
      /Context triggers: cannot read \/nonexistent.json/,
    );
  });
});

describe('cdk-nag and AWS Guard with triggers', () => {
  it('report no unacknowledged finding', () => {
    const app = testApp();
    Validations.of(app).addPlugins(guardValidator());
    const stack = new DebugTaskStack(app, 'DebugTask', {
      toolboxDirectory: fakeToolboxDirectory(),
      triggers: TRIGGERS,
    });
    acknowledgeDebugTaskGuardFindings(stack);
    const report = new AwsSolutionsChecks().validateScope(stack);

    expect(
      report.violations.map(
        (v) =>
          `${v.severity} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
      ),
    ).toEqual([]);
    expect(() => app.synth()).not.toThrow();
  });
});
