import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HANDLER_NAMES } from '../../lib/infra/handlers';

/**
 * The package as a user gets it: `npm pack`, installed globally into a temporary prefix (from npm's
 * cache where it can), its CLI run from there, and a CDK app of the user's own that imports
 * `DebugTask` from the tarball, type-checked and synthesized offline without credentials. Also: npx
 * run in a clone before `npm ci` says what to do and leaves npx's cache working.
 */

jest.setTimeout(15 * 60_000);

const ROOT = join(__dirname, '..', '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const OURS = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  devDependencies: Record<string, string>;
};
/** No AWS credentials, no region: synthesis must not need them. */
const NO_AWS = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_') && key !== 'CDK_DEFAULT_REGION'),
);

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const result = spawnSync(command, args, {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? process.env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return result as SpawnSyncReturns<string>;
}

/** Runs a step that must succeed; its output is in the error when it does not. */
function must(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): string {
  const result = run(command, args, options);
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.status}:\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result.stdout;
}

interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string; mode: number }[];
}

describe('the npm package', () => {
  let work: string;
  let tarball: string;
  let packed: Packed;
  let prefix: string;
  let installed: string;
  const cli = (...args: string[]) => run(join(prefix, 'bin', 'debug-task'), args, { cwd: work, env: NO_AWS });

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'debug-task-pack-'));
    // prepack builds what the package ships: dist/ (tsc) and the handlers' bundles.
    [packed] = JSON.parse(must('npm', ['pack', '--json', '--pack-destination', work])) as Packed[];
    tarball = join(work, packed.filename);
    prefix = join(work, 'prefix');
    must('npm', [
      'install',
      '--global',
      '--prefix',
      prefix,
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      tarball,
    ]);
    installed = join(prefix, 'lib', 'node_modules', 'debug-task');
  });
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('carries the CLI, the compiled code with its types, the handler bundles, the runner and the Dockerfile', () => {
    const paths = packed.files.map((file) => file.path);

    expect(packed.files.find((file) => file.path === 'bin/debug-task.cjs')?.mode).toBe(0o755);
    expect(paths).toEqual(
      expect.arrayContaining([
        'dist/cli/debug-task.js',
        'dist/cli/commands/run.js',
        'dist/cli/commands/sessions.js',
        'dist/lib/index.js',
        'dist/lib/index.d.ts',
        'dist/lib/client/index.js',
        'dist/lib/client/index.d.ts',
        'lib/host/runner/header.sh',
        'lib/host/runner/main.sh',
        'toolbox/Dockerfile',
        ...HANDLER_NAMES.map((name) => `dist/bundles/${name}/index.js`),
      ]),
    );
    // Sources, tests, maps and the repository's own CDK app (it needs cdk-nag) stay out.
    expect(paths.filter((path) => /\.ts$/.test(path) && !path.endsWith('.d.ts'))).toEqual([]);
    expect(
      paths.filter((path) => /^(test|bench|lambda|scripts)\/|\.map$|^dist\/bin\/app/.test(path)),
    ).toEqual([]);
    expect(packed.size).toBeLessThan(5_000_000);
  });

  it('installs globally and runs debug-task --help and debug-task tools from there', () => {
    const help = cli('--help');
    const tools = cli('tools', '--json');

    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: debug-task /);
    expect(help.stdout).toContain('demo [options]');
    expect(tools.status).toBe(0);
    const catalog = JSON.parse(tools.stdout.trim().split('\n').at(-1)!) as { tools: { name: string }[] };
    expect(catalog.tools.map((tool) => tool.name)).toEqual(['tcpdump', 'ngrep', 'strace', 'snapshot']);
  });

  it('runs the session commands from their own bundles, their errors typed as the entry knows them (exit codes)', () => {
    // Keys that only let the request be signed; the API's address refuses connections (loopback).
    const env = { ...NO_AWS, AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'example' };
    const api = ['--api-url', 'http://127.0.0.1:9', '--json'];
    const lastJson = (stdout: string) =>
      JSON.parse(stdout.trim().split('\n').at(-1)!) as { error: { code: string; hint?: string } };

    const started = run(join(prefix, 'bin', 'debug-task'), ['not-a-task', '--tool', 'tcpdump', ...api], {
      cwd: work,
      env,
    });
    const status = run(
      join(prefix, 'bin', 'debug-task'),
      ['status', 'dt-20261206000000-abcdef', '--cluster', 'c', ...api],
      { cwd: work, env },
    );

    // A DebugTaskError of another copy of its class would be an unknown error to the entry: exit 5,
    // AWS_ERROR, without its hint.
    expect(started.status).toBe(2);
    expect(lastJson(started.stdout).error.code).toBe('INVALID_TASK_ARN');
    expect(status.status).toBe(5);
    expect(lastJson(status.stdout).error).toEqual(
      expect.objectContaining({ code: 'AWS_ERROR', hint: expect.stringContaining('Check the API URL') }),
    );
  });

  it("brings what the demo synthesizes: the stack's template, from the bundles it ships (no esbuild, no sources)", () => {
    const script = [
      "const { synthesizeTemplate } = require('./dist/lib/sandbox/template.js');",
      'const resources = Object.values(synthesizeTemplate().Resources);',
      "console.log(resources.filter((r) => r.Type === 'AWS::Lambda::Function' && r.Metadata?.['debug-task:handler']).length);",
    ].join('\n');

    expect(must(process.execPath, ['-e', script], { cwd: installed, env: NO_AWS }).trim()).toBe(
      String(HANDLER_NAMES.length),
    );
    expect(existsSync(join(installed, 'node_modules', 'esbuild'))).toBe(false);
    expect(existsSync(join(installed, 'lambda'))).toBe(false);
  });

  describe('in a CDK app of your own', () => {
    let app: string;
    beforeAll(() => {
      app = join(work, 'app');
      mkdirSync(app);
      const dependencies = {
        'debug-task': `file:${tarball}`,
        'aws-cdk-lib': OURS.devDependencies['aws-cdk-lib'],
        constructs: OURS.devDependencies.constructs,
      };
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify({ name: 'platform', private: true, dependencies }),
      );
      must('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app });
      // A CDK app's usual settings (CommonJS, node10 resolution: `exports` is not read, typesVersions
      // is), and the same with node16 resolution (`exports` is read).
      const compilerOptions = {
        strict: true,
        skipLibCheck: true,
        types: [],
        target: 'ES2022',
        module: 'commonjs',
        moduleResolution: 'node',
      };
      writeFileSync(
        join(app, 'tsconfig.json'),
        JSON.stringify({ compilerOptions, files: ['app.ts', 'pipeline.ts'] }),
      );
      writeFileSync(
        join(app, 'tsconfig.node16.json'),
        JSON.stringify({
          extends: './tsconfig.json',
          compilerOptions: { module: 'node16', moduleResolution: 'node16' },
        }),
      );
      writeFileSync(
        join(app, 'app.ts'),
        [
          "import { App, CfnOutput, Stack } from 'aws-cdk-lib';",
          "import { AccountRootPrincipal, Role } from 'aws-cdk-lib/aws-iam';",
          "import { DebugTask, type DebugTaskProps } from 'debug-task';",
          '',
          "const props: DebugTaskProps = { allowedClusters: ['prod'], requireReason: true };",
          "const app = new App({ outdir: 'cdk.out' });",
          "const stack = new Stack(app, 'Platform');",
          "const debugTask = new DebugTask(stack, 'DebugTask', props);",
          "debugTask.grantInvoke(new Role(stack, 'Oncall', { assumedBy: new AccountRootPrincipal() }));",
          "new CfnOutput(stack, 'DebugTaskApiUrl', { value: debugTask.apiUrl });",
          'app.synth();',
          '',
        ].join('\n'),
      );
      writeFileSync(
        join(app, 'pipeline.ts'),
        [
          "import { DebugTaskClient, DebugTaskError, type SessionRequest, type SessionView } from 'debug-task/client';",
          '',
          "const request: SessionRequest = { target: { task: 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef' }, tool: 'tcpdump' };",
          'export async function capture(apiUrl: string): Promise<SessionView> {',
          '  const client = new DebugTaskClient({ apiUrl });',
          '  const { sessionId } = await client.startSession(request);',
          '  return client.getSession(sessionId);',
          '}',
          'export const isDebugTaskError = (error: unknown): boolean => error instanceof DebugTaskError;',
          '',
        ].join('\n'),
      );
    });

    it.each(['tsconfig.json', 'tsconfig.node16.json'])(
      'type-checks against the types of the package (%s)',
      (tsconfig) => {
        const result = run(process.execPath, [TSC, '--noEmit', '-p', tsconfig], { cwd: app });

        expect(result.stdout + result.stderr).toBe('');
        expect(result.status).toBe(0);
      },
    );

    it('synthesizes offline without credentials, the Lambda code coming from the shipped bundles', () => {
      must(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: app });
      must(process.execPath, ['app.js'], { cwd: app, env: NO_AWS });

      const template = JSON.parse(readFileSync(join(app, 'cdk.out', 'Platform.template.json'), 'utf8')) as {
        Resources: Record<
          string,
          { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, unknown> }
        >;
        Outputs: Record<string, unknown>;
      };
      const functions = Object.values(template.Resources).filter(
        (resource) => resource.Type === 'AWS::Lambda::Function',
      );
      // Ours, each from its shipped bundle; beside them CDK's own custom-resource function (the
      // deploy-time reads of the toolbox digest and the document version), from aws-cdk-lib.
      const handlers = functions.map((fn) => fn.Metadata?.['debug-task:handler']).filter(Boolean);
      expect(handlers.sort()).toEqual([...HANDLER_NAMES].sort());
      // Every function's code is in the cloud assembly: `cdk deploy` uploads it as it is.
      for (const fn of functions) {
        const key = (fn.Properties.Code as { S3Key: string }).S3Key;
        expect(existsSync(join(app, 'cdk.out', `asset.${key.replace(/\.zip$/, '')}`, 'index.js'))).toBe(true);
      }
      expect(Object.keys(template.Outputs)).toContain('DebugTaskApiUrl');
      // The toolbox image: a Docker image asset of the package's toolbox/, built at deploy time.
      const assets = JSON.parse(readFileSync(join(app, 'cdk.out', 'Platform.assets.json'), 'utf8')) as {
        dockerImages: Record<string, { source: { directory: string } }>;
      };
      const [image] = Object.values(assets.dockerImages);
      expect(readFileSync(join(app, 'cdk.out', image.source.directory, 'Dockerfile'), 'utf8')).toBe(
        readFileSync(join(ROOT, 'toolbox', 'Dockerfile'), 'utf8'),
      );
    });

    it('debug-task/client loads the typed client without any CDK code', () => {
      const script = [
        "const { DebugTaskClient } = require('debug-task/client');",
        'const cdk = Object.keys(require.cache).filter((path) => /[\\\\/](aws-cdk-lib|constructs)[\\\\/]/.test(path));',
        'console.log(typeof DebugTaskClient, cdk.length);',
      ].join('\n');

      expect(must(process.execPath, ['-e', script], { cwd: app }).trim()).toBe('function 0');
    });
  });
});

describe('npx debug-task in a clone before npm ci', () => {
  it('says to run npm ci, every time, and leaves npx working (no broken cache entry)', () => {
    const clone = mkdtempSync(join(tmpdir(), 'debug-task-clone-'));
    try {
      // What a clone has before `npm ci`: no node_modules, no dist/.
      for (const path of ['package.json', 'bin/debug-task.cjs', 'scripts/prepare.cjs']) {
        mkdirSync(join(clone, path, '..'), { recursive: true });
        cpSync(join(ROOT, path), join(clone, path));
      }
      const env = {
        ...process.env,
        npm_config_cache: join(clone, '.npm'),
        npm_config_update_notifier: 'false',
      };
      const npx = () => run('npx', ['--yes', 'debug-task', '--help'], { cwd: clone, env });

      const first = npx();
      const second = npx();

      for (const attempt of [first, second]) {
        expect(attempt.status).toBe(1);
        expect(attempt.stderr).toContain(`debug-task is not built yet: run \`npm ci\` in ${clone} first`);
        expect(attempt.stderr).not.toContain('ENOENT');
      }
      expect(
        execFileSync('git', ['ls-files', '-s', 'bin/debug-task.cjs'], { cwd: ROOT, encoding: 'utf8' }),
      ).toMatch(/^100755 /);
    } finally {
      rmSync(clone, { recursive: true, force: true });
    }
  });
});
