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

  it.each(SESSION_HANDLERS.filter((h) => h !== 'cleanup'))(
    'runs %s on Node.js 22 or newer, on arm64, with 256 MB and 30 s',
    (handler) => {
      const props = functions[handler].resource.Properties;

      expect(nodeMajor(props.Runtime)).toBeGreaterThanOrEqual(22);
      expect(props).toMatchObject({ Architectures: ['arm64'], MemorySize: 256, Timeout: 30 });
    },
  );

  it('runs cleanup like the others, but with a minute: it waits up to 20 s for the hosts to confirm', () => {
    const props = functions.cleanup.resource.Properties;

    expect(nodeMajor(props.Runtime)).toBeGreaterThanOrEqual(22);
    expect(props).toMatchObject({ Architectures: ['arm64'], MemorySize: 256, Timeout: 60 });
  });

  it('runs the sweeper like the others, but with 2 minutes to walk the whole fleet', () => {
    const props = functions.sweeper.resource.Properties;

    expect(nodeMajor(props.Runtime)).toBeGreaterThanOrEqual(22);
    expect(props).toMatchObject({ Architectures: ['arm64'], MemorySize: 256, Timeout: 120 });
  });

  it.each(HANDLERS)(
    'logs %s to its own log group, kept for a year, encrypted with the log key',
    (handler) => {
      const logGroup = (functions[handler].resource.Properties.LoggingConfig as { LogGroup: { Ref: string } })
        .LogGroup.Ref;

      expect(template.toJSON().Resources[logGroup]).toMatchObject({
        Type: 'AWS::Logs::LogGroup',
        Properties: {
          RetentionInDays: 365,
          KmsKeyId: { 'Fn::GetAtt': [expect.stringMatching(/^KeysLogs[0-9A-F]{8}$/), 'Arn'] },
        },
        DeletionPolicy: 'Retain',
      });
    },
  );

  it('uses no AWS managed policy (each role starts with its log group only)', () => {
    template.allResourcesProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
  });

  it('has the seven functions of the one path, and the doctors’ own', () => {
    expect(Object.keys(functions).sort()).toEqual(
      ['api', 'plan', 'launch', 'poll', 'collect', 'cleanup', 'sweeper', 'doctor'].sort(),
    );
  });

  it('gives api the state machine, the bucket and the session limits: it resolves nothing and reaches no host', () => {
    expect(Object.keys(environmentOf('api')).sort()).toEqual(
      [
        'AUDIT_LOG_GROUP',
        'BUCKET_NAME',
        'MAX_BYTES',
        'MAX_DURATION_SECONDS',
        'MAX_RING_SECONDS',
        'REQUIRE_REASON',
        'STATE_MACHINE_ARN',
      ].sort(),
    );
    expect(environmentOf('api')).toMatchObject({
      MAX_DURATION_SECONDS: '600',
      MAX_RING_SECONDS: '2400',
      MAX_BYTES: '500000000',
      REQUIRE_REASON: 'false',
    });
    expect(flat(environmentOf('api').STATE_MACHINE_ARN)).toMatch(/^<Sessions[0-9A-F]{8}>$/);
    expect(flat(environmentOf('api').BUCKET_NAME)).toMatch(/^<Artifacts[0-9A-F]{8}>$/);
  });

  it('gives plan the bucket, the allowed clusters, the clock of a plan and the limits preview checks', () => {
    expect(Object.keys(environmentOf('plan')).sort()).toEqual(
      [
        'ALLOWED_CLUSTERS',
        'AUDIT_LOG_GROUP',
        'BUCKET_NAME',
        'FLEET_START_LEAD_SECONDS',
        'GRACE_SECONDS',
        'MAX_BYTES',
        'MAX_DURATION_SECONDS',
        'MAX_RING_SECONDS',
      ].sort(),
    );
    expect(environmentOf('plan')).toMatchObject({
      ALLOWED_CLUSTERS: 'prod,staging',
      GRACE_SECONDS: '45',
      FLEET_START_LEAD_SECONDS: '40',
      MAX_DURATION_SECONDS: '600',
      MAX_BYTES: '500000000',
    });
    expect(flat(environmentOf('plan').BUCKET_NAME)).toMatch(/^<Artifacts[0-9A-F]{8}>$/);
  });

  it('gives doctor what the doctors check: the bucket, the allowed clusters, the image, the pinned document, the limits', () => {
    expect(Object.keys(environmentOf('doctor')).sort()).toEqual(
      [
        'ALLOWED_CLUSTERS',
        'AUDIT_LOG_GROUP',
        'BUCKET_NAME',
        // doctor --stack checks the pinned document (the doctor never sends it: no runner file).
        'DOCUMENT_HASH',
        'DOCUMENT_NAME',
        'DOCUMENT_VERSION',
        'MAX_BYTES',
        'MAX_DURATION_SECONDS',
        'MAX_RING_SECONDS',
        'TOOLBOX_IMAGE',
      ].sort(),
    );
    expect(environmentOf('doctor')).toMatchObject({
      ALLOWED_CLUSTERS: 'prod,staging',
      MAX_DURATION_SECONDS: '600',
      MAX_BYTES: '500000000',
      TOOLBOX_IMAGE: PINNED_IMAGE,
    });
    expect(flat(environmentOf('doctor').BUCKET_NAME)).toMatch(/^<Artifacts[0-9A-F]{8}>$/);
    expect(flat(environmentOf('doctor').DOCUMENT_NAME)).toMatch(/^<RunnerDocument[0-9A-F]{8}>$/);
  });

  it('gives launch the document, the image, every host limit and the upload role', () => {
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
        'ARTIFACT_KEY_ARN',
        'AUDIT_LOG_GROUP',
        'BUCKET_NAME',
        'DOCUMENT_HASH',
        'DOCUMENT_NAME',
        'DOCUMENT_VERSION',
        'GRACE_SECONDS',
        'HOST_CPUS',
        'HOST_MAX_SESSIONS',
        'HOST_MEMORY_MB',
        'HOST_PIDS_LIMIT',
        'RUNNER_BUCKET',
        'RUNNER_KEY',
        'TOOLBOX_IMAGE',
        'UPLOAD_ROLE_ARN',
      ].sort(),
    );
    expect(flat(environmentOf('launch').DOCUMENT_NAME)).toMatch(/^<RunnerDocument[0-9A-F]{8}>$/);
    expect(flat(environmentOf('launch').UPLOAD_ROLE_ARN)).toMatch(/^<UploadRole[0-9A-F]{8}\.Arn>$/);
    expect(flat(environmentOf('launch').ARTIFACT_KEY_ARN)).toMatch(/^<KeysArtifacts[0-9A-F]{8}\.Arn>$/);
  });

  it('gives poll and collect the bucket, poll (a stop) and cleanup the document; collect and cleanup the audit log', () => {
    expect(Object.keys(environmentOf('poll')).sort()).toEqual(['BUCKET_NAME', ...SENDER_ENV].sort());
    expect(Object.keys(environmentOf('collect')).sort()).toEqual(['AUDIT_LOG_GROUP', 'BUCKET_NAME']);
    expect(Object.keys(environmentOf('cleanup')).sort()).toEqual(
      ['AUDIT_LOG_GROUP', 'BUCKET_NAME', ...SENDER_ENV].sort(),
    );
    for (const handler of ['api', 'plan', 'doctor', 'launch', 'collect', 'cleanup']) {
      expect(flat(environmentOf(handler).AUDIT_LOG_GROUP)).toMatch(/^<Audit[0-9A-F]{8}>$/);
    }
    expect(flat(environmentOf('cleanup').DOCUMENT_NAME)).toMatch(/^<RunnerDocument[0-9A-F]{8}>$/);
  });

  it('gives no function but launch the upload role', () => {
    for (const handler of HANDLERS.filter((h) => h !== 'launch')) {
      expect([handler, environmentOf(handler).UPLOAD_ROLE_ARN]).toEqual([handler, undefined]);
    }
  });

  it('gives the sweeper the document and the allowed clusters', () => {
    expect(Object.keys(environmentOf('sweeper')).sort()).toEqual(['ALLOWED_CLUSTERS', ...SENDER_ENV].sort());
    expect(environmentOf('sweeper').ALLOWED_CLUSTERS).toBe('prod,staging');
    expect(flat(environmentOf('sweeper').DOCUMENT_NAME)).toMatch(/^<RunnerDocument[0-9A-F]{8}>$/);
  });
});

/** What every function that sends the document is told: the pinned document and the runner file. */
const SENDER_ENV = ['DOCUMENT_NAME', 'DOCUMENT_VERSION', 'DOCUMENT_HASH', 'RUNNER_BUCKET', 'RUNNER_KEY'];

describe('functions with every default', () => {
  const defaults = functionsByHandler(synth().template);
  const env = (handler: string) =>
    (defaults[handler].resource.Properties.Environment as { Variables: Record<string, unknown> }).Variables;

  it('let plan resolve in, and the sweeper sweep, any cluster', () => {
    expect(env('plan')).toMatchObject({ ALLOWED_CLUSTERS: '' });
    expect(env('sweeper')).toMatchObject({ ALLOWED_CLUSTERS: '' });
  });

  it('give plan the documented clock and limits', () => {
    expect(env('plan')).toMatchObject({
      GRACE_SECONDS: '30',
      FLEET_START_LEAD_SECONDS: '15',
      MAX_DURATION_SECONDS: '900',
      MAX_BYTES: '1000000000',
    });
    expect(env('api')).toMatchObject({ MAX_DURATION_SECONDS: '900', MAX_BYTES: '1000000000' });
  });

  it('give launch the documented defaults and the image built from the Dockerfile, as the doctor checks it', () => {
    expect(env('launch')).toMatchObject({
      GRACE_SECONDS: '30',
      HOST_CPUS: '0.5',
      HOST_MEMORY_MB: '256',
      HOST_PIDS_LIMIT: '64',
      HOST_MAX_SESSIONS: '2',
    });
    // By digest: the one ECR gave the asset's tag, read at deploy time.
    expect(flat(env('launch').TOOLBOX_IMAGE)).toMatch(
      /container-assets-.*@<ToolboxDigest[0-9A-F]{8}\.imageDetails\.0\.imageDigest>$/,
    );
    expect(env('doctor').TOOLBOX_IMAGE).toEqual(env('launch').TOOLBOX_IMAGE);
  });
});
