import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { handlerBuildOptions, pureSchemas } from '../../../lib/infra/handler-bundling';
import { PROJECT_ROOT } from '../../../lib/infra/paths';

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
});

describe("a handler's bundle (lib/infra/handler-bundling.ts)", () => {
  let dir: string;
  let code: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'debug-task-bundling-'));
    const options = handlerBuildOptions('', join(dir, 'index.js'));
    delete options.entryPoints;
    await build({
      ...options,
      logLevel: 'silent',
      stdin: {
        contents:
          "import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';\n" +
          'export const send = () => new S3Client({}).send(new HeadObjectCommand({ Bucket: "b", Key: "k" }));\n',
        resolveDir: PROJECT_ROOT,
        loader: 'ts',
      },
    });
    code = readFileSync(join(dir, 'index.js'), 'utf8');
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the schemas of the operations it calls and drops the others', () => {
    expect(code).toContain('"HeadObject"');
    expect(code).not.toContain('PutBucketLifecycleConfiguration');
  });

  it('loads in a plain node, the event-stream module bundled where S3Client needs it at load', () => {
    const out = execFileSync(
      process.execPath,
      ['-e', `process.stdout.write(typeof require(${JSON.stringify(join(dir, 'index.js'))}).send)`],
      {
        cwd: tmpdir(),
        env: { PATH: process.env.PATH, AWS_REGION: 'xx-test-1' },
      },
    ).toString();

    expect(out).toBe('function');
  });
});
