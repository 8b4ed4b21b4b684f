import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { Stack, Validations } from 'aws-cdk-lib';
import { CfnFunction, CfnPermission } from 'aws-cdk-lib/aws-lambda';
import { CfnBucket } from 'aws-cdk-lib/aws-s3';
import { CfnQueue } from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';

/**
 * AWS Guard rules (the Control Tower proactive controls bundled with
 * `@cdklabs/cdk-validator-cfnguard`) as a CDK validation plugin, beside cdk-nag: every synth of the
 * app runs them on every template, offline (the plugin runs its bundled `cfn-guard` binary on the
 * synthesized templates), and an unacknowledged finding fails the synth.
 *
 * A finding is acknowledged like a cdk-nag one, with CDK's own `Validations.of(x).acknowledge()`:
 * the id is `cdk-validator-cfnguard::<rule name>` (the synth error prints it), the reason says why.
 */
export const GUARD_NAMESPACE = 'cdk-validator-cfnguard';

export function guardValidator(): CfnGuardValidator {
  return new CfnGuardValidator();
}

/** Acknowledges Guard `rules` (their names, e.g. `lambda_inside_vpc_check`) on `scope`, with `reason`. */
export function acknowledgeGuard(scope: IConstruct, reason: string, ...rules: string[]): void {
  Validations.of(scope).acknowledge(...rules.map((rule) => ({ id: `${GUARD_NAMESPACE}::${rule}`, reason })));
}

/**
 * The Guard findings of the DebugTask stack, acknowledged on each resource they concern, chosen by
 * type (not by construct path, so that a refactoring of the stack keeps them).
 *
 * By design: the reason is final; false positive: the rule cannot read what CDK renders
 * (docs/AWS-ASSUMPTIONS.md, "Offline checks", lists them). A finding the stack should fix is fixed,
 * not acknowledged here (the log groups' retention and key, the bucket's KMS key: issue 10). They live here, not next to their constructs, only because those files are
 * being rewritten elsewhere; moving each one next to its construct is part of those rewrites.
 */
export function acknowledgeDebugTaskGuardFindings(stack: Stack): void {
  for (const construct of stack.node.findAll()) {
    if (construct instanceof CfnFunction) {
      acknowledgeGuard(
        construct,
        'By design: the functions call only AWS APIs (ECS, SSM, S3, STS, Step Functions) and no VPC ' +
          'resource; in a VPC they would need a NAT gateway or seven interface endpoints, which cost more ' +
          'than the rest of the deployment.',
        'lambda_inside_vpc_check',
      );
    } else if (construct instanceof CfnPermission && construct.sourceArn !== undefined) {
      acknowledgeGuard(
        construct,
        'False positive: the permission names its service principal and a SourceArn (the API route or ' +
          'the schedule rule), but the rule only reads a literal SourceArn, not the Fn::Join CDK renders.',
        'lambda_function_public_access_prohibited_check',
      );
    } else if (construct instanceof CfnQueue) {
      acknowledgeGuard(
        construct,
        "By design: the stack's one queue is itself a dead-letter queue (of the trigger rules' EventBridge " +
          'targets, lib/infra/triggers.ts); a dead-letter queue of its own would never receive anything.',
        'sqs_dlq_check',
      );
    } else if (construct instanceof CfnBucket) {
      acknowledgeGuard(
        construct,
        'By design: each key is written once per session and expires with the retention; old versions, ' +
          'an object lock or a notification target would only keep captures longer or add nothing.',
        's3_bucket_versioning_enabled_check',
        's3_bucket_object_lock_enabled_check',
        's3_event_notifications_enabled_check',
      );
      acknowledgeGuard(
        construct,
        'By design: as for cdk-nag AwsSolutions-S1, objects are written and read only through presigned URLs ' +
          'tied to sessions that CloudTrail records; object-level audit belongs in CloudTrail S3 data events.',
        's3_bucket_logging_enabled_check',
      );
    }
  }
}
