import { execFileSync } from 'node:child_process';
import { AwsSolutionsChecks } from 'cdk-nag';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HandlerName } from '../../lib/infra/handlers';
import { PROJECT_ROOT } from '../../lib/infra/paths';
import { LAYER_POLICY_PATH, stageLayer } from '../../lib/infra/policy-layer';
import {
  actionsOf,
  fakeToolboxDirectory,
  flat,
  functionsByHandler,
  resourcesOfType,
  statementsAllowing,
  synth,
} from './helpers';

/**
 * The deployment policy at synth: validated (a bad file fails the synth naming file:line:col), and
 * shipped with the Cedar engine as a layer given only to the functions that decide (api, plan, doctor).
 */
const EXAMPLE = join(PROJECT_ROOT, 'examples', 'policy.cedar');

describe('a deployment with a policy file', () => {
  const { stack, template } = synth({ toolboxDirectory: fakeToolboxDirectory(), policyFile: EXAMPLE });
  const functions = functionsByHandler(template);

  it('gives the policy layer and its path and sha256 to api, plan and doctor, and to no other function', () => {
    const layers = Object.keys(resourcesOfType(template, 'AWS::Lambda::LayerVersion'));
    expect(layers).toHaveLength(1);
    for (const [name, fn] of Object.entries(functions)) {
      const props = fn.resource.Properties as {
        Layers?: unknown[];
        Environment?: { Variables?: Record<string, string> };
      };
      const deciding = name === 'api' || name === 'plan' || name === 'doctor';
      expect([name, (props.Layers ?? []).map(flat)]).toEqual([name, deciding ? [`<${layers[0]}>`] : []]);
      const env = props.Environment?.Variables ?? {};
      expect([name, env.DEBUG_TASK_POLICY_FILE]).toEqual([name, deciding ? LAYER_POLICY_PATH : undefined]);
      if (deciding) expect(env.DEBUG_TASK_POLICY_SHA256).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('lets plan and the doctor, and no other function, read task definitions (a capture is decided on the network mode)', () => {
    const readers = (Object.keys(functions) as HandlerName[]).filter(
      (handler) => statementsAllowing(template, handler, 'ecs:DescribeTaskDefinition').length > 0,
    );

    expect(readers.sort()).toEqual(['doctor', 'plan']);
    for (const handler of readers) {
      // On "*" (no resource-level permission), with no condition; CDK merges it with the other
      // read on "*" (ssm:DescribeInstanceInformation).
      const statements = statementsAllowing(template, handler, 'ecs:DescribeTaskDefinition');
      expect(statements).toHaveLength(1);
      expect([statements[0].Resource, statements[0].Condition]).toEqual(['*', undefined]);
      expect(actionsOf(statements[0]).sort()).toEqual([
        'ecs:DescribeTaskDefinition',
        'ssm:DescribeInstanceInformation',
      ]);
    }
  });

  it('reports no unacknowledged cdk-nag finding (the task-definition read on "*" says why)', () => {
    const report = new AwsSolutionsChecks().validateScope(stack);

    expect(report.violations.map((violation) => `${violation.severity} ${violation.ruleName}`)).toEqual([]);
  });

  it('runs the same runtime and architectures as the functions', () => {
    const [layer] = Object.values(resourcesOfType(template, 'AWS::Lambda::LayerVersion'));
    expect(layer.Properties).toMatchObject({ CompatibleRuntimes: ['nodejs22.x'] });
    expect(layer.Properties.CompatibleArchitectures).toContain('arm64');
  });
});

describe('a deployment without a policy file', () => {
  const { template } = synth();

  it('has no policy layer and no function looks for a policy (IAM and owner isolation decide)', () => {
    expect(Object.keys(resourcesOfType(template, 'AWS::Lambda::LayerVersion'))).toHaveLength(0);
    expect(JSON.stringify(template.toJSON())).not.toContain('DEBUG_TASK_POLICY_FILE');
  });

  it('lets no function read task definitions: nothing decides on a network mode', () => {
    expect(JSON.stringify(template.toJSON())).not.toContain('ecs:DescribeTaskDefinition');
  });
});

describe('a policy file that is not valid', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'debug-task-policy-synth-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    [
      'does not parse',
      'permit (principal, action, resource)\nwhen { resource.cluster == };',
      /bad\.cedar:2:\d+: /,
    ],
    [
      'names an attribute the schema lacks',
      'permit (principal, action, resource)\nwhen { resource.owner == "x" };',
      /bad\.cedar:2:\d+: .*owner/,
    ],
    [
      'names an action there is not',
      'permit (principal, action == DebugTask::Action::"exec", resource);',
      /bad\.cedar:1:\d+: .*exec/,
    ],
  ])('fails the synth when it %s, naming file:line:col and the problem', (_why, text, message) => {
    const file = join(dir, 'bad.cedar');
    writeFileSync(file, text);

    expect(() => synth({ toolboxDirectory: fakeToolboxDirectory(), policyFile: file })).toThrow(message);
  });

  it('fails the synth naming a file that is not there', () => {
    expect(() =>
      synth({ toolboxDirectory: fakeToolboxDirectory(), policyFile: join(dir, 'nope.cedar') }),
    ).toThrow(/policyFile: cannot read .*nope\.cedar/);
    expect(readFileSync(EXAMPLE, 'utf8')).toContain('@id("no-strace-in-prod")');
  });
});

describe('the policy layer as Lambda mounts it (/opt)', () => {
  it('resolves the engine from nodejs/node_modules on NODE_PATH, outside any project, and decides with the policy it carries', () => {
    const layer = stageLayer(readFileSync(EXAMPLE, 'utf8'));
    const script = `
      const cedar = require('@cedar-policy/cedar-wasm/nodejs');
      const text = require('node:fs').readFileSync(process.env.POLICY, 'utf8');
      const parts = cedar.policySetTextToParts(text);
      process.stdout.write(JSON.stringify({ type: parts.type, policies: parts.policies.length }));
    `;
    // A working directory with no node_modules above it, as /var/task is.
    const cwd = mkdtempSync(join(tmpdir(), 'debug-task-var-task-'));
    try {
      const out = execFileSync(process.execPath, ['-e', script], {
        cwd,
        env: {
          PATH: process.env.PATH,
          NODE_PATH: join(layer, 'nodejs', 'node_modules'),
          POLICY: join(layer, 'debug-task', 'policy.cedar'),
        },
        encoding: 'utf8',
      });
      expect(JSON.parse(out)).toEqual({ type: 'success', policies: 3 });
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
