import { App } from 'aws-cdk-lib';
import { stackPropsFromContext } from '../../lib/infra/app-context';

const propsFor = (context: Record<string, unknown>) => stackPropsFromContext(new App({ context }).node);

describe('stack props from CDK context', () => {
  it('leaves every prop unset when there is no context, so the stack defaults apply', () => {
    expect(propsFor({})).toEqual({
      toolboxImage: undefined,
      toolboxPlatform: undefined,
      allowedClusters: undefined,
    });
  });

  it('reads -c values, which arrive as strings', () => {
    expect(
      propsFor({
        toolboxImage: 'registry.example/toolbox@sha256:abc',
        toolboxPlatform: 'linux/arm64',
        allowedClusters: ' prod, staging ,',
        maxDurationSeconds: '600',
        hostCpus: '1.5',
        sweepIntervalMinutes: '30',
        fleetConcurrency: '10',
        fleetStartLeadSeconds: '20',
      }),
    ).toEqual({
      toolboxImage: 'registry.example/toolbox@sha256:abc',
      toolboxPlatform: 'linux/arm64',
      allowedClusters: ['prod', 'staging'],
      maxDurationSeconds: 600,
      hostCpus: 1.5,
      sweepIntervalMinutes: 30,
      fleetConcurrency: 10,
      fleetStartLeadSeconds: 20,
    });
  });

  it('reads cdk.json values, which arrive as JSON numbers and arrays', () => {
    expect(propsFor({ maxBytes: 5_000_000, allowedClusters: ['prod'] })).toMatchObject({
      maxBytes: 5_000_000,
      allowedClusters: ['prod'],
    });
  });

  it('treats an empty -c value as unset', () => {
    expect(propsFor({ toolboxImage: '', maxBytes: '' })).not.toHaveProperty('maxBytes');
    expect(propsFor({ toolboxImage: '' }).toolboxImage).toBeUndefined();
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    [
      'a number that is not one',
      { maxDurationSeconds: '15m' },
      /Context maxDurationSeconds must be a number.*"15m"/,
    ],
    ['a blank number', { graceSeconds: '  ' }, /Context graceSeconds must be a number/],
    [
      'an interval with a unit',
      { sweepIntervalMinutes: '15m' },
      /Context sweepIntervalMinutes must be a number.*"15m"/,
    ],
    [
      'a list of numbers',
      { allowedClusters: [1, 2] },
      /Context allowedClusters must be a comma-separated list/,
    ],
    ['an image that is not a string', { toolboxImage: 42 }, /Context toolboxImage must be a string/],
  ])('refuses %s, naming the context key', (_case, context, message) => {
    expect(() => propsFor(context)).toThrow(message);
  });
});
