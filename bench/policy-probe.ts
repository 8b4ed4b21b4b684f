/**
 * One fresh process of the `policy` suite (bench/suites/policy.ts): what the first decision of a
 * deciding function costs (loading the engine and the policy as a deployed function does, then one
 * decision) and what a later one costs. Prints one JSON line. Run as
 * `node --import tsx bench/policy-probe.ts FILE N deployed|validated`: `deployed` gives the sha256
 * synth validated (no validation again), `validated` gives none (as the sandbox: validated on load).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { POLICY_FILE_ENV, POLICY_SHA256_ENV, deploymentAuthorizer } from '../lib/authz/load';
import { policySha256 } from '../lib/authz/policy-file';

const [file, rounds, mode] = [process.argv[2], Number(process.argv[3] ?? 1000), process.argv[4]];
const caller = 'arn:aws:sts::123456789012:assumed-role/oncall/alice';
const task = {
  taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/prod/0123456789abcdef0123456789abcdef',
  cluster: 'prod',
  service: 'web',
  container: 'app',
  launchType: 'EC2',
  networkMode: 'awsvpc',
  tags: { team: 'payments' },
};
const context = {
  tool: 'tcpdump',
  durationSeconds: 60,
  maxBytes: 100_000_000,
  allowHostNetwork: false,
  allowHostPid: false,
  reason: 'bench',
  targets: 1,
};

const env = {
  [POLICY_FILE_ENV]: file,
  ...(mode === 'deployed' && { [POLICY_SHA256_ENV]: policySha256(readFileSync(file, 'utf8')) }),
};
const t0 = performance.now();
const authorizer = deploymentAuthorizer(env)!;
const t1 = performance.now();
const first = authorizer.decide('capture', caller, task, context);
const t2 = performance.now();
for (let i = 0; i < rounds; i++) authorizer.decide('capture', caller, task, context);
const t3 = performance.now();
if (!first.allowed) throw new Error(`the bench's request should be allowed: ${first.rule}`);
console.log(
  JSON.stringify({
    loadMs: t1 - t0,
    firstDecisionMs: t2 - t1,
    laterDecisionMs: (t3 - t2) / rounds,
  }),
);
