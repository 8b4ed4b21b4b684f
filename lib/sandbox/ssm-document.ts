import { AwsApiError } from './aws-json-server';

/**
 * What SSM does with a Command document (schema 2.2) between SendCommand and the shell:
 * the API validates the parameters against the document and applies defaults; the agent then
 * replaces `{{ name }}` text references in the step's inputs, exports `SSM_<name>` for
 * `interpolationType: ENV_VAR` parameters and writes `runCommand` to a script.
 *
 * Pure functions, so they are tested without a server or a shell.
 */

export interface SsmParameterDefinition {
  /** Command documents know `String` and `StringList`. */
  readonly type: string;
  readonly description?: string;
  readonly allowedPattern?: string;
  readonly allowedValues?: readonly string[];
  readonly minChars?: number;
  readonly maxChars?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly default?: string | readonly string[];
  readonly interpolationType?: string;
}

export interface SsmRunShellScriptStep {
  readonly action: string;
  readonly name: string;
  readonly inputs: {
    readonly runCommand: string | readonly string[];
    readonly timeoutSeconds?: string | number;
    readonly workingDirectory?: string;
  };
}

/** The parsed content of a Command document. */
export interface SsmDocument {
  readonly schemaVersion: string;
  readonly description?: string;
  readonly parameters?: Readonly<Record<string, SsmParameterDefinition>>;
  readonly mainSteps: readonly SsmRunShellScriptStep[];
}

/** Every parameter's value after validation and defaults, as SSM passes them on. */
export type SsmParameterValues = Record<string, string | string[]>;

/** The agent's own rules (agent/parameters, agent/plugins/pluginutil). */
const PARAMETER_NAME = /^[a-zA-Z0-9]+$/;
const DEFAULT_TIMEOUT_SECONDS = 3600;
const MIN_TIMEOUT_SECONDS = 5;
const MAX_TIMEOUT_SECONDS = 172_800;

/**
 * Refuses a document the stand-in cannot run faithfully (a programming error, raised at start):
 * schema 2.2, exactly one `aws:runShellScript` step, parameter names the agent accepts,
 * patterns that compile.
 */
export function assertSupportedDocument(doc: SsmDocument): void {
  const fail = (why: string): never => {
    throw new Error(`The SSM document cannot run in the sandbox: ${why}`);
  };
  if (doc.schemaVersion !== '2.2') fail(`schemaVersion is "${doc.schemaVersion}", expected "2.2"`);
  if (doc.mainSteps.length !== 1) fail(`it has ${doc.mainSteps.length} steps, the stand-in runs exactly one`);
  const [step] = doc.mainSteps;
  if (step.action !== 'aws:runShellScript')
    fail(`step "${step.name}" is ${step.action}, not aws:runShellScript`);
  for (const [name, def] of Object.entries(doc.parameters ?? {})) {
    if (!PARAMETER_NAME.test(name)) fail(`parameter name "${name}" is not alphanumeric`);
    if (def.type !== 'String' && def.type !== 'StringList') fail(`parameter "${name}" has type ${def.type}`);
    if (def.allowedPattern !== undefined) {
      try {
        new RegExp(def.allowedPattern);
      } catch (error) {
        fail(`allowedPattern of "${name}" does not compile: ${(error as Error).message}`);
      }
    }
  }
}

/**
 * SendCommand's parameter check: no unknown names, every value valid for its definition,
 * defaults for the rest, and a value for every parameter without a default.
 * Throws `InvalidParameters`, as the API does; messages name the parameter, never its value
 * (the API model marks parameters sensitive).
 */
export function resolveParameters(doc: SsmDocument, given: unknown): SsmParameterValues {
  const definitions = doc.parameters ?? {};
  if (given !== undefined && given !== null && (typeof given !== 'object' || Array.isArray(given))) {
    throw new AwsApiError(
      'InvalidParameters',
      'Parameters must be a map of parameter names to lists of values.',
    );
  }
  const supplied = (given ?? {}) as Record<string, unknown>;
  const unknown = Object.keys(supplied).filter((name) => !Object.hasOwn(definitions, name));
  if (unknown.length) {
    throw new AwsApiError(
      'InvalidParameters',
      `Parameters ${JSON.stringify(unknown)} are not defined in the document.`,
    );
  }

  const values: SsmParameterValues = {};
  for (const [name, def] of Object.entries(definitions)) {
    const raw = supplied[name];
    if (raw === undefined || raw === null) {
      if (def.default === undefined) {
        throw new AwsApiError(
          'InvalidParameters',
          `Parameter "${name}" is required and has no default value.`,
        );
      }
      values[name] = typeof def.default === 'string' ? def.default : [...def.default];
      continue;
    }
    if (!Array.isArray(raw) || !raw.every((v) => typeof v === 'string')) {
      throw new AwsApiError('InvalidParameters', `Parameter "${name}" must be a list of strings.`);
    }
    values[name] = def.type === 'StringList' ? checkList(name, def, raw) : checkString(name, def, raw);
  }
  return values;
}

function checkString(name: string, def: SsmParameterDefinition, raw: string[]): string {
  if (raw.length !== 1) {
    throw new AwsApiError(
      'InvalidParameters',
      `Parameter "${name}" is a String and takes exactly one value.`,
    );
  }
  checkValue(name, def, raw[0]);
  return raw[0];
}

function checkList(name: string, def: SsmParameterDefinition, raw: string[]): string[] {
  if (
    (def.minItems !== undefined && raw.length < def.minItems) ||
    (def.maxItems !== undefined && raw.length > def.maxItems)
  ) {
    throw new AwsApiError(
      'InvalidParameters',
      `Parameter "${name}" has ${raw.length} items, outside its bounds.`,
    );
  }
  for (const value of raw) checkValue(name, def, value);
  return [...raw];
}

function checkValue(name: string, def: SsmParameterDefinition, value: string): void {
  const fail = (constraint: string): never => {
    throw new AwsApiError(
      'InvalidParameters',
      `Parameter "${name}" failed to satisfy constraint: ${constraint}`,
    );
  };
  if (def.maxChars !== undefined && value.length > def.maxChars) fail(`maxChars ${def.maxChars}`);
  if (def.minChars !== undefined && value.length < def.minChars) fail(`minChars ${def.minChars}`);
  if (def.allowedValues !== undefined && !def.allowedValues.includes(value)) {
    fail(`allowedValues ${JSON.stringify(def.allowedValues)}`);
  }
  // Searched like the agent's Go `regexp.MatchString` (a match anywhere), the more lenient of
  // the two checks SSM makes: a value that passes here is one the real service could let through.
  if (def.allowedPattern !== undefined && !new RegExp(def.allowedPattern).test(value)) {
    fail(`allowedPattern ${def.allowedPattern}`);
  }
}

/**
 * The agent's `ReplaceParameters`: a string that is exactly `{{ name }}` becomes the value itself
 * (a list stays a list); elsewhere each `{{ name }}` becomes the value as text (a list as JSON).
 * One pass with all names at once, so a value that itself contains `{{ x }}` is left alone (the
 * agent replaces parameter by parameter in Go's random map order, so that case is not stable).
 */
export function substituteParameters(input: unknown, values: SsmParameterValues): unknown {
  const names = Object.keys(values).filter((name) => PARAMETER_NAME.test(name));
  if (names.length === 0) return input;
  const whole = new RegExp(`^\\{\\{\\s*(${names.join('|')})\\s*\\}\\}$`);
  const anywhere = new RegExp(`\\{\\{\\s*(${names.join('|')})\\s*\\}\\}`, 'g');
  const visit = (node: unknown): unknown => {
    if (typeof node === 'string') {
      const exact = whole.exec(node);
      if (exact) return values[exact[1]];
      return node.replace(anywhere, (_, name: string) => asText(values[name]));
    }
    if (Array.isArray(node)) return node.map(visit);
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, visit(value)]));
    }
    return node;
  };
  return visit(input);
}

function asText(value: string | string[]): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** What the agent runs for the document's one `aws:runShellScript` step. */
export interface PreparedScript {
  readonly stepName: string;
  /** `runCommand` lines joined with newlines, plus the final newline the agent writes. */
  readonly script: string;
  readonly timeoutSeconds: number;
  readonly workingDirectory?: string;
  /** `SSM_<name>` for every ENV_VAR parameter. */
  readonly env: Record<string, string>;
}

/**
 * `paramMode` emulates the agent's version: `env` (3.3.2746.0 and later) substitutes the text
 * references and exports `SSM_<name>` for ENV_VAR parameters; `text` (older agents, which ignore
 * `interpolationType`) only substitutes the text references.
 */
export function prepareRunShellScript(
  doc: SsmDocument,
  values: SsmParameterValues,
  paramMode: 'env' | 'text' = 'env',
): PreparedScript {
  const [step] = doc.mainSteps;
  const inputs = substituteParameters(step.inputs, values) as Record<string, unknown>;
  const env: Record<string, string> = {};
  for (const [name, def] of Object.entries(paramMode === 'env' ? (doc.parameters ?? {}) : {})) {
    // StringList values: the docs describe ENV_VAR for strings only; comma-joined here.
    if (def.interpolationType === 'ENV_VAR') env[`SSM_${name}`] = [values[name]].flat().join(',');
  }
  const workingDirectory =
    typeof inputs.workingDirectory === 'string' && inputs.workingDirectory !== ''
      ? inputs.workingDirectory
      : undefined;
  return {
    stepName: step.name,
    script: flattenCommands(inputs.runCommand).join('\n') + '\n',
    timeoutSeconds: executionTimeout(inputs.timeoutSeconds),
    ...(workingDirectory && { workingDirectory }),
    env,
  };
}

/** The agent's `ParseRunCommand`: a string, or nested lists of strings, flattened in order. */
function flattenCommands(input: unknown): string[] {
  if (typeof input === 'string') return [input];
  if (Array.isArray(input)) return input.flatMap(flattenCommands);
  return [];
}

/**
 * The agent's `ValidateExecutionTimeout`: an integer (a float is truncated), and anything
 * outside 5..172800 seconds, or unreadable, silently becomes the default 3600.
 */
export function executionTimeout(input: unknown): number {
  let seconds = Number.NaN;
  if (typeof input === 'number') seconds = Math.trunc(input);
  // Go's Atoi, then ParseFloat: plain decimal numbers only (no spaces, no hex).
  else if (typeof input === 'string' && /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(input)) {
    seconds = Math.trunc(Number(input));
  }
  if (!Number.isFinite(seconds) || seconds < MIN_TIMEOUT_SECONDS || seconds > MAX_TIMEOUT_SECONDS) {
    return DEFAULT_TIMEOUT_SECONDS;
  }
  return seconds;
}
