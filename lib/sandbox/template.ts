/**
 * The sandbox runs what the stack deploys: the state machine definition and the SSM command
 * document are taken from the synthesized CloudFormation template, not rebuilt by hand, so the
 * demo and the e2e tests exercise the same definition that goes to AWS.
 *
 * The template holds CloudFormation tokens (Fn::Join, Fn::GetAtt, Ref, pseudo parameters). They are
 * resolved here with sandbox values: each Lambda function becomes a stable fake ARN named after its
 * `debug-task:handler` metadata, so the Step Functions stand-in can bind it to the handler function.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DebugTaskError } from '../domain/errors';
import { isPlainObject } from '../domain/plain-object';
import type { DebugTaskStackProps } from '../infra/debug-task-stack';
import type { SsmDocument } from './ssm-document';

/**
 * The handler names the stack tags its functions with (`Metadata['debug-task:handler']`). Every one
 * gets a fake ARN; only the state machine's tasks and `api` are bound to local code (the scheduled
 * `sweeper` has no stand-in: the sandbox runs no EventBridge).
 */
import { HANDLER_METADATA_KEY } from '../infra/handlers';

export { HANDLER_METADATA_KEY, HANDLER_NAMES, type HandlerName } from '../infra/handlers';
export const SANDBOX_ACCOUNT_ID = '000000000000';
export const DEFAULT_SANDBOX_REGION = 'us-east-1';
export const DEFAULT_DOCUMENT_NAME = 'debug-task-runner';
const STACK_ID = 'DebugTask';

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}

/** The parts of a CloudFormation template the sandbox reads. */
export interface CfnTemplate {
  Resources?: Record<string, CfnResource>;
  [section: string]: unknown;
}

export interface SandboxValues {
  /** The region put into fake ARNs and `AWS::Region`; default us-east-1. */
  region?: string;
  /**
   * Values for other tokens the definition may hold: `LogicalId` for a `Ref`, `LogicalId.Attr` for
   * an `Fn::GetAtt` (e.g. a bucket name the sandbox created). Anything else unresolved is an error.
   */
  values?: Record<string, string>;
}

/**
 * Synthesizes the real stack in-process and returns its template.
 *
 * aws-cdk-lib is required lazily: it takes seconds to load and most CLI commands never need it.
 * Bundling is switched off (`aws:cdk:bundling-stacks: []`): the sandbox runs the handlers
 * in-process, so there is no reason to run esbuild.
 */
export function synthesizeTemplate(props: DebugTaskStackProps = {}): CfnTemplate {
  /* eslint-disable @typescript-eslint/no-require-imports -- loaded on first use, see above */
  const { App } = require('aws-cdk-lib') as typeof import('aws-cdk-lib');
  const { DebugTaskStack } =
    require('../infra/debug-task-stack') as typeof import('../infra/debug-task-stack');
  /* eslint-enable @typescript-eslint/no-require-imports */

  // Our own scratch outdir, removed afterwards (the App's default temp dir is never cleaned up).
  const outdir = mkdtempSync(join(tmpdir(), 'debug-task-synth-'));
  try {
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new DebugTaskStack(app, STACK_ID, props);
    const assembly = app.synth();
    return assembly.getStackArtifact(stack.artifactId).template as CfnTemplate;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** The fake, stable ARN a handler's function gets in the sandbox. */
export function sandboxFunctionArn(handler: string, region = DEFAULT_SANDBOX_REGION): string {
  return `arn:aws:lambda:${region}:${SANDBOX_ACCOUNT_ID}:function:${sandboxFunctionName(handler)}`;
}

export function sandboxFunctionName(handler: string): string {
  return `debug-task-${handler}`;
}

/**
 * The state machine's definition with every token resolved, and the fake ARN of each handler's
 * function (all functions tagged with a handler name, including `api`, which no state invokes).
 */
export function stateMachineDefinition(
  template: CfnTemplate,
  sandbox: SandboxValues = {},
): { definition: Record<string, unknown>; functionArns: Record<string, string> } {
  const [logicalId, machine] = onlyResource(template, 'AWS::StepFunctions::StateMachine');
  const resolver = new TokenResolver(template, sandbox);
  const props = machine.Properties ?? {};
  const where = `${logicalId}.DefinitionString`;

  let text: string;
  if (props.DefinitionString !== undefined) {
    text = resolver.resolveString(props.DefinitionString, where);
  } else if (props.Definition !== undefined) {
    text = JSON.stringify(resolver.resolveDeep(props.Definition, `${logicalId}.Definition`));
  } else {
    throw templateError(`The state machine ${logicalId} has neither DefinitionString nor Definition.`);
  }
  text = substitute(text, props.DefinitionSubstitutions, resolver, `${logicalId}.DefinitionSubstitutions`);

  let definition: unknown;
  try {
    definition = JSON.parse(text);
  } catch (error) {
    throw templateError(`The resolved definition of ${logicalId} is not JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(definition))
    throw templateError(`The resolved definition of ${logicalId} is not a JSON object.`);
  return { definition, functionArns: resolver.functionArns() };
}

/** The SSM command document the launch step sends, with the name the sandbox registers it under. */
export function commandDocument(
  template: CfnTemplate,
  sandbox: SandboxValues = {},
): { name: string; content: SsmDocument } {
  const [logicalId, document] = onlyResource(template, 'AWS::SSM::Document');
  const resolver = new TokenResolver(template, sandbox);
  const props = document.Properties ?? {};

  let content = props.Content;
  if (typeof content === 'string') {
    // CloudFormation also accepts the content as a JSON (or YAML) string; we only ever emit JSON.
    try {
      content = JSON.parse(content);
    } catch {
      throw templateError(`${logicalId}.Content is a string that is not JSON (YAML is not supported here).`);
    }
  }
  content = resolver.resolveDeep(content, `${logicalId}.Content`);
  if (
    !isPlainObject(content) ||
    typeof content.schemaVersion !== 'string' ||
    !Array.isArray(content.mainSteps)
  ) {
    throw templateError(`${logicalId}.Content is not a command document (schemaVersion + mainSteps).`);
  }
  const name =
    props.Name === undefined
      ? DEFAULT_DOCUMENT_NAME
      : resolver.resolveString(props.Name, `${logicalId}.Name`);
  return { name, content: content as unknown as SsmDocument };
}

/**
 * The HTTP API's route keys (`POST /sessions/{id}/reupload`, ...), as the stack declares them: the
 * sandbox's API adapter serves exactly these, so a route missing from the stack fails locally too.
 */
export function apiRouteKeys(template: CfnTemplate): string[] {
  const keys = Object.entries(template.Resources ?? {})
    .filter(([, r]) => r.Type === 'AWS::ApiGatewayV2::Route')
    .map(([id, r]) => {
      const key = r.Properties?.RouteKey;
      if (typeof key !== 'string' || !/^(GET|POST|PUT|DELETE|PATCH) \/[A-Za-z0-9/{}_-]*$/.test(key)) {
        throw templateError(
          `${id}.RouteKey is not a plain "METHOD /path" route key: ${JSON.stringify(key)}.`,
        );
      }
      return key;
    });
  if (keys.length === 0) throw templateError('The template declares no AWS::ApiGatewayV2::Route.');
  return keys.sort();
}

/**
 * Which function answers each route of the HTTP API: route key -> the `debug-task:handler` of the
 * function its integration invokes (the api function for most, the plan function for preview and
 * doctor).
 */
export function apiRouteHandlers(template: CfnTemplate): Record<string, string> {
  const resources = template.Resources ?? {};
  const out: Record<string, string> = {};
  for (const [id, route] of Object.entries(resources)) {
    if (route.Type !== 'AWS::ApiGatewayV2::Route') continue;
    const integrationId = refIn(route.Properties?.Target);
    const uri = integrationId ? resources[integrationId]?.Properties?.IntegrationUri : undefined;
    const fnId = (uri as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt']?.[0];
    const handler = fnId ? resources[fnId]?.Metadata?.[HANDLER_METADATA_KEY] : undefined;
    if (typeof handler !== 'string') {
      throw templateError(`${id}: no function with ${HANDLER_METADATA_KEY} metadata behind its integration.`);
    }
    out[String(route.Properties?.RouteKey)] = handler;
  }
  return out;
}

/** A trigger's EventBridge rule as the template declares it (lib/infra/triggers.ts). */
export interface TemplateEventRule {
  logicalId: string;
  /** What the sandbox calls the rule: `arn:aws:events:<region>:<account>:rule/<logical id>`. */
  ruleArn: string;
  /** The event pattern, every token resolved with the sandbox's values. */
  pattern: unknown;
  /** Each target: the handler of the function it invokes, and its input transformer's template. */
  targets: { handler: string; inputTemplate?: string; input?: string }[];
}

/**
 * The rules of the template that have an event pattern (the triggers': the sweeper's rule is a
 * schedule), with the function each targets: what the sandbox's EventBridge stand-in delivers to.
 */
export function eventRules(template: CfnTemplate, sandbox: SandboxValues = {}): TemplateEventRule[] {
  const resolver = new TokenResolver(template, sandbox);
  const resources = template.Resources ?? {};
  const region = sandbox.region ?? DEFAULT_SANDBOX_REGION;
  return Object.entries(resources)
    .filter(([, r]) => r.Type === 'AWS::Events::Rule' && r.Properties?.EventPattern !== undefined)
    .map(([logicalId, rule]) => {
      const targets = ((rule.Properties?.Targets as Record<string, unknown>[] | undefined) ?? []).map(
        (target, i) => {
          const fnId = (target.Arn as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt']?.[0];
          const handler = fnId ? resources[fnId]?.Metadata?.[HANDLER_METADATA_KEY] : undefined;
          if (typeof handler !== 'string') {
            throw templateError(
              `${logicalId}.Targets[${i}]: not a function with ${HANDLER_METADATA_KEY} metadata.`,
            );
          }
          const transformer = target.InputTransformer as { InputTemplate?: unknown } | undefined;
          return {
            handler,
            ...(typeof transformer?.InputTemplate === 'string' && {
              inputTemplate: transformer.InputTemplate,
            }),
            ...(typeof target.Input === 'string' && { input: target.Input }),
          };
        },
      );
      return {
        logicalId,
        ruleArn: `arn:aws:events:${region}:${SANDBOX_ACCOUNT_ID}:rule/${logicalId}`,
        pattern: resolver.resolveDeep(rule.Properties?.EventPattern, `${logicalId}.EventPattern`),
        targets,
      };
    });
}

/** The environment variables the template gives the function of `handler`. */
export function functionEnvironment(template: CfnTemplate, handler: string): Record<string, unknown> {
  const fn = Object.values(template.Resources ?? {}).find(
    (r) => r.Type === 'AWS::Lambda::Function' && r.Metadata?.[HANDLER_METADATA_KEY] === handler,
  );
  const env = fn?.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined;
  return env?.Variables ?? {};
}

/** The logical id a `Ref` names, anywhere in a value (e.g. inside `Fn::Join`). */
function refIn(value: unknown): string | undefined {
  if (Array.isArray(value)) return value.map(refIn).find((v) => v !== undefined);
  if (!isPlainObject(value)) return undefined;
  if (typeof value.Ref === 'string') return value.Ref;
  return Object.values(value)
    .map(refIn)
    .find((v) => v !== undefined);
}

/** Resolves the intrinsic functions a CDK template uses in a state machine definition. */
class TokenResolver {
  private readonly region: string;
  private readonly resources: Record<string, CfnResource>;
  private readonly values: Record<string, string>;
  private readonly handlers = new Map<string, string>(); // logical id -> handler name

  constructor(template: CfnTemplate, sandbox: SandboxValues) {
    this.region = sandbox.region ?? DEFAULT_SANDBOX_REGION;
    this.resources = template.Resources ?? {};
    this.values = sandbox.values ?? {};
    const seen = new Map<string, string>();
    for (const [id, resource] of Object.entries(this.resources)) {
      if (resource.Type !== 'AWS::Lambda::Function') continue;
      const handler = resource.Metadata?.[HANDLER_METADATA_KEY];
      if (handler === undefined) continue; // e.g. CDK's own custom-resource providers
      if (typeof handler !== 'string' || !/^[a-z][a-z0-9-]*$/.test(handler)) {
        throw templateError(
          `${id}: metadata ${HANDLER_METADATA_KEY} must be a lower-case name, got ${JSON.stringify(handler)}.`,
        );
      }
      if (seen.has(handler)) {
        throw templateError(
          `Two functions carry ${HANDLER_METADATA_KEY}=${handler}: ${seen.get(handler)} and ${id}.`,
        );
      }
      seen.set(handler, id);
      this.handlers.set(id, handler);
    }
  }

  functionArns(): Record<string, string> {
    return Object.fromEntries(
      [...this.handlers.values()].map((h) => [h, sandboxFunctionArn(h, this.region)]),
    );
  }

  /** A token (or a plain string) that must come out as a string. */
  resolveString(value: unknown, where: string): string {
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    if (!isPlainObject(value)) throw templateError(`Cannot resolve ${JSON.stringify(value)} at ${where}.`);
    const keys = Object.keys(value);
    if (keys.length !== 1)
      throw templateError(`Expected one intrinsic function at ${where}, got keys ${keys.join(', ')}.`);
    const [fn] = keys;
    const arg = value[fn];
    switch (fn) {
      case 'Ref':
        return this.ref(arg, where);
      case 'Fn::GetAtt':
        return this.getAtt(arg, where);
      case 'Fn::Join':
        return this.join(arg, where);
      case 'Fn::Sub':
        return this.sub(arg, where);
      default:
        throw templateError(`Unsupported intrinsic function ${fn} at ${where}.`);
    }
  }

  /** Any JSON value, with every token inside it resolved. */
  resolveDeep(value: unknown, where: string): unknown {
    if (Array.isArray(value)) return value.map((v, i) => this.resolveDeep(v, `${where}[${i}]`));
    if (!isPlainObject(value)) return value;
    const keys = Object.keys(value);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::')))
      return this.resolveString(value, where);
    return Object.fromEntries(keys.map((k) => [k, this.resolveDeep(value[k], `${where}.${k}`)]));
  }

  private ref(arg: unknown, where: string): string {
    if (typeof arg !== 'string') throw templateError(`Ref needs a name at ${where}.`);
    switch (arg) {
      case 'AWS::Partition':
        return 'aws';
      case 'AWS::Region':
        return this.region;
      case 'AWS::AccountId':
        return SANDBOX_ACCOUNT_ID;
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return STACK_ID;
      case 'AWS::NoValue':
        throw templateError(`Ref AWS::NoValue cannot stand for a string at ${where}.`);
    }
    if (arg in this.values) return this.values[arg];
    const handler = this.handlers.get(arg);
    if (handler) return sandboxFunctionName(handler); // Ref of a function is its name
    throw templateError(this.unresolvable(`Ref ${arg}`, arg, arg, where));
  }

  private getAtt(arg: unknown, where: string): string {
    // Both forms: ["Id", "Attr"] and the short "Id.Attr".
    const [id, attribute] = typeof arg === 'string' ? splitOnce(arg, '.') : Array.isArray(arg) ? arg : [];
    if (typeof id !== 'string' || typeof attribute !== 'string') {
      throw templateError(`Fn::GetAtt needs [LogicalId, Attribute] at ${where}, got ${JSON.stringify(arg)}.`);
    }
    const key = `${id}.${attribute}`;
    if (key in this.values) return this.values[key];
    const handler = this.handlers.get(id);
    if (handler && attribute === 'Arn') return sandboxFunctionArn(handler, this.region);
    throw templateError(this.unresolvable(`Fn::GetAtt ${key}`, key, id, where));
  }

  private join(arg: unknown, where: string): string {
    if (!Array.isArray(arg) || arg.length !== 2 || typeof arg[0] !== 'string' || !Array.isArray(arg[1])) {
      throw templateError(`Fn::Join needs [separator, [values]] at ${where}.`);
    }
    const [separator, parts] = arg as [string, unknown[]];
    return parts.map((part, i) => this.resolveString(part, `${where}/Fn::Join[${i}]`)).join(separator);
  }

  private sub(arg: unknown, where: string): string {
    const [text, variables] = typeof arg === 'string' ? [arg, {}] : Array.isArray(arg) ? arg : [];
    if (typeof text !== 'string' || !isPlainObject(variables)) {
      throw templateError(`Fn::Sub needs a string or [string, {variables}] at ${where}.`);
    }
    return text.replace(/\$\{(!?)([^}]+)\}/g, (_match, literal: string, name: string) => {
      if (literal) return `\${${name}}`; // ${!Literal} stands for the text ${Literal}
      if (name in variables) return this.resolveString(variables[name], `${where}/Fn::Sub.${name}`);
      return name.includes('.') ? this.getAtt(name, where) : this.ref(name, where);
    });
  }

  /** Why a Ref/GetAtt could not be resolved, and how a caller can supply its value. */
  private unresolvable(token: string, key: string, id: string, where: string): string {
    const resource = this.resources[id];
    const what = !resource
      ? `there is no resource ${id}`
      : resource.Type === 'AWS::Lambda::Function'
        ? `${id} is a function without ${HANDLER_METADATA_KEY} metadata`
        : `${id} is a ${resource.Type}, which the sandbox does not stand in for`;
    return `Cannot resolve ${token} at ${where}: ${what}. If the sandbox has a value for it, pass it as SandboxValues.values["${key}"].`;
  }
}

/** DefinitionSubstitutions: `${Key}` placeholders in the definition, each value possibly a token. */
function substitute(text: string, substitutions: unknown, resolver: TokenResolver, where: string): string {
  if (substitutions === undefined) return text;
  if (!isPlainObject(substitutions)) throw templateError(`${where} must be an object.`);
  const values = Object.fromEntries(
    Object.entries(substitutions).map(([k, v]) => [k, resolver.resolveString(v, `${where}.${k}`)]),
  );
  return text.replace(/\$\{([^}]+)\}/g, (match, key: string) => (key in values ? values[key] : match));
}

function onlyResource(template: CfnTemplate, type: string): [string, CfnResource] {
  const found = Object.entries(template.Resources ?? {}).filter(([, r]) => r.Type === type);
  if (found.length !== 1) {
    throw templateError(`Expected exactly one ${type} in the template, found ${found.length}.`);
  }
  return found[0];
}

function splitOnce(text: string, separator: string): [string, string] | [] {
  const at = text.indexOf(separator);
  return at < 0 ? [] : [text.slice(0, at), text.slice(at + 1)];
}

function templateError(message: string): DebugTaskError {
  return new DebugTaskError('SANDBOX_UNAVAILABLE', message, {
    hint: 'The synthesized template does not have the shape the sandbox expects: a bug in lib/infra or lib/sandbox/template.ts.',
  });
}
