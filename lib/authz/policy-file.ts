import { createHash } from 'node:crypto';
import type * as CedarWasm from '@cedar-policy/cedar-wasm/nodejs';
import { SCHEMA } from './schema';

/**
 * A deployment's policy file (Cedar): parsed into one policy per statement, each named by its
 * `@id("...")` (or `line-<n>` when it has none), and validated against the schema (./schema.ts).
 * `cdk synth` runs this on the file the deployment names, so a policy that would not parse or that
 * names an attribute, action or type the schema lacks fails the synth with `file:line:col: problem`.
 */
export interface ParsedPolicy {
  /** Policy id -> its text (what the engine evaluates, and what a denial names). */
  policies: Record<string, string>;
  /** sha256 of the file, for the audit record of every decision. */
  sha256: string;
}

export class PolicyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyFileError';
  }
}

export type Cedar = typeof CedarWasm;

/** The Cedar engine (4.3 MB of wasm): required where it is used, never at a module's load. */
export function loadCedar(): Cedar {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  return require('@cedar-policy/cedar-wasm/nodejs') as Cedar;
}

/**
 * Splits a policy file into its policies by @id, and (unless `validate` is false) validates them
 * against the schema. Only a deciding function given the exact text synth validated (its sha256
 * matches) skips the validation: it is the costliest part of a cold first decision (~130 of ~450 ms
 * here, BENCHMARKS.md), and its answer for that text cannot have changed.
 */
export function parsePolicyText(
  text: string,
  file: string,
  cedar: Cedar = loadCedar(),
  /** `sha256`: the text's, when the caller has it already (the deployed function checks it first). */
  options: { validate?: boolean; sha256?: string } = {},
): ParsedPolicy {
  const at = (offset: number) => `${file}:${position(text, offset)}`;
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === 'failure') {
    const first = parts.errors[0];
    const where = first?.sourceLocations?.[0];
    const label = where?.label ? ` (${where.label})` : '';
    throw new PolicyFileError(
      `${where ? at(where.start) : file}: ${first?.message ?? 'the policy does not parse'}${label}`,
    );
  }
  if (parts.policy_templates.length > 0) {
    throw new PolicyFileError(`${file}: policy templates (?principal, ?resource) are not supported here.`);
  }
  const policies: Record<string, string> = {};
  const offsets = new Map<string, number>();
  let cursor = 0;
  for (const part of parts.policies) {
    const offset = Math.max(0, text.indexOf(part, cursor));
    cursor = offset + part.length;
    const json = cedar.policyToJson(part);
    const annotated = json.type === 'success' ? json.json.annotations?.id : undefined;
    const id = annotated ?? `line-${position(text, offset).split(':')[0]}`;
    if (policies[id] !== undefined) {
      throw new PolicyFileError(`${at(offset)}: two policies have the @id "${id}": a denial must name one.`);
    }
    policies[id] = part;
    offsets.set(id, offset);
  }
  const sha256 = options.sha256 ?? policySha256(text);
  if (options.validate === false) return { policies, sha256 };
  const validation = cedar.validate({ schema: SCHEMA, policies: { staticPolicies: policies } });
  if (validation.type === 'failure') {
    throw new PolicyFileError(`${file}: ${validation.errors[0]?.message ?? 'the policy does not validate'}`);
  }
  const problem = validation.validationErrors[0];
  if (problem) {
    const base = offsets.get(problem.policyId) ?? 0;
    const where = problem.error.sourceLocations?.[0];
    const help = problem.error.help ? ` (${problem.error.help})` : '';
    throw new PolicyFileError(
      `${at(base + (where?.start ?? 0))}: ${problem.error.message}${help} [policy "${problem.policyId}"]`,
    );
  }
  return { policies, sha256 };
}

export function policySha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** `line:col` (both from 1) of a character offset. */
function position(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `${before.length}:${before[before.length - 1].length + 1}`;
}
