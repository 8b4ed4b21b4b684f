import { CfnOutput, Stack } from 'aws-cdk-lib';
import type { ILogGroup } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { DebugTask } from './debug-task';
import type { DebugTaskSettings, DebugTaskStackProps } from './stack-props';

export { DebugTask, EXECUTION_MARGIN_SECONDS, SWEEPER_TIMEOUT } from './debug-task';
export type { DebugTaskProps, DebugTaskStackProps, DebugTaskSettings, ToolboxPlatform } from './stack-props';
export { STACK_DEFAULTS } from './stack-props';

/**
 * The `DebugTask` stack: one `DebugTask` construct, and the outputs the CLI finds the deployment by.
 *
 * Outputs (the CLI reads them from the stack named `DebugTask`): ApiUrl, BucketName,
 * StateMachineArn, DocumentName, Region; and AuditLogGroupName, for whoever reads the audit.
 */
export class DebugTaskStack extends Stack {
  /** The props with their defaults applied. */
  public readonly settings: DebugTaskSettings;
  /** The deployment's audit log (who captured what: lib/audit/events.ts). */
  public readonly auditLogGroup: ILogGroup;

  constructor(scope: Construct, id: string, props: DebugTaskStackProps = {}) {
    super(scope, id, props);
    // The id 'Default' is left out of logical ids: the resources keep the ids they had when the
    // stack built them itself, so moving to the construct replaces nothing in a deployed stack.
    const debugTask = new DebugTask(this, 'Default', props);
    this.settings = debugTask.settings;
    this.auditLogGroup = debugTask.auditLog.logGroup;

    // ---- Outputs: the CLI finds the deployment through these.
    new CfnOutput(this, 'ApiUrl', {
      value: debugTask.apiUrl,
      description: 'Base URL of the debug-task HTTP API (IAM auth)',
    });
    new CfnOutput(this, 'BucketName', {
      value: debugTask.bucket.bucketName,
      description: 'Bucket of session artifacts',
    });
    new CfnOutput(this, 'StateMachineArn', {
      value: debugTask.stateMachine.stateMachineArn,
      description: 'State machine that runs one session per execution',
    });
    new CfnOutput(this, 'DocumentName', {
      value: debugTask.documentName,
      description: 'SSM command document of the host runner',
    });
    new CfnOutput(this, 'Region', { value: this.region, description: 'Region of this deployment' });
    new CfnOutput(this, 'AuditLogGroupName', {
      value: debugTask.auditLog.logGroup.logGroupName,
      description: 'Audit log group: every authorization decision and session event (Logs Insights)',
    });
  }
}
