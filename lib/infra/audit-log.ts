import { RemovalPolicy } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { DebugFunction } from './debug-function';
import { acknowledge } from './nag';

/** AWS Control Tower's minimum retention of a log group (CT.CLOUDWATCH.PR.2), in days. */
const MIN_GUARD_RETENTION_DAYS = 365;

export interface AuditLogProps {
  /** Days the audit events are kept (`auditLogRetentionDays`, lib/infra/stack-props.ts). */
  readonly retention: RetentionDays;
  /** The stack's log key (lib/infra/stack-keys.ts). */
  readonly encryptionKey: IKey;
}

/**
 * The audit log of a deployment (lib/audit/): one structured event per authorization decision and per
 * session event (requested, resolved to hosts, started, ended with each artifact's sha256, download
 * URL given to whom). A log group of its own, apart from the functions' logs, so that its retention is
 * the deployment's audit setting, access to it can be granted alone (an auditor reads this group, not
 * the functions' debug output), and nothing but the functions that emit may write to it.
 *
 * RETAIN: the audit of a deployment outlives its stack.
 */
export class AuditLog extends Construct {
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: AuditLogProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'Resource', {
      retention: props.retention,
      encryptionKey: props.encryptionKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // A year is the AWS Control Tower minimum (CT.CLOUDWATCH.PR.2); a shorter audit retention is the
    // deployment's own choice, made with auditLogRetentionDays, and said so in the finding.
    if (props.retention < MIN_GUARD_RETENTION_DAYS) {
      // The Guard validator's id (lib/checks/guard.ts), spelled out: the construct must not load it.
      acknowledge(
        this.logGroup,
        `By design: this deployment keeps its audit log ${props.retention} days (auditLogRetentionDays).`,
        'cdk-validator-cfnguard::cloudwatch_log_group_retention_period_check',
      );
    }
  }

  /** Lets `fn` emit audit events: AUDIT_LOG_GROUP names the group, its role may write to it only. */
  public addWriter(fn: DebugFunction): void {
    fn.function.addEnvironment('AUDIT_LOG_GROUP', this.logGroup.logGroupName);
    // logs:CreateLogStream + logs:PutLogEvents on this group's streams (`<group arn>:*`), no more.
    this.logGroup.grantWrite(fn.role);
  }
}
