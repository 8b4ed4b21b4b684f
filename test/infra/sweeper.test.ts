import { DebugTaskStack } from '../../lib/infra/debug-task-stack';
import { PINNED_IMAGE, flat, functionsByHandler, resourcesOfType, synth, testApp } from './helpers';

const { template } = synth({ toolboxImage: PINNED_IMAGE });
const sweeper = functionsByHandler(template).sweeper;

const rules = () => Object.values(resourcesOfType(template, 'AWS::Events::Rule'));

describe('the sweep schedule', () => {
  it('runs every 15 minutes by default', () => {
    expect(rules()).toHaveLength(1);
    expect(rules()[0].Properties).toMatchObject({ ScheduleExpression: 'rate(15 minutes)', State: 'ENABLED' });
  });

  it('targets the sweeper function, and nothing else', () => {
    const targets = rules()[0].Properties.Targets as { Arn: unknown }[];

    expect(targets).toHaveLength(1);
    expect(flat(targets[0].Arn)).toBe(`<${sweeper.logicalId}.Arn>`);
  });

  it('lets EventBridge invoke the sweeper from this rule only', () => {
    const [ruleId] = Object.keys(resourcesOfType(template, 'AWS::Events::Rule'));
    const permissions = Object.values(resourcesOfType(template, 'AWS::Lambda::Permission')).filter(
      (permission) => permission.Properties.Principal === 'events.amazonaws.com',
    );

    expect(permissions).toHaveLength(1);
    expect(permissions[0].Properties).toMatchObject({ Action: 'lambda:InvokeFunction' });
    expect(flat(permissions[0].Properties.FunctionName)).toBe(`<${sweeper.logicalId}.Arn>`);
    expect(flat(permissions[0].Properties.SourceArn)).toBe(`<${ruleId}.Arn>`);
  });

  it('does not retry a failed sweep (the next tick is the retry) nor deliver one a tick late', () => {
    const [target] = rules()[0].Properties.Targets as { RetryPolicy?: Record<string, unknown> }[];
    const configs = Object.values(resourcesOfType(template, 'AWS::Lambda::EventInvokeConfig'));

    expect(target.RetryPolicy).toMatchObject({ MaximumEventAgeInSeconds: 900 });
    expect(configs).toHaveLength(1);
    expect(configs[0].Properties).toMatchObject({
      FunctionName: { Ref: sweeper.logicalId },
      MaximumRetryAttempts: 0,
    });
  });

  it.each<[number, string]>([
    [1, 'rate(1 minute)'],
    [5, 'rate(5 minutes)'],
    [60, 'rate(1 hour)'],
    [1440, 'rate(1 day)'],
  ])('takes sweepIntervalMinutes %d as %s', (minutes, expression) => {
    const { template: custom } = synth({ toolboxImage: PINNED_IMAGE, sweepIntervalMinutes: minutes });
    const [rule] = Object.values(resourcesOfType(custom, 'AWS::Events::Rule'));

    expect(rule.Properties.ScheduleExpression).toBe(expression);
  });

  it('exposes the chosen interval in the settings', () => {
    const stack = new DebugTaskStack(testApp(), 'DebugTask', {
      toolboxImage: PINNED_IMAGE,
      sweepIntervalMinutes: 30,
    });

    expect(stack.settings.sweepIntervalMinutes).toBe(30);
  });
});
