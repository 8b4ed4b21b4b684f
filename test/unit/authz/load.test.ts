import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { POLICY_FILE_ENV, POLICY_SHA256_ENV, deploymentAuthorizer } from '../../../lib/authz/load';
import { policySha256 } from '../../../lib/authz/policy-file';
import { DebugTaskError } from '../../../lib/domain/errors';

/** The deciding functions' policy, as the layer gives it: a file and the sha256 synth validated. */

const TASK = {
  taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/prod/0123456789abcdef0123456789abcdef',
  cluster: 'prod',
  service: 'payments',
  container: 'web',
  launchType: 'EC2',
  networkMode: 'bridge',
  tags: {},
};
const CONTEXT = {
  tool: 'strace',
  durationSeconds: 60,
  maxBytes: 1_000_000,
  allowHostNetwork: false,
  allowHostPid: false,
  reason: '',
  targets: 1,
};
const VALID = `@id("all-capture")
permit (principal, action == DebugTask::Action::"capture", resource);
@id("no-strace")
forbid (principal, action == DebugTask::Action::"capture", resource) when { context.tool == "strace" };
`;
/** Parses, but names an attribute the schema does not have: synth would refuse it. */
const SCHEMA_INVALID = `@id("typo")
permit (principal, action == DebugTask::Action::"capture", resource) when { resource.clustr == "prod" };
`;

let dir: string;
let serial = 0;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'debug-task-policy-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh file per case: the function keeps the authorizer of a file for its container's life. */
function policyFile(text: string): string {
  const file = join(dir, `policy-${serial++}.cedar`);
  writeFileSync(file, text);
  return file;
}

function loadError(env: NodeJS.ProcessEnv): DebugTaskError {
  try {
    deploymentAuthorizer(env);
  } catch (error) {
    return error as DebugTaskError;
  }
  throw new Error('the policy was loaded');
}

describe('deploymentAuthorizer', () => {
  it('is undefined without a policy file: IAM decides alone', () => {
    expect(deploymentAuthorizer({})).toBeUndefined();
  });

  it('decides with the file synth validated, naming the rule', () => {
    const file = policyFile(VALID);
    const authorizer = deploymentAuthorizer({
      [POLICY_FILE_ENV]: file,
      [POLICY_SHA256_ENV]: policySha256(VALID),
    });

    const decision = authorizer!.decide('capture', 'arn:aws:iam::123456789012:user/alice', TASK, CONTEXT);

    expect(decision).toMatchObject({ allowed: false, policies: ['no-strace'] });
    expect(authorizer!.policySha256).toBe(policySha256(VALID));
  });

  it('refuses a file that is not the one synth validated, before parsing it', () => {
    const file = policyFile(VALID);

    const error = loadError({ [POLICY_FILE_ENV]: file, [POLICY_SHA256_ENV]: policySha256('something else') });

    expect(error).toBeInstanceOf(DebugTaskError);
    expect(error.code).toBe('AWS_ERROR');
    expect(error.message).toMatch(/is not the one synth validated/);
  });

  it('validates against the schema when no synth sha256 vouches for the file (the sandbox)', () => {
    const error = loadError({ [POLICY_FILE_ENV]: policyFile(SCHEMA_INVALID) });

    expect(error.code).toBe('AWS_ERROR');
    expect(error.message).toMatch(/is not valid: .*clustr/);
  });

  it('skips the schema validation only for the exact text whose sha256 synth validated', () => {
    // Such a file cannot reach a deployment (synth refuses it); loading it with its own sha256 shows
    // that the cold path does not validate again, and that it still parses.
    const file = policyFile(SCHEMA_INVALID);

    expect(
      deploymentAuthorizer({ [POLICY_FILE_ENV]: file, [POLICY_SHA256_ENV]: policySha256(SCHEMA_INVALID) }),
    ).toBeDefined();
    expect(
      loadError({
        [POLICY_FILE_ENV]: policyFile('permit (principal'),
        [POLICY_SHA256_ENV]: policySha256('permit (principal'),
      }).message,
    ).toMatch(/is not valid/);
  });

  it('says so when the file cannot be read', () => {
    const error = loadError({ [POLICY_FILE_ENV]: join(dir, 'missing.cedar') });

    expect(error.code).toBe('AWS_ERROR');
    expect(error.message).toMatch(/cannot be read/);
  });
});
