import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { DebugTaskStack, type DebugTaskStackProps } from '../../lib/infra/debug-task-stack';
import { HANDLER_METADATA_KEY, HANDLER_NAMES, type HandlerName } from '../../lib/infra/handlers';
import { PROJECT_ROOT } from '../../lib/infra/paths';

/** A digest-pinned image, for stacks that should not build one. */
export const PINNED_IMAGE = `123456789012.dkr.ecr.xx-test-1.amazonaws.com/debug-task-toolbox@sha256:${'ab'.repeat(32)}`;

export const HANDLERS: readonly HandlerName[] = HANDLER_NAMES;
/** The handlers of a session (API and state machine), each a few SDK calls: 30 s. */
export const SESSION_HANDLERS: readonly HandlerName[] = HANDLERS.filter((handler) => handler !== 'sweeper');

/**
 * A toolbox build context of our own, so the default (Docker image asset) path is tested whether or
 * not toolbox/ is complete. Synthesis only copies it: no Docker engine is involved.
 */
export function fakeToolboxDirectory(): string {
  const dir = mkdtempSync(join(tmpdir(), 'debug-task-toolbox-'));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
  return dir;
}

/** The feature flags of cdk.json, so tests synthesize what `cdk synth` does. */
function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context?: object };
  return { ...cdkJson.context };
}

/** An app like bin/app.ts's, minus Lambda bundling (esbuild per function would dominate test time). */
export function testApp(): App {
  return new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
}

export interface Synthesized {
  readonly app: App;
  readonly stack: DebugTaskStack;
  readonly template: Template;
}

/** One stack, synthesized once: call it at the top of a test file. */
export function synth(
  props: DebugTaskStackProps = { toolboxDirectory: fakeToolboxDirectory() },
): Synthesized {
  const app = testApp();
  const stack = new DebugTaskStack(app, 'DebugTask', props);
  return { app, stack, template: Template.fromStack(stack) };
}

type Resource = { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, unknown> };

export function resourcesOfType(template: Template, type: string): Record<string, Resource> {
  return template.findResources(type) as Record<string, Resource>;
}

/** The Lambda functions by the handler named in their `debug-task:handler` metadata. */
export function functionsByHandler(
  template: Template,
): Record<string, { logicalId: string; resource: Resource }> {
  const out: Record<string, { logicalId: string; resource: Resource }> = {};
  for (const [logicalId, resource] of Object.entries(resourcesOfType(template, 'AWS::Lambda::Function'))) {
    const name = resource.Metadata?.[HANDLER_METADATA_KEY];
    if (typeof name === 'string') out[name] = { logicalId, resource };
  }
  return out;
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

export function actionsOf(statement: Statement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

export function resourcesOf(statement: Statement): unknown[] {
  return Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
}

/** Every statement of the identity policies attached to the role with this logical id. */
export function statementsOfRole(template: Template, roleLogicalId: string): Statement[] {
  return Object.values(resourcesOfType(template, 'AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(`"${roleLogicalId}"`))
    .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

/** The statements a handler's role is given. */
export function statementsOfHandler(template: Template, handler: HandlerName): Statement[] {
  const fn = functionsByHandler(template)[handler];
  const role = (fn.resource.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  return statementsOfRole(template, role);
}

/** The statements that allow `action` to a handler. */
export function statementsAllowing(template: Template, handler: HandlerName, action: string): Statement[] {
  return statementsOfHandler(template, handler).filter(
    (statement) => statement.Effect === 'Allow' && actionsOf(statement).includes(action),
  );
}

/**
 * A CloudFormation value as one readable string: `{ Ref: X }` -> `<X>`, `{ Fn::GetAtt: [X, A] }` ->
 * `<X.A>`, Fn::Join concatenated. Lets tests compare ARNs without re-deriving logical ids.
 */
export function flat(value: unknown): string {
  if (typeof value === 'string') return value;
  const node = value as Record<string, unknown>;
  if (node && Array.isArray(node['Fn::Join'])) {
    const [delimiter, parts] = node['Fn::Join'] as [string, unknown[]];
    return parts.map(flat).join(delimiter);
  }
  if (node && Array.isArray(node['Fn::GetAtt'])) return `<${(node['Fn::GetAtt'] as string[]).join('.')}>`;
  if (node && node.Ref !== undefined) return `<${String(node.Ref)}>`;
  if (node && node['Fn::Sub'] !== undefined) return flat(node['Fn::Sub']);
  return JSON.stringify(value);
}

/** The state machine's definition, parsed, with each function ARN as `<LogicalId.Arn>`. */
export function stateMachineDefinition(template: Template): {
  StartAt: string;
  TimeoutSeconds?: number;
  States: Record<string, Record<string, unknown>>;
} {
  const [machine] = Object.values(resourcesOfType(template, 'AWS::StepFunctions::StateMachine'));
  return JSON.parse(flat(machine.Properties.DefinitionString));
}
