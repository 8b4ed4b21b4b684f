import { readFileSync } from 'node:fs';
import { DebugTaskError } from '../domain/errors';
import { Authorizer } from './authorizer';
import { loadCedar, parsePolicyText, policySha256 } from './policy-file';

/**
 * The deployment's policy, in the functions that decide (api, plan, doctor), or none.
 *
 * Deployed, the policy file and the Cedar engine come in a Lambda layer attached only to those
 * functions, and only when the deployment names a policy (`DEBUG_TASK_POLICY_FILE`, e.g.
 * /opt/debug-task/policy.cedar; `DEBUG_TASK_POLICY_SHA256` is what synth validated). The engine's
 * 4.3 MB of wasm are loaded on the first decision of a container, never at a module's load, and
 * never without a policy. The sandbox sets the same variable (`debug-task sandbox --policy FILE`).
 */
export const POLICY_FILE_ENV = 'DEBUG_TASK_POLICY_FILE';
export const POLICY_SHA256_ENV = 'DEBUG_TASK_POLICY_SHA256';

let cached: { file: string; authorizer: Authorizer } | undefined;

/** The configured policy's Authorizer, or undefined when the deployment has no policy file. */
export function deploymentAuthorizer(env: NodeJS.ProcessEnv = process.env): Authorizer | undefined {
  const file = env[POLICY_FILE_ENV];
  if (!file) return undefined;
  if (cached?.file === file) return cached.authorizer;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw policyUnavailable(`The deployment's policy file ${file} cannot be read.`, cause);
  }
  // Checked before anything is parsed: a file that is not the one synth validated is refused, and
  // the one it validated need not be validated again (parsePolicyText).
  const expected = env[POLICY_SHA256_ENV];
  const sha256 = policySha256(text);
  if (expected && expected !== sha256) {
    throw policyUnavailable(
      `The deployment's policy file ${file} is not the one synth validated (sha256 ${sha256}, expected ${expected}).`,
    );
  }
  let authorizer: Authorizer;
  try {
    const cedar = loadCedar();
    authorizer = new Authorizer(parsePolicyText(text, file, cedar, { validate: !expected, sha256 }), cedar);
  } catch (cause) {
    throw policyUnavailable(`The deployment's policy file is not valid: ${(cause as Error).message}`, cause);
  }
  cached = { file, authorizer };
  return authorizer;
}

/**
 * A policy that is configured but unusable denies everything (it never falls back to "no policy"),
 * and says so to the operator, not to the caller (an AWS_ERROR: the deployment is broken).
 */
function policyUnavailable(message: string, cause?: unknown): DebugTaskError {
  return new DebugTaskError('AWS_ERROR', message, {
    hint: 'Redeploy with a policy that `cdk synth` validates (README, "Who may debug what").',
    cause,
  });
}
