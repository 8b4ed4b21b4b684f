import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { PINNED_IMAGE, synth } from './helpers';

/**
 * cdk-nag 3 is a CDK validation plugin, not an Aspect: its findings never become annotations
 * (`Annotations.fromStack(...).findError(...)` would always be empty). The pack is run directly on the
 * stack instead; it skips what `Validations.of(x).acknowledge()` recorded on the resource or above.
 */
const { app, stack } = synth();

/** The same pack, blind to acknowledgements: what the stack would report without them. */
class UnacknowledgedChecks extends AwsSolutionsChecks {}
Object.defineProperty(UnacknowledgedChecks.prototype, 'isAcknowledged', { value: () => false });

interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

function acknowledgements(root: IConstruct): Acknowledgement[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

describe('cdk-nag AwsSolutions', () => {
  it('reports no unacknowledged error or warning', () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    const findings = report.violations.map(
      (violation) =>
        `${violation.severity} ${violation.ruleName} at ${violation.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );

    expect(findings).toEqual([]);
  });

  it('reports no unacknowledged finding with allowedClusters either (fewer wildcards, other grants)', () => {
    const { stack: scoped } = synth({ toolboxImage: PINNED_IMAGE, allowedClusters: ['prod', 'staging'] });
    const report = new AwsSolutionsChecks().validateScope(scoped);

    expect(report.violations.map((violation) => `${violation.severity} ${violation.ruleName}`)).toEqual([]);
  });

  it('gives every acknowledgement a reason of its own, next to the construct', () => {
    const acks = acknowledgements(stack);

    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.id).toMatch(/^AwsSolutions-/);
      expect(ack.reason.length).toBeGreaterThan(40);
      // Next to the construct: never a blanket acknowledgement on the stack itself.
      expect(ack.path).not.toBe(stack.node.path);
    }
  });

  it('acknowledges only findings the stack really has (no stale acknowledgement)', () => {
    const findings = new UnacknowledgedChecks().validateScope(stack).violations.flatMap((violation) =>
      violation.violatingResources.map((resource) => ({
        id: violation.ruleName,
        path: resource.constructPath ?? '',
      })),
    );
    const stale = acknowledgements(stack).filter(
      (ack) =>
        !findings.some((finding) => finding.id === ack.id && `${finding.path}/`.startsWith(`${ack.path}/`)),
    );

    expect(stale).toEqual([]);
  });

  it('lets the app synthesize with the pack registered as a validation plugin, as bin/app.ts does', () => {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    expect(() => app.synth({ force: true })).not.toThrow();
  });
});
