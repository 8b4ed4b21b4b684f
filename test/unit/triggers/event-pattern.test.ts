import { eventPatternOf } from '../../../lib/triggers/declaration';
import { checkEventPattern, matchesEventPattern } from '../../../lib/triggers/event-pattern';

const SCOPE = { partition: 'aws', region: 'xx-test-1', account: '123456789012' };
const CLUSTER_ARN = 'arn:aws:ecs:xx-test-1:123456789012:cluster/prod';

/** An ECS "Task State Change" event as ECS sends it (the fields the patterns read). */
function taskStopped(exitCodes: (number | undefined)[], over: Record<string, unknown> = {}) {
  return {
    version: '0',
    id: 'e1',
    'detail-type': 'ECS Task State Change',
    source: 'aws.ecs',
    account: '123456789012',
    region: 'xx-test-1',
    resources: ['arn:aws:ecs:xx-test-1:123456789012:task/prod/abc'],
    detail: {
      clusterArn: CLUSTER_ARN,
      group: 'service:payments',
      lastStatus: 'STOPPED',
      taskDefinitionArn: 'arn:aws:ecs:xx-test-1:123456789012:task-definition/payments:7',
      containers: exitCodes.map((exitCode, i) => ({
        name: `c${i}`,
        ...(exitCode !== undefined && { exitCode }),
      })),
      ...over,
    },
  };
}

function alarm(name: string, state: string) {
  return {
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    resources: [`arn:aws:cloudwatch:xx-test-1:123456789012:alarm:${name}`],
    detail: { alarmName: name, state: { value: state }, previousState: { value: 'OK' } },
  };
}

describe('the pattern of a task that stopped with a non-zero exit', () => {
  const pattern = eventPatternOf(
    { taskStopped: { cluster: 'prod', group: 'service:payments', nonZeroExit: true } },
    SCOPE,
  );

  it('matches when one container exited with a code other than 0', () => {
    expect(matchesEventPattern(pattern, taskStopped([0, 137]))).toBe(true);
    expect(matchesEventPattern(pattern, taskStopped([1]))).toBe(true);
  });

  it('does not match when every container exited 0, or never ran (no exit code)', () => {
    expect(matchesEventPattern(pattern, taskStopped([0, 0]))).toBe(false);
    expect(matchesEventPattern(pattern, taskStopped([undefined]))).toBe(false);
  });

  it('does not match a task still running, of another group, or of another cluster', () => {
    expect(matchesEventPattern(pattern, taskStopped([1], { lastStatus: 'RUNNING' }))).toBe(false);
    expect(matchesEventPattern(pattern, taskStopped([1], { group: 'service:orders' }))).toBe(false);
    expect(
      matchesEventPattern(pattern, taskStopped([1], { clusterArn: CLUSTER_ARN.replace('prod', 'staging') })),
    ).toBe(false);
  });

  it('matches a task definition family by prefix', () => {
    const byFamily = eventPatternOf(
      { taskStopped: { cluster: 'prod', family: 'payments', nonZeroExit: true } },
      SCOPE,
    );

    expect(matchesEventPattern(byFamily, taskStopped([2]))).toBe(true);
    expect(
      matchesEventPattern(
        byFamily,
        taskStopped([2], {
          taskDefinitionArn: 'arn:aws:ecs:xx-test-1:123456789012:task-definition/payments-v2:1',
        }),
      ),
    ).toBe(false);
  });
});

describe('the pattern of an alarm', () => {
  it('matches the named alarm entering ALARM only', () => {
    const pattern = eventPatternOf({ alarm: 'payments-5xx' }, SCOPE);

    expect(matchesEventPattern(pattern, alarm('payments-5xx', 'ALARM'))).toBe(true);
    expect(matchesEventPattern(pattern, alarm('payments-5xx', 'OK'))).toBe(false);
    expect(matchesEventPattern(pattern, alarm('orders-5xx', 'ALARM'))).toBe(false);
  });

  it('matches an alarm given by ARN through the event resources', () => {
    const pattern = eventPatternOf(
      { alarm: 'arn:aws:cloudwatch:xx-test-1:123456789012:alarm:payments-5xx' },
      SCOPE,
    );

    expect(matchesEventPattern(pattern, alarm('payments-5xx', 'ALARM'))).toBe(true);
    expect(matchesEventPattern(pattern, alarm('orders-5xx', 'ALARM'))).toBe(false);
  });
});

describe('EventBridge matchers', () => {
  const event = {
    source: 'my.app',
    detail: { n: 5, s: 'Payments-API', ip: '10.0.3.7', tags: ['a', 'b'], empty: null },
  };
  const cases: [string, unknown, boolean][] = [
    ['prefix', { source: [{ prefix: 'my.' }] }, true],
    ['suffix', { detail: { s: [{ suffix: '-API' }] } }, true],
    ['equals-ignore-case', { detail: { s: [{ 'equals-ignore-case': 'payments-api' }] } }, true],
    ['prefix ignoring case', { detail: { s: [{ prefix: { 'equals-ignore-case': 'pay' } }] } }, true],
    ['wildcard', { detail: { s: [{ wildcard: 'Pay*API' }] } }, true],
    ['numeric range', { detail: { n: [{ numeric: ['>', 0, '<=', 5] }] } }, true],
    ['numeric out of range', { detail: { n: [{ numeric: ['>', 5] }] } }, false],
    ['anything-but a list', { detail: { s: [{ 'anything-but': ['x', 'Payments-API'] }] } }, false],
    ['anything-but a prefix', { source: [{ 'anything-but': { prefix: 'aws.' } }] }, true],
    ['exists', { detail: { n: [{ exists: true }] } }, true],
    ['exists false', { detail: { missing: [{ exists: false }] } }, true],
    ['a value of an array', { detail: { tags: ['b'] } }, true],
    ['null', { detail: { empty: [null] } }, true],
    ['cidr', { detail: { ip: [{ cidr: '10.0.0.0/16' }] } }, true],
    ['cidr outside', { detail: { ip: [{ cidr: '10.1.0.0/16' }] } }, false],
    ['$or', { $or: [{ source: ['x'] }, { detail: { n: [5] } }] }, true],
    ['every field (AND)', { source: ['my.app'], detail: { n: [6] } }, false],
  ];

  it.each(cases)('%s', (_, pattern, expected) => {
    expect(matchesEventPattern(pattern, event)).toBe(expected);
  });

  it('refuses a pattern EventBridge would refuse, naming its path', () => {
    expect(() => checkEventPattern({})).toThrow(
      /pattern: a pattern is a JSON object with at least one field/,
    );
    expect(() => checkEventPattern({ detail: { n: [] } })).toThrow(
      /detail\.n: a list of matchers may not be empty/,
    );
    expect(() => checkEventPattern({ detail: { n: [{ between: [1, 2] }] } })).toThrow(
      /detail\.n: unknown matcher "between"/,
    );
    expect(() => checkEventPattern({ $or: [{ a: ['x'] }] })).toThrow(
      /\$or takes a list of at least two patterns/,
    );
  });
});
