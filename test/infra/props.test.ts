import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AssetManifestArtifact } from 'aws-cdk-lib/cx-api';
import { DebugTaskStack, STACK_DEFAULTS, type DebugTaskStackProps } from '../../lib/infra/debug-task-stack';
import { resolveSettings } from '../../lib/infra/stack-props';
import { PINNED_IMAGE, fakeToolboxDirectory, testApp } from './helpers';

/** Constructing is enough: the props are checked before any construct is made. */
const construct = (props: DebugTaskStackProps) => () => new DebugTaskStack(testApp(), 'DebugTask', props);

describe('stack props', () => {
  it('applies the documented defaults', () => {
    const settings = resolveSettings({});

    expect(settings).toMatchObject({
      allowedClusters: [],
      maxDurationSeconds: 900,
      maxBytes: 1_000_000_000,
      maxSessionsPerHost: 2,
      graceSeconds: 30,
      artifactRetentionDays: 7,
      hostCpus: 0.5,
      hostMemoryMb: 256,
      hostPidsLimit: 64,
      sweepIntervalMinutes: 15,
      fleetConcurrency: 20,
      fleetStartLeadSeconds: 15,
      toolbox: { platform: 'linux/amd64', directory: expect.stringMatching(/toolbox$/) },
    });
    expect(STACK_DEFAULTS.maxDurationSeconds).toBe(settings.maxDurationSeconds);
  });

  it('accepts an image pinned by digest and de-duplicates cluster names', () => {
    const settings = resolveSettings({
      toolboxImage: PINNED_IMAGE,
      allowedClusters: ['prod', 'prod', 'ops_1'],
    });

    expect(settings.toolbox).toEqual({ image: PINNED_IMAGE });
    expect(settings.allowedClusters).toEqual(['prod', 'ops_1']);
  });

  it.each<[string, DebugTaskStackProps, RegExp]>([
    [
      'a tag instead of a digest',
      { toolboxImage: 'public.ecr.aws/x/toolbox:latest' },
      /toolboxImage.*pinned by digest/,
    ],
    ['a short digest', { toolboxImage: 'registry.example/toolbox@sha256:abc' }, /toolboxImage.*@sha256/],
    [
      'a digest of a reference the document refuses',
      { toolboxImage: `registry.example/tool box@sha256:${'a'.repeat(64)}` },
      /toolboxImage.*SSM document/,
    ],
    [
      'build options with a given image',
      { toolboxImage: PINNED_IMAGE, toolboxPlatform: 'linux/arm64' },
      /toolboxPlatform/,
    ],
    ['an unknown platform', { toolboxPlatform: 'linux/s390x' as never }, /toolboxPlatform.*linux\/amd64/],
    ['an empty cluster list', { allowedClusters: [] }, /allowedClusters is empty.*unset/],
    [
      'a cluster ARN',
      { allowedClusters: ['arn:aws:ecs:eu-west-1:123456789012:cluster/prod'] },
      /allowedClusters.*name \(prod\)/,
    ],
    [
      'a cluster name with a space',
      { allowedClusters: ['my cluster'] },
      /allowedClusters.*not an ECS cluster name/,
    ],
    ['a zero duration', { maxDurationSeconds: 0 }, /maxDurationSeconds 0/],
    ['a fractional duration', { maxDurationSeconds: 1.5 }, /maxDurationSeconds/],
    [
      'a duration past the SSM parameter',
      { maxDurationSeconds: 100_000 },
      /maxDurationSeconds.*durationSeconds/,
    ],
    [
      'a duration the execution timeout cannot hold',
      { maxDurationSeconds: 99_990 },
      /maxDurationSeconds \+ graceSeconds/,
    ],
    ['a ring of no time', { maxRingSeconds: 0 }, /maxRingSeconds 0/],
    [
      'a ring the upload URL does not outlive (role chaining caps it at an hour)',
      { maxRingSeconds: 3500 },
      /maxRingSeconds 3500 \+ graceSeconds 30 .*\(role chaining\).*lower maxRingSeconds/,
    ],
    ['a negative size', { maxBytes: -1 }, /maxBytes/],
    ['a size past 12 digits', { maxBytes: 1e12 }, /maxBytes/],
    ['no session per host', { maxSessionsPerHost: 0 }, /maxSessionsPerHost/],
    ['100 sessions per host', { maxSessionsPerHost: 100 }, /maxSessionsPerHost/],
    ['a grace below 10 s', { graceSeconds: 5 }, /graceSeconds 5 is out of range.*10 to 3600/],
    ['a retention of 0 days', { artifactRetentionDays: 0 }, /artifactRetentionDays/],
    ['a fractional retention', { artifactRetentionDays: 1.5 }, /artifactRetentionDays/],
    ['three decimals of CPU', { hostCpus: 0.125 }, /hostCpus 0.125/],
    ['no CPU', { hostCpus: 0 }, /hostCpus/],
    ['a memory limit below 10 MiB', { hostMemoryMb: 6 }, /hostMemoryMb/],
    ['a NaN process limit', { hostPidsLimit: Number.NaN }, /hostPidsLimit/],
    [
      'a sweep interval of 0 (the sweeper cannot be switched off)',
      { sweepIntervalMinutes: 0 },
      /sweepIntervalMinutes 0 would switch the sweeper off.*1 to 1440/,
    ],
    [
      'a sweep interval past a day',
      { sweepIntervalMinutes: 1441 },
      /sweepIntervalMinutes 1441 is out of range.*1 to 1440/,
    ],
    [
      'a fractional sweep interval',
      { sweepIntervalMinutes: 2.5 },
      /sweepIntervalMinutes 2.5 is out of range/,
    ],
    ['a negative sweep interval', { sweepIntervalMinutes: -15 }, /sweepIntervalMinutes -15/],
    // An inline Map runs at most 40 iterations at once.
    ['a fleet concurrency over 40', { fleetConcurrency: 41 }, /fleetConcurrency 41 is out of range.*1 to 40/],
    ['no fleet concurrency', { fleetConcurrency: 0 }, /fleetConcurrency 0 is out of range/],
    ['a fleet start lead over 5 minutes', { fleetStartLeadSeconds: 301 }, /fleetStartLeadSeconds 301/],
  ])('refuses %s, naming the prop', (_case, props, message) => {
    expect(construct(props)).toThrow(message);
  });

  it('explains what to do when there is neither an image nor a Dockerfile', () => {
    const empty = mkdtempSync(join(tmpdir(), 'debug-task-empty-'));

    expect(construct({ toolboxDirectory: empty })).toThrow(
      /toolboxImage is not set and there is no Dockerfile/,
    );
  });

  it('builds the toolbox image for the platform asked for, at deploy time', () => {
    const app = testApp();
    new DebugTaskStack(app, 'DebugTask', {
      toolboxDirectory: fakeToolboxDirectory(),
      toolboxPlatform: 'linux/arm64',
    });

    const manifest = app.synth().artifacts.find((artifact) => artifact instanceof AssetManifestArtifact);
    const images = Object.values((manifest as AssetManifestArtifact).contents.dockerImages ?? {});

    expect(images).toHaveLength(1);
    expect(images[0].source).toMatchObject({ platform: 'linux/arm64' });
  });
});
