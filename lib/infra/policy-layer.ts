import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Architecture, Code, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { POLICY_FILE_ENV, POLICY_SHA256_ENV } from '../authz/load';
import type { DebugFunction } from './debug-function';

/** Where the layer puts the policy (Lambda mounts layers at /opt). */
export const LAYER_POLICY_PATH = '/opt/debug-task/policy.cedar';
/** The engine's package, external to every bundle (lib/infra/debug-function.ts). */
export const CEDAR_PACKAGE = '@cedar-policy/cedar-wasm';

export interface PolicyLayerProps {
  /** The policy file's text, as synth validated it, and its sha256. */
  readonly text: string;
  readonly sha256: string;
}

/**
 * The deployment's policy and the Cedar engine (4.3 MB of wasm), as one Lambda layer given only to
 * the functions that decide (api, plan, doctor) and only when the deployment has a policy: the
 * bundles stay small, and no function loads the engine without a policy to evaluate. Node resolves the engine
 * from the layer's nodejs/node_modules (on the runtime's NODE_PATH); the policy is a plain file a
 * reviewer can read in the layer, and its sha256 is checked again at the first decision.
 */
export class PolicyLayer extends Construct {
  public readonly layer: LayerVersion;

  constructor(scope: Construct, id: string, props: PolicyLayerProps) {
    super(scope, id);
    this.layer = new LayerVersion(this, 'Resource', {
      description: `debug-task: the deployment policy (sha256 ${props.sha256}) and the Cedar engine`,
      code: Code.fromAsset(stageLayer(props.text)),
      compatibleRuntimes: [Runtime.NODEJS_22_X],
      compatibleArchitectures: [Architecture.ARM_64, Architecture.X86_64],
    });
  }

  /** Attaches the layer to a deciding function and tells it where the policy is. */
  public attachTo(fn: DebugFunction, sha256: string): void {
    fn.function.addLayers(this.layer);
    fn.function.addEnvironment(POLICY_FILE_ENV, LAYER_POLICY_PATH);
    fn.function.addEnvironment(POLICY_SHA256_ENV, sha256);
  }
}

/**
 * The layer's directory: the engine's Node.js build (only that one of its three) and the policy.
 * Named by what it holds, so repeated synths reuse one directory instead of 4 MB each.
 */
export function stageLayer(policyText: string): string {
  const pkg = dirname(dirname(require.resolve(`${CEDAR_PACKAGE}/nodejs`)));
  const version = (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string })
    .version;
  const key = createHash('sha256').update(version).update('\0').update(policyText).digest('hex').slice(0, 16);
  const root = join(tmpdir(), `debug-task-policy-layer-${key}`);
  if (existsSync(join(root, 'debug-task', 'policy.cedar'))) return root;
  const staging = mkdtempSync(`${root}.tmp-`);
  stageInto(staging, pkg, policyText);
  try {
    renameSync(staging, root);
  } catch {
    // Another synth staged the same content first.
    rmSync(staging, { recursive: true, force: true });
  }
  return root;
}

function stageInto(root: string, pkg: string, policyText: string): void {
  const target = join(root, 'nodejs', 'node_modules', CEDAR_PACKAGE);
  mkdirSync(join(target, 'nodejs'), { recursive: true });
  copyFileSync(join(pkg, 'package.json'), join(target, 'package.json'));
  for (const file of readdirSync(join(pkg, 'nodejs'))) {
    copyFileSync(join(pkg, 'nodejs', file), join(target, 'nodejs', file));
  }
  mkdirSync(join(root, 'debug-task'));
  writeFileSync(join(root, 'debug-task', 'policy.cedar'), policyText);
}
