import { FLEET_LIMITS, chunk, fleetCallBudget, sendCommandBatches } from '../../../lib/session/batches';

const instanceId = (j: number) => `i-${j.toString(16).padStart(17, '0')}`;

describe('chunk', () => {
  it('splits a list into slices of at most the given size, the last one shorter', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('gives no slice for an empty list', () => {
    expect(chunk([], 100)).toEqual([]);
  });

  it('gives ceil(n / size) slices of at most size items', () => {
    const slices = chunk(
      Array.from({ length: 1001 }, (_, i) => i),
      100,
    );

    expect(slices).toHaveLength(11);
    expect(slices.every((s) => s.length <= 100)).toBe(true);
    expect(slices.flat()).toHaveLength(1001);
  });

  it.each([0, -1, 2.5, Number.NaN])('refuses a size of %p', (size) => {
    expect(() => chunk([1], size)).toThrow(RangeError);
  });
});

describe('sendCommandBatches', () => {
  it('batches 100 hosts into two SendCommand calls of 50 InstanceIds', () => {
    const ids = Array.from({ length: 100 }, (_, j) => instanceId(j));

    expect(sendCommandBatches(ids).map((b) => b.length)).toEqual([50, 50]);
  });

  it('sends each host once even when it appears several times', () => {
    expect(sendCommandBatches(['i-a', 'i-b', 'i-a'])).toEqual([['i-a', 'i-b']]);
  });

  it('takes a smaller batch size', () => {
    expect(sendCommandBatches(['i-a', 'i-b', 'i-c'], 2)).toEqual([['i-a', 'i-b'], ['i-c']]);
  });

  it('refuses a batch size above SendCommand’s 50 InstanceIds', () => {
    expect(() => sendCommandBatches(['i-a'], 51)).toThrow(/at most 50/);
  });
});

describe('fleetCallBudget', () => {
  // [tasks N, instances M, ListTasks, DescribeTasks, DescribeContainerInstances, DescribeInstanceInformation, SendCommand]
  const cases: [number, number, number, number, number, number, number][] = [
    [1, 1, 1, 1, 1, 1, 1],
    [100, 1, 1, 1, 1, 1, 1],
    [100, 10, 1, 1, 1, 1, 1],
    [100, 100, 1, 1, 1, 2, 2],
    [101, 1, 2, 2, 1, 1, 1],
    [101, 10, 2, 2, 1, 1, 1],
    [101, 100, 2, 2, 1, 2, 2],
    [1000, 1, 10, 10, 1, 1, 1],
    [1000, 10, 10, 10, 1, 1, 1],
    [1000, 100, 10, 10, 1, 2, 2],
  ];

  it.each(cases)(
    'budgets %i tasks on %i instances at %i ListTasks, %i DescribeTasks, %i DescribeContainerInstances, %i DescribeInstanceInformation, %i SendCommand',
    (
      tasks,
      instances,
      listTasks,
      describeTasks,
      describeContainerInstances,
      describeInstanceInformation,
      sendCommand,
    ) => {
      const budget = fleetCallBudget(tasks, instances);

      expect(budget).toEqual({
        'ecs:ListTasks': listTasks,
        'ecs:DescribeTasks': describeTasks,
        'ecs:DescribeContainerInstances': describeContainerInstances,
        'ssm:DescribeInstanceInformation': describeInstanceInformation,
        'ssm:SendCommand': sendCommand,
        resolve: listTasks + describeTasks + describeContainerInstances + describeInstanceInformation,
        total:
          listTasks + describeTasks + describeContainerInstances + describeInstanceInformation + sendCommand,
      });
    },
  );

  it('keeps the fan-out of 1,000 tasks on 100 instances at 23 calls to resolve and 25 in all, within 40', () => {
    const budget = fleetCallBudget(1000, 100);

    expect(budget.resolve).toBe(23);
    expect(budget.total).toBe(25);
    expect(budget.total).toBeLessThanOrEqual(40);
  });

  it('counts one ListTasks for a service with no task', () => {
    expect(fleetCallBudget(0, 0)).toMatchObject({ 'ecs:ListTasks': 1, total: 1 });
  });

  it('uses the APIs’ limits: 100 ids for ECS, 50 for Systems Manager', () => {
    expect(FLEET_LIMITS).toEqual({
      listTasksPage: 100,
      describeTasks: 100,
      describeContainerInstances: 100,
      describeInstanceInformation: 50,
      sendCommand: 50,
    });
  });

  it.each([
    [-1, 1],
    [1, 1.5],
  ])('refuses %p tasks on %p instances', (tasks, instances) => {
    expect(() => fleetCallBudget(tasks, instances)).toThrow(RangeError);
  });
});
