import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledging cdk-nag findings next to the construct that causes them.
 *
 * cdk-nag 3 reads acknowledgements from CDK's own `Validations.of(x).acknowledge()` metadata, and
 * its IAM5 (wildcard) findings are one id per wildcard resource, with CloudFormation references
 * flattened (`<Logical.Arn>`, `<AWS::Region>`). Rendering that id from the resource we grant keeps
 * the acknowledgement and the grant in one place: rename a construct and both follow.
 */

/** One reason, many findings of one rule on one construct. */
export function acknowledge(scope: IConstruct, reason: string, ...ids: string[]): void {
  Validations.of(scope).acknowledge(...ids.map((id) => ({ id, reason })));
}

/** Acknowledges AwsSolutions-IAM5 for each of `resources` that contains a wildcard. */
export function acknowledgeWildcardResources(scope: IConstruct, resources: string[], reason: string): void {
  const stack = Stack.of(scope);
  const ids = resources
    .map((resource) => flatten(stack.resolve(resource)))
    .filter((flat) => flat.includes('*'))
    .map((flat) => `AwsSolutions-IAM5[Resource::${flat}]`);
  acknowledge(scope, reason, ...ids);
}

/** cdk-nag's rendering of a resolved CloudFormation value (its `flattenCfnReference`). */
function flatten(node: unknown): string {
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (node !== null && typeof node === 'object') {
    const value = node as Record<string, unknown>;
    if (Array.isArray(value['Fn::Join'])) {
      const [delimiter, items] = value['Fn::Join'] as [string, unknown[]];
      return items.map(flatten).join(delimiter);
    }
    if (value['Fn::Sub'] !== undefined) return flatten(value['Fn::Sub']);
    if (Array.isArray(value['Fn::GetAtt'])) {
      const [resource, attribute] = value['Fn::GetAtt'] as [unknown, unknown];
      return `<${flatten(resource)}.${flatten(attribute)}>`;
    }
    if (value.Ref !== undefined) return `<${flatten(value.Ref)}>`;
  }
  return JSON.stringify(node);
}
