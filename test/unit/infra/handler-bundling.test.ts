import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import {
  handlerBuildOptions,
  pureSchemas,
  readsQueryCodes,
  retryableErrorClasses,
  withoutErrorRegistrations,
} from '../../../lib/infra/handler-bundling';
import { PROJECT_ROOT } from '../../../lib/infra/paths';
import { AwsApiError, startJsonServer, type JsonServer } from '../../../lib/sandbox/aws-json-server';
import { startS3, type S3StandIn } from '../../../lib/sandbox/s3';

describe('pureSchemas (the SDK schemas esbuild may drop when unused)', () => {
  it('wraps each exported schema array, on one line or several, and leaves everything else', () => {
    const source = [
      'const _h = "http";',
      'export var A$ = [9, n0, _A,',
      '    { [_h]: ["PUT", "/", 200] }, () => B$, () => __Unit',
      '];',
      'export var B$ = [3, n0, _B, 0, [_x], [0]];',
      'n0_registry.registerError(A$, A);',
    ].join('\n');

    expect(pureSchemas(source).split('\n')).toEqual([
      'const _h = "http";',
      'export var A$ = /* @__PURE__ */ (() => [9, n0, _A,',
      '    { [_h]: ["PUT", "/", 200] }, () => B$, () => __Unit',
      '])();',
      'export var B$ = /* @__PURE__ */ (() => [3, n0, _B, 0, [_x], [0]])();',
      'n0_registry.registerError(A$, A);',
    ]);
  });

  it('wraps the lists and maps too, which are not exported', () => {
    const source = ['var Bs = [1, n0, _Bs,', '    0, [() => B$,', '        { [_xN]: _B }]', '];'].join('\n');

    expect(pureSchemas(source)).toBe(
      [
        'var Bs = /* @__PURE__ */ (() => [1, n0, _Bs,',
        '    0, [() => B$,',
        '        { [_xN]: _B }]',
        '])();',
      ].join('\n'),
    );
  });
});

describe('withoutErrorRegistrations (the SDK error classes a bundle leaves out)', () => {
  const source = [
    'const _s_registry = new TypeRegistry(_s);',
    '_s_registry.registerError(SSMServiceException$, SSMServiceException);',
    'const n0_registry = new TypeRegistry(n0);',
    'n0_registry.registerError(InvalidInstanceId$, InvalidInstanceId);',
    'n0_registry.registerError(IDPCommunicationErrorException$, IDPCommunicationErrorException);',
    'export var X$ = [];',
    '',
  ].join('\n');

  it("drops each modeled error's registration and keeps the base exception's", () => {
    expect(withoutErrorRegistrations(source, { retryable: new Set(), queryCodes: false })).toBe(
      [
        'const _s_registry = new TypeRegistry(_s);',
        '_s_registry.registerError(SSMServiceException$, SSMServiceException);',
        'const n0_registry = new TypeRegistry(n0);',
        'export var X$ = [];',
        '',
      ].join('\n'),
    );
  });

  it('keeps a class with a retry trait, and every class of a client that reads awsQuery codes', () => {
    const retryable = new Set(['IDPCommunicationErrorException']);

    expect(withoutErrorRegistrations(source, { retryable, queryCodes: false })).toContain(
      'n0_registry.registerError(IDPCommunicationErrorException$, IDPCommunicationErrorException);',
    );
    expect(withoutErrorRegistrations(source, { retryable: new Set(), queryCodes: true })).toBe(source);
  });

  it("reads the installed clients' protocols and retry traits as the plugin does", () => {
    const dist = (client: string, file: string) =>
      readFileSync(join(PROJECT_ROOT, 'node_modules', '@aws-sdk', client, 'dist-es', file), 'utf8');

    // STS speaks awsQuery (its codes are not its class names); SSM, ECS, S3 send the shape name.
    expect(readsQueryCodes(dist('client-sts', 'runtimeConfig.shared.js'))).toBe(true);
    for (const client of ['client-ssm', 'client-ecs', 'client-s3', 'client-sfn']) {
      expect(readsQueryCodes(dist(client, 'runtimeConfig.shared.js'))).toBe(false);
    }
    expect(retryableErrorClasses(dist('client-sts', 'models/errors.js'))).toEqual(
      new Set(['IDPCommunicationErrorException']),
    );
    expect(retryableErrorClasses(dist('client-ssm', 'models/errors.js'))).toEqual(new Set());
  });
});

describe('our code reads SDK errors by name', () => {
  it('never tests an SDK class with instanceof (the bundles leave the error classes unregistered)', () => {
    const offenders: string[] = [];
    const files = ['lib', 'lambda'].flatMap((dir) =>
      readdirSync(join(PROJECT_ROOT, dir), { recursive: true, encoding: 'utf8' })
        .filter((file) => file.endsWith('.ts'))
        .map((file) => join(dir, file)),
    );
    for (const file of files) {
      const text = readFileSync(join(PROJECT_ROOT, file), 'utf8');
      const imported = [...text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-[\w-]+'/g)].flatMap(
        (m) => m[1].split(',').map((name) => name.trim().replace(/^type\s+/, '')),
      );
      for (const name of imported.filter(Boolean)) {
        if (new RegExp(`instanceof\\s+${name}\\b`).test(text)) offenders.push(`${file}: instanceof ${name}`);
      }
    }

    expect(files.length).toBeGreaterThan(50);
    expect(offenders).toEqual([]);
  });
});

describe('SDK errors in a bundle, without their classes registered', () => {
  let dir: string;
  let server: JsonServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'debug-task-bundled-errors-'));
    // The stand-ins' JSON server answers as ECS and SSM do: a 4xx with {"__type", "message"}.
    server = await startJsonServer(
      [
        {
          service: 'ecs',
          targetPrefix: 'AmazonEC2ContainerServiceV20141113',
          internalErrorType: 'ServerException',
          actions: {
            DescribeTasks: () => {
              throw new AwsApiError('ClusterNotFoundException', 'Cluster not found.');
            },
          },
        },
        {
          service: 'ssm',
          targetPrefix: 'AmazonSSM',
          internalErrorType: 'InternalServerError',
          actions: {
            SendCommand: () => {
              throw new AwsApiError('InvalidInstanceId', 'Instances not in a valid state for account.');
            },
            ListCommandInvocations: () => {
              throw new AwsApiError('InvalidCommandId', 'No such command.');
            },
          },
        },
      ],
      () => undefined,
    );
    const options = handlerBuildOptions('', join(dir, 'index.js'));
    delete options.entryPoints;
    // What Plan (resolveTarget: DescribeTasks) and Launch (SendCommand with its override) run, and a
    // call without an override (Poll's listing): its AWS_ERROR names the SDK error.
    await build({
      ...options,
      logLevel: 'silent',
      stdin: {
        contents: [
          "import { ListCommandInvocationsCommand, SendCommandCommand } from '@aws-sdk/client-ssm';",
          "import { awsCall } from './lib/aws/errors';",
          "import { ssmClient } from './lib/aws/ssm';",
          "import { sendCommandOverride } from './lib/session/host-command';",
          "import { resolveTarget } from './lib/session/resolve-task';",
          'const outcome = (p) => p.then(() => ({ code: "none" }), (e) => ({ code: e.code, ...(e.details?.awsError && { awsError: e.details.awsError }) }));',
          'export const resolve = () => outcome(resolveTarget({ task: "arn:aws:ecs:xx-test-1:111122223333:task/nope/0123456789abcdef0123456789abcdef" }));',
          'export const send = () => outcome(awsCall("ssm:SendCommand", () => ssmClient().send(new SendCommandCommand({ DocumentName: "d", InstanceIds: ["i-0123456789abcdef0"] })), sendCommandOverride(["i-0123456789abcdef0"])));',
          'export const list = () => outcome(awsCall("ssm:ListCommandInvocations", () => ssmClient().send(new ListCommandInvocationsCommand({ CommandId: "c" }))));',
        ].join('\n'),
        resolveDir: PROJECT_ROOT,
        loader: 'ts',
      },
    });
  }, 60_000);
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves the SSM and ECS error classes out of the bundle', () => {
    const code = readFileSync(join(dir, 'index.js'), 'utf8');

    expect(code).not.toContain('AutomationDefinitionNotFoundException');
    expect(code).not.toContain('ServiceNotActiveException');
  });

  it("still maps SSM's InvalidInstanceId and ECS's ClusterNotFoundException to our typed errors, and names the others", async () => {
    const bundle = JSON.stringify(join(dir, 'index.js'));
    // Not execFileSync: the stand-in answers from this process's event loop.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '-e',
        `const b = require(${bundle}); Promise.all([b.resolve(), b.send(), b.list()]).then((r) => process.stdout.write(JSON.stringify(r)))`,
      ],
      {
        cwd: tmpdir(),
        env: {
          PATH: process.env.PATH,
          AWS_REGION: 'xx-test-1',
          AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
          AWS_SECRET_ACCESS_KEY: 'secret',
          AWS_ENDPOINT_URL_ECS: server.endpoint,
          AWS_ENDPOINT_URL_SSM: server.endpoint,
          AWS_MAX_ATTEMPTS: '1',
        },
        timeout: 30_000,
      },
    );

    expect(JSON.parse(stdout)).toEqual([
      { code: 'TASK_NOT_FOUND' },
      { code: 'SSM_AGENT_OFFLINE' },
      { code: 'AWS_ERROR', awsError: 'InvalidCommandId' },
    ]);
  });
});

describe("a handler's bundle (lib/infra/handler-bundling.ts)", () => {
  let dir: string;
  let code: string;
  let s3: S3StandIn;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'debug-task-bundling-'));
    s3 = await startS3({ bucket: 'debug-task-bundling' });
    const options = handlerBuildOptions('', join(dir, 'index.js'));
    delete options.entryPoints;
    await build({
      ...options,
      logLevel: 'silent',
      stdin: {
        contents: [
          "import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';",
          "import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';",
          'export const send = async (Bucket) => {',
          '  const s3 = new S3Client({ forcePathStyle: true });',
          '  await s3.send(new PutObjectCommand({ Bucket, Key: "k", Body: "body" }));',
          '  const head = await s3.send(new HeadObjectCommand({ Bucket, Key: "k" }));',
          '  return { length: head.ContentLength, logs: typeof new CloudWatchLogsClient({}).config.eventStreamMarshaller.serialize };',
          '};',
        ].join('\n'),
        resolveDir: PROJECT_ROOT,
        loader: 'ts',
      },
    });
    code = readFileSync(join(dir, 'index.js'), 'utf8');
  }, 60_000);
  afterAll(async () => {
    await s3.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the schemas of the operations it calls and drops the others', () => {
    expect(code).toContain('"HeadObject"');
    expect(code).not.toContain('PutBucketLifecycleConfiguration');
  });

  it('leaves out the event-stream codec, which no operation of ours uses', () => {
    expect(code).toContain('leaves out the AWS SDK');
    expect(code).not.toContain('header name exceeds 255 bytes'); // the codec's HeaderMarshaller
  });

  it('builds its S3 and Logs clients in a plain node and sends S3 commands (the event-stream module bundled where S3Client needs it at load)', async () => {
    // Not execFileSync: the stand-in answers from this process's event loop.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '-e',
        `require(${JSON.stringify(join(dir, 'index.js'))}).send(${JSON.stringify(s3.bucket)}).then((r) => process.stdout.write(JSON.stringify(r)))`,
      ],
      {
        cwd: tmpdir(),
        env: {
          PATH: process.env.PATH,
          AWS_REGION: 'xx-test-1',
          AWS_ACCESS_KEY_ID: 'S3RVER',
          AWS_SECRET_ACCESS_KEY: 'S3RVER',
          AWS_ENDPOINT_URL_S3: s3.endpoint,
          AWS_MAX_ATTEMPTS: '1',
        },
        timeout: 30_000,
      },
    );

    expect(JSON.parse(stdout)).toEqual({ length: 4, logs: 'function' });
  });
});
