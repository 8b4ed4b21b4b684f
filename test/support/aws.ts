import 'aws-sdk-client-mock-jest';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { ECRClient } from '@aws-sdk/client-ecr';
import { ECSClient } from '@aws-sdk/client-ecs';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type GetObjectCommandOutput,
  type ListObjectsV2CommandInput,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { audit } from '../../lib/audit/audit';
import { resetAwsClients } from '../../lib/aws/registry';

/**
 * The one SDK mock of the unit tests (issue 14): every client our code makes (lib/aws/*) is stubbed
 * here and reset before each test, with the client registry and the environment the functions read.
 * A call no test configured answers `undefined`; a call that ever escaped the stubs would go to
 * region xx-test-1 (test/setup-env.ts), which does not exist.
 *
 * Use: `useAwsMocks()` at the top of a test file, then `aws.s3.on(...)` etc. in the tests. A file
 * that runs some services against the sandbox's stand-ins instead names them:
 * `useAwsMocks({}, { real: ['s3', 'sts'] })`.
 */
const CLIENTS = {
  ecs: ECSClient,
  ssm: SSMClient,
  s3: S3Client,
  sts: STSClient,
  sfn: SFNClient,
  logs: CloudWatchLogsClient,
  ecr: ECRClient,
} as const;
type Service = keyof typeof CLIENTS;
const stubs = new Map<Service, { reset(): unknown }>();

/** The stub of one client class: made once per test file, on first use. */
function stubOf<S extends Service>(service: S): AwsClientStub<InstanceType<(typeof CLIENTS)[S]>> {
  let stub = stubs.get(service);
  if (!stub) {
    stub = mockClient(CLIENTS[service] as never);
    stubs.set(service, stub);
  }
  return stub as AwsClientStub<InstanceType<(typeof CLIENTS)[S]>>;
}

export const aws = {
  get ecs() {
    return stubOf('ecs');
  },
  get ssm() {
    return stubOf('ssm');
  },
  get s3() {
    return stubOf('s3');
  },
  get sts() {
    return stubOf('sts');
  },
  get sfn() {
    return stubOf('sfn');
  },
  get logs() {
    return stubOf('logs');
  },
  get ecr() {
    return stubOf('ecr');
  },
};

/** The deployment the functions believe they run in. */
export const FAKE = {
  region: 'xx-test-1',
  account: '123456789012',
  bucket: 'debug-task-artifacts',
  document: 'DebugTask-Runner-ABC123',
  documentVersion: '7',
  documentHash: 'c0'.repeat(32),
  runnerBucket: 'cdk-hnb659fds-assets-123456789012-xx-test-1',
  runnerKey: `${'5e'.repeat(32)}.sh`,
  uploadRoleArn: 'arn:aws:iam::123456789012:role/DebugTask-UploadRole2F1F88CA-AbCdEf',
  image: `123456789012.dkr.ecr.xx-test-1.amazonaws.com/toolbox@sha256:${'ab'.repeat(32)}`,
  stateMachineArn: 'arn:aws:states:xx-test-1:123456789012:stateMachine:DebugTaskSessions',
  graceSeconds: 30,
} as const;

/**
 * What the stack sets on the functions, and the optional settings unset (each test sets the one it
 * is about). Undefined deletes the variable for the test.
 */
export const FUNCTION_ENV: Readonly<Record<string, string | undefined>> = {
  AWS_REGION: FAKE.region,
  BUCKET_NAME: FAKE.bucket,
  DOCUMENT_NAME: FAKE.document,
  DOCUMENT_VERSION: FAKE.documentVersion,
  DOCUMENT_HASH: FAKE.documentHash,
  RUNNER_BUCKET: FAKE.runnerBucket,
  RUNNER_KEY: FAKE.runnerKey,
  UPLOAD_ROLE_ARN: FAKE.uploadRoleArn,
  TOOLBOX_IMAGE: FAKE.image,
  STATE_MACHINE_ARN: FAKE.stateMachineArn,
  GRACE_SECONDS: String(FAKE.graceSeconds),
  FLEET_START_LEAD_SECONDS: undefined,
  ALLOWED_CLUSTERS: undefined,
  AWS_S3_FORCE_PATH_STYLE: undefined,
  AWS_SESSION_TOKEN: undefined,
  HOST_CPUS: undefined,
  HOST_MEMORY_MB: undefined,
  HOST_PIDS_LIMIT: undefined,
  HOST_MAX_SESSIONS: undefined,
  MAX_DURATION_SECONDS: undefined,
  MAX_BYTES: undefined,
  REQUIRE_REASON: undefined,
  AUDIT_LOG_GROUP: undefined,
  ARTIFACT_KEY_ARN: undefined,
};

/**
 * Stubs every client but the `real` ones, at once (so nothing reaches a real client even before a
 * test configures its stub). Before each test: those stubs reset, the client registry emptied (the
 * next call makes its client again, from the environment of this test), the function environment
 * set (`env` on top of FUNCTION_ENV). After each: the environment restored.
 */
export function useAwsMocks(
  env: Record<string, string | undefined> = {},
  options: { real?: readonly Service[] } = {},
): void {
  const mocked = (Object.keys(CLIENTS) as Service[]).filter((s) => !options.real?.includes(s));
  for (const service of mocked) stubOf(service);
  let restore: (() => void) | undefined;
  beforeEach(() => {
    for (const service of mocked) stubOf(service).reset();
    resetAwsClients();
    // Events a step queued are written by its Lambda wrapper (withAudit), which step tests skip.
    audit.reset();
    restore = withEnv({ ...FUNCTION_ENV, ...env });
  });
  afterEach(() => {
    restore?.();
    resetAwsClients();
  });
}

/** Sets environment variables (undefined deletes); returns the function that restores them. */
export function withEnv(values: Record<string, string | undefined>): () => void {
  const saved = Object.fromEntries(Object.keys(values).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** A GetObject answer whose body reads as `text`. */
export function objectBody(text: string): GetObjectCommandOutput {
  return {
    Body: { transformToString: () => Promise.resolve(text) },
    $metadata: {},
  } as unknown as GetObjectCommandOutput;
}

export const noSuchKey = () =>
  new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } });
export const notFound = () => new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } });
export const preconditionFailed = () =>
  new S3ServiceException({
    name: 'PreconditionFailed',
    $fault: 'client',
    message: 'At least one of the pre-conditions you specified did not hold',
    $metadata: { httpStatusCode: 412 },
  });

/**
 * A bucket in memory behind the S3 stub, with S3's semantics where our code relies on them:
 * GetObject/HeadObject of a missing key fail 404, ListObjectsV2 pages (`pageSize`) with a
 * continuation token, PutObject with `If-None-Match: *` fails 412 on an existing key. Objects given
 * as values other than strings are stored as their JSON. Every write lands in `objects`.
 */
export interface FakeBucket {
  objects: Map<string, string>;
  /** The JSON of the object at `key` (fails the test when there is none). */
  json<T = unknown>(key: string): T;
  /** Keys written by PutObject during the test, in order. */
  puts(): PutObjectCommandInput[];
}

export function givenBucket(
  initial: Record<string, unknown> = {},
  options: { bucket?: string; pageSize?: number; sizes?: Record<string, number> } = {},
): FakeBucket {
  const bucket = options.bucket ?? FAKE.bucket;
  const pageSize = options.pageSize ?? 1000;
  const objects = new Map<string, string>(
    Object.entries(initial).map(([key, value]) => [
      key,
      typeof value === 'string' ? value : JSON.stringify(value),
    ]),
  );
  // Artifacts are not read, only listed: their sizes can be given without their bytes.
  const sizes = new Map(Object.entries(options.sizes ?? {}));
  const sizeOf = (key: string) => sizes.get(key) ?? Buffer.byteLength(objects.get(key) ?? '');
  const has = (b: string | undefined, key: string | undefined) =>
    b === bucket && key !== undefined && (objects.has(key) || sizes.has(key));

  aws.s3.on(GetObjectCommand).callsFake((input: { Bucket?: string; Key?: string }) => {
    if (input.Bucket !== bucket || !objects.has(input.Key ?? '')) throw noSuchKey();
    return objectBody(objects.get(input.Key!)!);
  });
  aws.s3.on(HeadObjectCommand).callsFake((input: { Bucket?: string; Key?: string }) => {
    if (!has(input.Bucket, input.Key)) throw notFound();
    return { ContentLength: sizeOf(input.Key!) };
  });
  aws.s3.on(ListObjectsV2Command).callsFake((input: ListObjectsV2CommandInput) => {
    if (input.Bucket !== bucket) throw noSuchKey();
    const keys = [...new Set([...objects.keys(), ...sizes.keys()])]
      .filter((k) => k.startsWith(input.Prefix ?? ''))
      .sort();
    const start = input.ContinuationToken ? Number(input.ContinuationToken) : 0;
    const end = start + pageSize;
    return {
      Contents: keys.slice(start, end).map((Key) => ({ Key, Size: sizeOf(Key) })),
      IsTruncated: end < keys.length,
      ...(end < keys.length && { NextContinuationToken: String(end) }),
    };
  });
  aws.s3.on(PutObjectCommand).callsFake((input: PutObjectCommandInput) => {
    if (input.Bucket !== bucket) throw noSuchKey();
    if (input.IfNoneMatch === '*' && has(input.Bucket, input.Key)) throw preconditionFailed();
    objects.set(input.Key!, String(input.Body ?? ''));
    return {};
  });
  return {
    objects,
    json<T>(key: string): T {
      const text = objects.get(key);
      if (text === undefined) throw new Error(`no object ${key} in the bucket`);
      return JSON.parse(text) as T;
    },
    puts: () => aws.s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input),
  };
}
