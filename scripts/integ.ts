/**
 * The integration test's snapshot (test/integ/integ.debug-task.ts), offline and without credentials:
 *
 *   npx tsx scripts/integ.ts check      (npm run integ:check)     CI: fails when a template changed
 *   npx tsx scripts/integ.ts snapshot   (npm run integ:snapshot)  writes the snapshot anew
 *
 * What integ-runner does in its snapshot mode (runner/snapshot-test-runner.ts of @aws-cdk/integ-runner):
 * synthesize the test app, then diff each stack's template with the committed one using
 * @aws-cdk/cloudformation-diff, asset hashes made neutral first (its `canonicalizeTemplate`), and
 * fail on any difference. integ-runner itself cannot read this project's assemblies: its latest
 * release (2.197.10) bundles a toolkit that reads cloud assembly schema 53 at most, and
 * aws-cdk-lib 2.276 writes 55 ("Cloud assembly schema version mismatch"). So this script does the
 * same with the project's own aws-cdk-lib, and scripts/test-aws.ts deploys with the project's own CLI.
 *
 * The snapshot (test/integ/integ.debug-task.ts.snapshot/) holds one template per stack, with every
 * asset hash replaced by `ASSET<n>` (numbered in order of appearance): a change of a function's code
 * alone changes no committed file, a change of a template does. Lambda bundling is skipped here for
 * the same reason (the code's hash is all it would change), which keeps both commands quick; and the
 * `salt` integ-tests-alpha stamps on each assertion (the synth's time) is made neutral too.
 * Plugins registered by the test app (the AWS Guard rules) run during the synth: an unacknowledged
 * finding fails both commands.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { basename, join } from 'node:path';
import { fullDiff, formatDifferences } from '@aws-cdk/cloudformation-diff';

const ROOT = join(__dirname, '..');
export const INTEG_APP = join(ROOT, 'test', 'integ', 'integ.debug-task.ts');
export const SNAPSHOT_DIR = `${INTEG_APP}.snapshot`;
const REGENERATE = 'npm run integ:snapshot';

type Template = Record<string, unknown>;

/** Synthesizes the test app into a fresh directory; returns its canonical templates by stack name. */
export function synthesizeIntegApp(): Record<string, Template> {
  const outdir = mkdtempSync(join(tmpdir(), 'debug-task-integ-'));
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      CDK_OUTDIR: outdir,
      // What `cdk synth` would pass: no Lambda bundling (only asset hashes would change).
      CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [] }),
      // Offline: the app makes no AWS call, and nothing may try the instance metadata service.
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) {
      delete env[name];
    }
    const run = spawnSync(process.execPath, [require.resolve('tsx/cli'), INTEG_APP], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
    });
    if (run.status !== 0) {
      throw new Error(`The integration test app failed to synthesize:\n${run.stderr || run.stdout}`);
    }
    failOnValidationFindings(outdir, run.stdout + run.stderr);
    const templates: Record<string, Template> = {};
    for (const file of readdirSync(outdir).filter((name) => name.endsWith('.template.json'))) {
      const stack = basename(file, '.template.json');
      const assets = assetIds(join(outdir, `${stack}.assets.json`));
      const template = JSON.parse(readFileSync(join(outdir, file), 'utf8')) as Template;
      templates[stack] = canonicalTemplate(withoutSalts(template), assets);
    }
    return templates;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/**
 * Run by the CDK CLI, an app leaves its validation plugins' findings to the CLI, which fails the
 * synth; run directly, it only writes them to validation-report.json. Acknowledged findings are not
 * in `violations`: any left is a failure, as `cdk synth` would report it.
 */
function failOnValidationFindings(outdir: string, output: string): void {
  const reportPath = join(outdir, 'validation-report.json');
  if (!existsSync(reportPath)) return;
  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as {
    pluginReports: { pluginName: string; violations: { ruleName: string; severity?: string }[] }[];
  };
  // Errors only, as `cdk synth` without --strict: a warning is printed, not fatal.
  const findings = report.pluginReports.flatMap((plugin) =>
    plugin.violations
      .filter((violation) => violation.severity === 'error')
      .map((violation) => `${plugin.pluginName}::${violation.ruleName}`),
  );
  if (findings.length > 0) {
    throw new Error(
      `The integration test app has unacknowledged validation findings: ${[...new Set(findings)].join(', ')}\n${output}`,
    );
  }
}

/** The asset hashes of a stack (files and Docker images), from its asset manifest. */
function assetIds(manifestPath: string): string[] {
  if (!existsSync(manifestPath)) return [];
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    files?: Record<string, unknown>;
    dockerImages?: Record<string, unknown>;
  };
  return [...Object.keys(manifest.files ?? {}), ...Object.keys(manifest.dockerImages ?? {})];
}

/** The template with each asset hash replaced by `ASSET<n>`, numbered in order of first appearance. */
export function canonicalTemplate(template: Template, assets: readonly string[]): Template {
  const pattern = assets.length === 0 ? undefined : new RegExp(assets.map(escapeRegExp).join('|'), 'g');
  const numbers = new Map<string, number>();
  const neutral = (text: string) =>
    pattern === undefined
      ? text
      : text.replace(pattern, (hash) => {
          if (!numbers.has(hash)) numbers.set(hash, numbers.size + 1);
          return `ASSET${numbers.get(hash)}`;
        });
  const walk = (value: unknown): unknown => {
    if (typeof value === 'string') return neutral(value);
    if (Array.isArray(value)) return value.map(walk);
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([key, inner]) => [neutral(key), walk(inner)]));
    }
    return value;
  };
  return walk(template) as Template;
}

/**
 * integ-tests-alpha gives each assertion's custom resource a `salt` of Date.now(), so that every
 * deploy runs it again: a different value at every synth, which says nothing about the template.
 */
export function withoutSalts(template: Template): Template {
  const resources = (template.Resources ?? {}) as Record<string, { Type?: string; Properties?: Template }>;
  for (const resource of Object.values(resources)) {
    if (resource.Type?.startsWith('Custom::DeployAssert@') && resource.Properties?.salt !== undefined) {
      resource.Properties.salt = 'SALT';
    }
  }
  return template;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function readSnapshot(dir = SNAPSHOT_DIR): Record<string, Template> {
  if (!existsSync(dir)) return {};
  return Object.fromEntries(
    readdirSync(dir)
      .filter((name) => name.endsWith('.template.json'))
      .map((name) => [basename(name, '.template.json'), JSON.parse(readFileSync(join(dir, name), 'utf8'))]),
  );
}

export function writeSnapshot(templates: Record<string, Template>, dir = SNAPSHOT_DIR): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [stack, template] of Object.entries(templates)) {
    writeFileSync(join(dir, `${stack}.template.json`), `${JSON.stringify(template, null, 1)}\n`);
  }
}

/** Every difference between the snapshot and the app, as integ-runner words it; empty when none. */
export function snapshotDifferences(
  expected: Record<string, Template>,
  actual: Record<string, Template>,
): string[] {
  const differences: string[] = [];
  for (const stack of Object.keys(expected)) {
    if (!(stack in actual)) differences.push(`${stack} exists in snapshot, but not in actual`);
  }
  for (const [stack, template] of Object.entries(actual)) {
    if (!(stack in expected)) {
      differences.push(`${stack} does not exist in snapshot, but does in actual`);
      continue;
    }
    const diff = fullDiff(expected[stack], template);
    if (!diff.isEmpty) {
      let text = '';
      const collect = new Writable({
        write(chunk: Buffer | string, _encoding, done) {
          text += chunk.toString();
          done();
        },
      });
      formatDifferences(collect, diff);
      differences.push(`${stack} - Snapshot changed!\n${text}`);
    }
  }
  return differences;
}

function main(command: string | undefined): number {
  if (command === 'snapshot') {
    const templates = synthesizeIntegApp();
    writeSnapshot(templates);
    console.log(`integ: wrote ${Object.keys(templates).length} templates to ${SNAPSHOT_DIR}`);
    return 0;
  }
  if (command === 'check') {
    const differences = snapshotDifferences(readSnapshot(), synthesizeIntegApp());
    if (differences.length === 0) {
      console.log('integ: the snapshot matches the integration test app');
      return 0;
    }
    console.error(differences.join('\n'));
    console.error(
      `integ: the integration test's templates differ from its snapshot (${basename(SNAPSHOT_DIR)}). ` +
        `If the change is intended, run \`${REGENERATE}\` and commit the snapshot.`,
    );
    return 1;
  }
  console.error('usage: tsx scripts/integ.ts check|snapshot');
  return 2;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv[2]);
  } catch (error) {
    console.error(`integ: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
