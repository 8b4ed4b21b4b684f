import { join } from 'node:path';
import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { acknowledgeGuard } from '../../lib/checks/guard';
import { acknowledge, acknowledgeWildcardResources } from '../../lib/infra/nag';
import { LOCK_FILE, PROJECT_ROOT } from '../../lib/infra/paths';
import type { TestbedStack } from '../../lib/testbed/testbed-stack';

export interface ProbeStackProps extends StackProps {
  /** Name of the debug-task stack under test (the probe reads its ApiUrl and BucketName outputs). */
  readonly debugTaskStackName: string;
  readonly testbed: TestbedStack;
}

/**
 * The integration test's probe function (probe/probe.ts) and its role: what a user of debug-task
 * may do (call the API, read a session's manifest), plus what the test checks beside it (list the
 * testbed's tasks, `docker ps` on its instance through AWS-RunShellScript).
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
    // Run-time discovery, as the CLI does: the bucket's name is generated, its prefix is the stack's.
    const manifests = `arn:${stack.partition}:s3:::${props.debugTaskStackName.toLowerCase()}-*/sessions/*/manifest.json`;
    grant(['s3:GetObject'], [manifests]);
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
      [api, manifests, '*'],
      'A test-only role that lives for one run. The API id and the bucket name exist only once the stack ' +
        'under test is deployed and are found at run time from its outputs, as the CLI finds them; ' +
        'ecs:ListTasks is scoped by the ecs:cluster condition; GetCommandInvocation names no resource.',
    );
  }
}
