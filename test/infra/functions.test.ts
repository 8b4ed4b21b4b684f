import { Match } from 'aws-cdk-lib/assertions';
import { HANDLERS, PINNED_IMAGE, SESSION_HANDLERS, flat, functionsByHandler, synth } from './helpers';

const { template } = synth({
  toolboxImage: PINNED_IMAGE,
  allowedClusters: ['prod', 'staging'],
  maxDurationSeconds: 600,
  maxBytes: 500_000_000,
  maxSessionsPerHost: 3,
  graceSeconds: 45,
  hostCpus: 1.5,
  hostMemoryMb: 512,
  hostPidsLimit: 128,
  fleetStartLeadSeconds: 40,
});
const functions = functionsByHandler(template);
const environmentOf = (handler: string) =>
  (functions[handler].resource.Properties.Environment as { Variables: Record<string, unknown> }).Variables;

/** `nodejs22.x` -> 22: the runtimes this project may run on. */
const nodeMajor = (runtime: unknown) => Number(/^nodejs(\d+)\.x$/.exec(String(runtime))?.[1] ?? NaN);

describe('functions', () => {
  it('has one function per handler, named by its debug-task:handler metadata', () => {
    expect(Object.keys(functions).sort()).toEqual([...HANDLERS].sort());
  });

  it.each(SESSION_HANDLERS)('runs %s on Node.js 22 or newer, on arm64, with 256 MB and 30 s', (handler) => {
    const props = functions[handler].resource.Properties;

    expect(nodeMajor(props.Runtime)).toBeGreaterThanOrEqual(22);
    expect(props).toMatchObject({ Architectures: ['arm64'], MemorySize: 256, Timeout: 30 });
  });

  it('runs the sweeper like the others, but with 2 minutes to walk the whole fleet', () => {
    const props = functions.sweeper.resource.Properties;

    expect(nodeMajor(props.Runtime)).toBeGreaterThanOrEqual(22);
    expect(props).toMatchObject({ Architectures: ['arm64'], MemorySize: 256, Timeout: 120 });
  });

  it.each(HANDLERS)('logs %s to its own log group, kept for a month', (handler) => {
    const logGroup = (functions[handler].resource.Properties.LoggingConfig as { LogGroup: { Ref: string } })
      .LogGroup.Ref;

    expect(template.toJSON().Resources[logGroup]).toMatchObject({
      Type: 'AWS::Logs::LogGroup',
      Properties: { RetentionInDays: 30 },
      DeletionPolicy: 'Retain',
    });
  });

  it('uses no AWS managed policy (each role starts with its log group only)', () => {
    template.allResourcesProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
  });

  it('gives api the state machine, the bucket, the session limits, what POST /doctor checks, and what a re-upload sends', () => {
    expect(Object.keys(environmentOf('api')).sort()).toEqual(
      [
        'ALLOWED_CLUSTERS',
        'BUCKET_NAME',
        'DOCUMENT_NAME',
        'MAX_BYTES',
        'MAX_DURATION_SECONDS',
        'REQUIRE_REASON',
        'STATE_MACHINE_ARN',
        'TOOLBOX_IMAGE',
        'UPLOAD_ROLE_ARN',
      ].sort(),
    );
    // POST /sessions/{id}/reupload sends the runner with a URL signed by the upload role.
    expect(flat(environmentOf('api').UPLOAD_ROLE_ARN)).toMatch(/^<UploadRole[0-9A-F]{8}\.Arn>$/);
    expect(environmentOf('api').DOCUMENT_NAME).toEqual(environmentOf('launch').DOCUMENT_NAME);
    expect(environmentOf('api')).toMatchObject({
      MAX_DURATION_SECONDS: '600',
      MAX_BYTES: '500000000',
      ALLOWED_CLUSTERS: 'prod,staging',
      TOOLBOX_IMAGE: PINNED_IMAGE,
      REQUIRE_REASON: 'false',
    });
    expect(flat(environmentOf('api').STATE_MACHINE_ARN)).toMatch(/^<Sessions[0-9A-F]{8}>$/);
  });

  it('gives resolve the allowed clusters, comma-separated', () => {
    expect(environmentOf('resolve')).toEqual({ ALLOWED_CLUSTERS: 'prod,staging' });
  });

  it('gives launch the document, the image and every host limit', () => {
    expect(environmentOf('launch')).toMatchObject({
      TOOLBOX_IMAGE: PINNED_IMAGE,
      GRACE_SECONDS: '45',
      HOST_CPUS: '1.5',
      HOST_MEMORY_MB: '512',
      HOST_PIDS_LIMIT: '128',
      HOST_MAX_SESSIONS: '3',
    });
    expect(Object.keys(environmentOf('launch')).sort()).toEqual(
      [
        'BUCKET_NAME',
        'DOCUMENT_NAME',
        'GRACE_SECONDS',
        'HOST_CPUS',
        'HOST_MAX_SESSIONS',
        'HOST_MEMORY_MB',
        'HOST_PIDS_LIMIT',
        'TOOLBOX_IMAGE',
        'UPLOAD_ROLE_ARN',
      ].sort(),
    );
    expect(flat(environmentOf('launch').DOCUMENT_NAME)).toMatch(/^<RunnerDocument[0-9A-F]{8}>$/);
    expect(flat(environmentOf('launch').UPLOAD_ROLE_ARN)).toMatch(/^<UploadRole[0-9A-F]{8}\.Arn>$/);
  });

  it('gives poll and collect the bucket, and cleanup the document, bucket and image', () => {
    expect(Object.keys(environmentOf('poll'))).toEqual(['BUCKET_NAME']);
    expect(Object.keys(environmentOf('collect'))).toEqual(['BUCKET_NAME']);
    expect(Object.keys(environmentOf('cleanup')).sort()).toEqual([
      'BUCKET_NAME',
      'DOCUMENT_NAME',
      'TOOLBOX_IMAGE',
    ]);
    expect(environmentOf('cleanup').TOOLBOX_IMAGE).toBe(PINNED_IMAGE);
  });

  it('gives fleet-plan the bucket, the allowed clusters, the grace, the start lead and the upload role', () => {
    expect(Object.keys(environmentOf('fleet-plan')).sort()).toEqual(
      [
        'ALLOWED_CLUSTERS',
        'BUCKET_NAME',
        'FLEET_START_LEAD_SECONDS',
        'GRACE_SECONDS',
        'UPLOAD_ROLE_ARN',
      ].sort(),
    );
    expect(environmentOf('fleet-plan')).toMatchObject({
      ALLOWED_CLUSTERS: 'prod,staging',
      GRACE_SECONDS: '45',
      FLEET_START_LEAD_SECONDS: '40',
    });
    expect(flat(environmentOf('fleet-plan').BUCKET_NAME)).toMatch(/^<Artifacts[0-9A-F]{8}>$/);
    expect(flat(environmentOf('fleet-plan').UPLOAD_ROLE_ARN)).toMatch(/^<UploadRole[0-9A-F]{8}\.Arn>$/);
  });

  it('gives fleet-launch what launch gets but the upload role (FleetPlan signs the uploads)', () => {
    expect(Object.keys(environmentOf('fleet-launch')).sort()).toEqual(
      [
        'BUCKET_NAME',
        'DOCUMENT_NAME',
        'GRACE_SECONDS',
        'HOST_CPUS',
        'HOST_MAX_SESSIONS',
        'HOST_MEMORY_MB',
        'HOST_PIDS_LIMIT',
        'TOOLBOX_IMAGE',
      ].sort(),
    );
    expect(environmentOf('fleet-launch')).toMatchObject({
      TOOLBOX_IMAGE: PINNED_IMAGE,
      GRACE_SECONDS: '45',
      HOST_CPUS: '1.5',
      HOST_MEMORY_MB: '512',
      HOST_PIDS_LIMIT: '128',
      HOST_MAX_SESSIONS: '3',
    });
    expect(flat(environmentOf('fleet-launch').DOCUMENT_NAME)).toMatch(/^<RunnerDocument[0-9A-F]{8}>$/);
    expect(flat(environmentOf('fleet-launch').BUCKET_NAME)).toMatch(/^<Artifacts[0-9A-F]{8}>$/);
  });

  it('gives fleet-poll and fleet-collect the bucket, and fleet-cleanup the document only', () => {
    expect(Object.keys(environmentOf('fleet-poll'))).toEqual(['BUCKET_NAME']);
    expect(Object.keys(environmentOf('fleet-collect'))).toEqual(['BUCKET_NAME']);
    expect(flat(environmentOf('fleet-poll').BUCKET_NAME)).toMatch(/^<Artifacts[0-9A-F]{8}>$/);
    expect(flat(environmentOf('fleet-collect').BUCKET_NAME)).toMatch(/^<Artifacts[0-9A-F]{8}>$/);
    expect(Object.keys(environmentOf('fleet-cleanup'))).toEqual(['DOCUMENT_NAME']);
    expect(flat(environmentOf('fleet-cleanup').DOCUMENT_NAME)).toMatch(/^<RunnerDocument[0-9A-F]{8}>$/);
  });

  it('gives the sweeper the document and the allowed clusters', () => {
    expect(Object.keys(environmentOf('sweeper')).sort()).toEqual(['ALLOWED_CLUSTERS', 'DOCUMENT_NAME']);
    expect(environmentOf('sweeper').ALLOWED_CLUSTERS).toBe('prod,staging');
    expect(flat(environmentOf('sweeper').DOCUMENT_NAME)).toMatch(/^<RunnerDocument[0-9A-F]{8}>$/);
  });
});

describe('functions with every default', () => {
  const defaults = functionsByHandler(synth().template);
  const env = (handler: string) =>
    (defaults[handler].resource.Properties.Environment as { Variables: Record<string, unknown> }).Variables;

  it('let resolve accept, fleet-plan resolve in, and the sweeper sweep, any cluster', () => {
    expect(env('resolve')).toEqual({ ALLOWED_CLUSTERS: '' });
    expect(env('fleet-plan')).toMatchObject({ ALLOWED_CLUSTERS: '' });
    expect(env('sweeper')).toMatchObject({ ALLOWED_CLUSTERS: '' });
  });

  it('give the fleet functions the documented defaults and the image built from the Dockerfile', () => {
    expect(env('fleet-plan')).toMatchObject({ GRACE_SECONDS: '30', FLEET_START_LEAD_SECONDS: '15' });
    expect(env('fleet-launch')).toMatchObject({
      GRACE_SECONDS: '30',
      HOST_CPUS: '0.5',
      HOST_MEMORY_MB: '256',
      HOST_PIDS_LIMIT: '64',
      HOST_MAX_SESSIONS: '2',
    });
    expect(flat(env('fleet-launch').TOOLBOX_IMAGE)).toMatch(/container-assets-.*:[a-f0-9]{64}$/);
  });

  it('give launch the documented defaults and the image built from the Dockerfile', () => {
    expect(env('launch')).toMatchObject({
      GRACE_SECONDS: '30',
      HOST_CPUS: '0.5',
      HOST_MEMORY_MB: '256',
      HOST_PIDS_LIMIT: '64',
      HOST_MAX_SESSIONS: '2',
    });
    expect(flat(env('launch').TOOLBOX_IMAGE)).toMatch(/container-assets-.*:[a-f0-9]{64}$/);
    expect(env('api')).toMatchObject({ MAX_DURATION_SECONDS: '900', MAX_BYTES: '1000000000' });
  });
});
