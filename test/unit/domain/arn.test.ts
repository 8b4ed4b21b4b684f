import { parseTaskRef } from '../../../lib/domain/arn';
import { DebugTaskError } from '../../../lib/domain/errors';

const LONG = 'arn:aws:ecs:eu-west-1:123456789012:task/prod-web/0123456789abcdef0123456789abcdef';
const OLD = 'arn:aws:ecs:eu-west-1:123456789012:task/3b7c1a2e-1f4d-4a7b-9c1e-2d3f4a5b6c7d';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as DebugTaskError).code;
  }
  return undefined;
}

describe('parseTaskRef', () => {
  it('reads the cluster, region and account from a long task ARN', () => {
    expect(parseTaskRef(LONG)).toEqual({
      task: LONG,
      taskId: '0123456789abcdef0123456789abcdef',
      cluster: 'prod-web',
      region: 'eu-west-1',
      accountId: '123456789012',
    });
  });

  it('takes the cluster from --cluster for an old-format ARN, which names none', () => {
    const ref = parseTaskRef(OLD, 'legacy');
    expect(ref.cluster).toBe('legacy');
    expect(ref.taskId).toBe('3b7c1a2e-1f4d-4a7b-9c1e-2d3f4a5b6c7d');
  });

  it('leaves the cluster undefined (ECS default) for an old-format ARN without --cluster', () => {
    expect(parseTaskRef(OLD).cluster).toBeUndefined();
  });

  it('accepts a bare task id with --cluster', () => {
    expect(parseTaskRef('0123456789abcdef0123456789abcdef', 'prod')).toEqual({
      task: '0123456789abcdef0123456789abcdef',
      taskId: '0123456789abcdef0123456789abcdef',
      cluster: 'prod',
    });
  });

  it('accepts a cluster ARN as --cluster when it agrees with the task ARN', () => {
    expect(parseTaskRef(LONG, 'arn:aws:ecs:eu-west-1:123456789012:cluster/prod-web').cluster).toBe(
      'prod-web',
    );
  });

  it('throws INVALID_ARGUMENT when --cluster contradicts the ARN', () => {
    expect(codeOf(() => parseTaskRef(LONG, 'staging'))).toBe('INVALID_ARGUMENT');
  });

  it.each([
    ['an empty string', ''],
    ['a service ARN', 'arn:aws:ecs:eu-west-1:123456789012:service/prod/web'],
    ['a short id of the wrong length', 'abc123'],
    ['an ARN with a shell payload', `${LONG};rm -rf /`],
    [
      'too many path segments',
      'arn:aws:ecs:eu-west-1:123456789012:task/a/b/0123456789abcdef0123456789abcdef',
    ],
  ])('throws INVALID_TASK_ARN for %s', (_label, input) => {
    expect(codeOf(() => parseTaskRef(input))).toBe('INVALID_TASK_ARN');
  });

  it('throws INVALID_ARGUMENT for a cluster name with shell characters', () => {
    expect(codeOf(() => parseTaskRef('0123456789abcdef0123456789abcdef', 'prod$(id)'))).toBe(
      'INVALID_ARGUMENT',
    );
  });
});
