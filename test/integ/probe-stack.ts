import { join } from 'node:path';
import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays, type ILogGroup } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { acknowledgeGuard } from '../../lib/checks/guard';
import { acknowledge, acknowledgeWildcardResources } from '../../lib/infra/nag';
import { LOCK_FILE, PROJECT_ROOT } from '../../lib/infra/paths';
import type { TestbedStack } from '../../lib/testbed/testbed-stack';

export interface ProbeStackProps extends StackProps {
  /** Name of the debug-task stack under test (the probe reads its ApiUrl and BucketName outputs). */
  readonly debugTaskStackName: string;
  /** The audit log of the stack under test: the probe reads who was recorded. */
  readonly auditLogGroup: ILogGroup;
  readonly testbed: TestbedStack;
}

/**
 * The integration test's probe function (probe/probe.ts) and its role: what a user of debug-task
 * may do (call the API), plus what the test checks beside it (read the audit log, list the
 * testbed's tasks, `docker ps` on its instance through AWS-RunShellScript). And a second principal,
 * the role `Other`, which the probe assumes: it may invoke the API as well (IAM lets it in), and the
 * API must refuse it the probe's sessions (owner isolation, the deployment having no policy).
 */
export class ProbeStack extends Stack {
  public readonly probe: NodejsFunction;

  constructor(scope: Construct, id: string, props: ProbeStackProps) {
    super(scope, id, props);
    const { testbed } = props;

    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'debug-task integration test probe',
    });
    const other = new Role(this, 'Other', {
      assumedBy: role,
      description:
        'debug-task integration test: a second principal of the account, refused the sessions of the probe',
    });
    const logs = new LogGroup(this, 'Logs', {
      retention: RetentionDays.ONE_WEEK,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    logs.grantWrite(role);
    acknowledgeGuard(
      logs,
      'The probe logs one test run: a week of retention is enough to read a failure, the service key ' +
        'is enough for test output, and the group is deleted with the stack.',
      'cloudwatch_log_group_retention_period_check',
      'cloudwatch_log_group_encrypted_check',
    );

    this.probe = new NodejsFunction(this, 'Probe', {
      entry: join(__dirname, 'probe', 'handler.ts'),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: LOCK_FILE,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: 512,
      // The assertion provider waits 2 minutes for an invocation; the longest (refuse-fargate) takes 90 s.
      timeout: Duration.seconds(110),
      role,
      logGroup: logs,
      environment: {
        DEBUG_TASK_STACK: props.debugTaskStackName,
        CLUSTER: testbed.clusterName,
        DEMO_SERVICE: testbed.demoService.serviceName,
        FARGATE_SERVICE: testbed.fargateService.serviceName,
        INSTANCE_ID: testbed.host.instanceId,
        AUDIT_LOG_GROUP: props.auditLogGroup.logGroupName,
        OTHER_ROLE_ARN: other.roleArn,
      },
      bundling: {
        minify: true,
        format: OutputFormat.CJS,
        bundleAwsSDK: true,
        mainFields: ['module', 'main'],
      },
    });
    acknowledge(
      this.probe,
      'nodejs22.x is the runtime this project targets, as for the functions of the DebugTask stack.',
      'AwsSolutions-L1',
    );
    acknowledgeGuard(
      this.probe,
      'The probe calls AWS APIs only, like the functions under test; in a VPC it would need a NAT gateway.',
      'lambda_inside_vpc_check',
    );

    const stack = Stack.of(this);
    const grant = (actions: string[], resources: string[], conditions?: Record<string, unknown>) =>
      role.addToPrincipalPolicy(new PolicyStatement({ actions, resources, conditions }));
    grant(
      ['cloudformation:DescribeStacks'],
      [
        stack.formatArn({
          service: 'cloudformation',
          resource: 'stack',
          resourceName: `${props.debugTaskStackName}/*`,
        }),
      ],
    );
    const api = stack.formatArn({ service: 'execute-api', resource: '*', resourceName: '*/*/*' });
    grant(['execute-api:Invoke'], [api]);
    other.addToPrincipalPolicy(new PolicyStatement({ actions: ['execute-api:Invoke'], resources: [api] }));
    other.grantAssumeRole(role);
    // The audit events of the probe's sessions (the records in S3 are under the artifact key, which
    // only the stack's own roles may use: the audit log is where anyone else reads who asked).
    grant(['logs:FilterLogEvents'], [props.auditLogGroup.logGroupArn]);
    grant(['ecs:ListTasks'], ['*'], {
      ArnEquals: {
        'ecs:cluster': stack.formatArn({
          service: 'ecs',
          resource: 'cluster',
          resourceName: testbed.clusterName,
        }),
      },
    });
    grant(
      ['ssm:SendCommand'],
      [
        stack.formatArn({
          service: 'ssm',
          account: '',
          resource: 'document',
          resourceName: 'AWS-RunShellScript',
        }),
        stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: testbed.host.instanceId }),
      ],
    );
    grant(['ssm:GetCommandInvocation'], ['*']);
    acknowledgeWildcardResources(
      role,
      [api, '*'],
      'A test-only role that lives for one run. The API id exists only once the stack under test is ' +
        'deployed and is found at run time from its outputs, as the CLI finds it; ecs:ListTasks is ' +
        'scoped by the ecs:cluster condition; GetCommandInvocation names no resource.',
    );
    acknowledgeWildcardResources(
      other,
      [api],
      'A test-only second principal that lives for one run: it may invoke any route of the API under ' +
        'test (found at run time), which is the point: IAM lets it in, the API must refuse it.',
    );
  }
}
