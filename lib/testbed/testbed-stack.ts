import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import {
  BlockDeviceVolume,
  EbsDeviceVolumeType,
  Instance,
  InstanceType,
  Peer,
  Port,
  SecurityGroup,
  SubnetType,
  UserData,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import {
  Cluster,
  ContainerImage,
  ContainerInsights,
  Ec2Service,
  Ec2TaskDefinition,
  EcsOptimizedImage,
  FargateService,
  FargateTaskDefinition,
  LogDrivers,
  NetworkMode,
  type ICluster,
} from 'aws-cdk-lib/aws-ecs';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct, Node } from 'constructs';
import { acknowledgeGuard } from '../checks/guard';
import { acknowledge } from '../infra/nag';

/** Synthesized only when asked, e.g. `npx cdk deploy DebugTaskTestbed -c testbed=true`. */
export const TESTBED_STACK_NAME = 'DebugTaskTestbed';

/** The context key that asks for the testbed: `-c testbed=true` (or `"testbed": true` in cdk.json). */
export const TESTBED_CONTEXT_KEY = 'testbed';

/** Whether the app was asked for the testbed; any value but true/'true' (or unset) is a clear error. */
export function testbedRequested(node: Node): boolean {
  const value: unknown = node.tryGetContext(TESTBED_CONTEXT_KEY);
  if (value === undefined || value === '' || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  throw new Error(
    `Context ${TESTBED_CONTEXT_KEY} must be true or false (got ${JSON.stringify(value)}); e.g. -c testbed=true.`,
  );
}

/**
 * The images of the demo tasks: busybox from Amazon ECR Public's copy of the Docker official images,
 * so neither the host nor Fargate depends on Docker Hub (or its pull rate limit) and no registry
 * credentials are needed. One small image (about 2 MB) serves the server and the client.
 */
export const DEMO_IMAGE = 'public.ecr.aws/docker/library/busybox:1.36';

/** Fixed service names, so that the README's commands can name them (they are unique per cluster). */
export const DEMO_SERVICE_NAME = 'demo';
export const FARGATE_SERVICE_NAME = 'fargate-demo';

/** The port the demo server listens on, inside the task (bridge mode: no host port is published). */
export const DEMO_PORT = 8080;

/**
 * The two AWS managed policies of the container instance's role: exactly what the README asks of a
 * user's instances (the usual `ecsInstanceRole`): the ECS agent's calls and ECR pulls, and SSM.
 */
export const HOST_MANAGED_POLICIES = [
  'service-role/AmazonEC2ContainerServiceforEC2Role',
  'AmazonSSMManagedInstanceCore',
] as const;

export interface TestbedStackProps extends StackProps {
  /**
   * Name of the ECS cluster. A fixed name, so that the commands of the README (and `allowedClusters`
   * of a debug-task deployment) can name it before it exists.
   *
   * @default 'debug-task-testbed'
   */
  readonly clusterName?: string;

  /**
   * The container instance's type. It must be x86_64 (the toolbox image is built for linux/amd64 by
   * default) and hold the demo tasks plus two toolbox containers (256 MB each by default).
   *
   * @default t3.small (2 vCPU burstable, 2 GiB)
   */
  readonly instanceType?: string;

  /**
   * Tasks of the demo service, all on the one container instance: a service-wide session captures
   * them all. At most `maxSessionsPerHost` of the debug-task deployment (2 by default).
   *
   * @default 2
   */
  readonly demoTasks?: number;
}

/**
 * A small, cheap and disposable ECS setup to try debug-task on a real account (`npx cdk deploy
 * DebugTaskTestbed -c testbed=true`), also deployed by the integration test (test/integ):
 *
 * - a VPC with public subnets only: the instance and the Fargate task reach SSM, ECR, ECS, S3 and
 *   ECR Public through an internet gateway with a public IPv4 address each, no inbound rule at all.
 *   No NAT gateway and no VPC endpoints: both cost more per hour than the whole testbed (see
 *   docs/AWS-ASSUMPTIONS.md, "The testbed's cost"), and ECR Public has no endpoint anyway.
 * - an ECS cluster with ONE container instance: an ECS-optimized Amazon Linux 2023 EC2 instance
 *   (SSM agent preinstalled), IMDSv2 required, whose role has exactly the two managed policies the
 *   README asks of users' instances. A plain instance that registers itself through its user data,
 *   not an Auto Scaling group: CDK's capacity helpers add inline ECS grants of their own to the
 *   role, and the point is to test the README's role, nothing more.
 * - a demo service (bridge network mode): each task is a `web` HTTP server and a `client` that
 *   calls it every second, so a capture next to `web` always has packets.
 * - one Fargate task (a service of one), to see FARGATE_UNSUPPORTED for real.
 *
 * Everything is destroyed with the stack (RemovalPolicy.DESTROY; logs kept one day).
 */
export class TestbedStack extends Stack {
  public readonly clusterName: string;
  public readonly cluster: ICluster;
  public readonly host: Instance;
  public readonly demoService: Ec2Service;
  public readonly fargateService: FargateService;

  constructor(scope: Construct, id: string, props: TestbedStackProps = {}) {
    super(scope, id, props);
    this.clusterName = props.clusterName ?? 'debug-task-testbed';
    const demoTasks = props.demoTasks ?? 2;
    if (!Number.isInteger(demoTasks) || demoTasks < 1 || demoTasks > 10) {
      throw new Error(`demoTasks ${demoTasks} is out of range; give a whole number from 1 to 10.`);
    }

    const vpc = new Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      // No public IP by default: the instance and the Fargate task ask for theirs explicitly.
      subnetConfiguration: [
        { name: 'public', subnetType: SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
      ],
      // The default security group is used by nothing here (every resource has its own, without
      // inbound rules); restricting it would add a custom-resource Lambda to every deploy.
      restrictDefaultSecurityGroup: false,
    });
    acknowledge(
      vpc,
      'A disposable testbed: flow logs would cost more than the traffic they describe, and nothing ' +
        'here accepts inbound connections (no security group has an inbound rule).',
      'AwsSolutions-VPC7',
    );

    const cluster = new Cluster(this, 'Cluster', {
      vpc,
      clusterName: this.clusterName,
      containerInsightsV2: ContainerInsights.DISABLED,
    });
    acknowledge(
      cluster,
      'Container Insights bills custom metrics per task; a testbed that lives for an hour needs none.',
      'AwsSolutions-ECS4',
    );
    acknowledgeGuard(
      cluster,
      'Container Insights bills custom metrics per task; a testbed that lives for an hour needs none.',
      'ecs_container_insights_enabled_check',
    );

    this.host = this.containerInstance(vpc, props.instanceType ?? 't3.small');
    // The services need EC2 capacity in the cluster; it is the instance above, registered by its user
    // data, which CDK cannot see: this reference says the cluster has it.
    this.cluster = Cluster.fromClusterAttributes(this, 'ClusterWithHost', {
      clusterName: cluster.clusterName,
      clusterArn: cluster.clusterArn,
      vpc,
      securityGroups: [],
      hasEc2Capacity: true,
    });

    const logs = new LogGroup(this, 'TaskLogs', {
      retention: RetentionDays.ONE_DAY,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    acknowledgeGuard(
      logs,
      'The demo tasks log a line per failed call: a day of retention, the service key, and deleted with ' +
        'the stack, because nothing in a disposable testbed is worth keeping or a key of its own.',
      'cloudwatch_log_group_retention_period_check',
      'cloudwatch_log_group_encrypted_check',
    );

    this.demoService = this.demoServiceOn(this.cluster, logs, demoTasks);
    // The tasks can only be placed once the instance exists (it registers a minute after boot).
    this.demoService.node.addDependency(this.host);
    this.fargateService = this.fargateTask(this.cluster, logs);

    const region = this.region;
    new CfnOutput(this, 'ClusterName', { value: cluster.clusterName, description: 'The ECS cluster' });
    new CfnOutput(this, 'DemoServiceName', {
      value: this.demoService.serviceName,
      description: `Service of ${demoTasks} demo tasks (containers web and client) on the one instance`,
    });
    new CfnOutput(this, 'InstanceId', {
      value: this.host.instanceId,
      description: 'The container instance (SSM-managed)',
    });
    new CfnOutput(this, 'DemoTaskCommand', {
      value: `aws ecs list-tasks --region ${region} --cluster ${cluster.clusterName} --service-name ${this.demoService.serviceName} --query 'taskArns[0]' --output text`,
      description: 'Prints the ARN of a demo task',
    });
    new CfnOutput(this, 'FargateTaskCommand', {
      value: `aws ecs list-tasks --region ${region} --cluster ${cluster.clusterName} --service-name ${this.fargateService.serviceName} --query 'taskArns[0]' --output text`,
      description: 'Prints the ARN of the Fargate task (debug-task refuses it: FARGATE_UNSUPPORTED)',
    });
    new CfnOutput(this, 'TrySession', {
      value:
        `npx debug-task "$(aws ecs list-tasks --region ${region} --cluster ${cluster.clusterName} --service-name ` +
        `${this.demoService.serviceName} --query 'taskArns[0]' --output text)" --container web --tool tcpdump --duration 10s`,
      description: 'One capture next to a demo task (needs the DebugTask stack deployed)',
    });
  }

  /** The one container instance: ECS-optimized AL2023, the README's role, IMDSv2, no inbound rule. */
  private containerInstance(vpc: Vpc, instanceType: string): Instance {
    const role = new Role(this, 'HostRole', {
      assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
      description: 'debug-task testbed: the ecsInstanceRole the README asks of container instances',
      managedPolicies: HOST_MANAGED_POLICIES.map((name) => ManagedPolicy.fromAwsManagedPolicyName(name)),
    });
    acknowledge(
      role,
      'The testbed checks the README: a container instance needs exactly the usual ecsInstanceRole ' +
        '(AmazonEC2ContainerServiceforEC2Role: the ECS agent and ECR pulls) plus ' +
        'AmazonSSMManagedInstanceCore, so those two managed policies are what it must be given.',
      ...HOST_MANAGED_POLICIES.map(
        (name) => `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${name}]`,
      ),
    );

    const securityGroup = new SecurityGroup(this, 'HostSecurityGroup', {
      vpc,
      description: 'debug-task testbed host: no inbound rule; outbound HTTPS to SSM, ECS, ECR and S3',
      allowAllOutbound: true,
    });

    const userData = UserData.forLinux();
    // The ECS-optimized AMI's agent reads its cluster from here; without it, it joins "default".
    userData.addCommands(`echo "ECS_CLUSTER=${this.clusterName}" >> /etc/ecs/ecs.config`);

    const host = new Instance(this, 'Host', {
      vpc,
      vpcSubnets: { subnetType: SubnetType.PUBLIC },
      associatePublicIpAddress: true,
      instanceType: new InstanceType(instanceType),
      machineImage: EcsOptimizedImage.amazonLinux2023(),
      role,
      securityGroup,
      userData,
      // The runner reads the instance role through IMDSv2 to pull the toolbox image (README).
      requireImdsv2: true,
      blockDevices: [
        {
          // The AMI's root volume is 30 GB; gp3, encrypted.
          deviceName: '/dev/xvda',
          volume: BlockDeviceVolume.ebs(30, { volumeType: EbsDeviceVolumeType.GP3, encrypted: true }),
        },
      ],
    });
    acknowledge(
      host,
      'A disposable testbed instance, destroyed with its stack: detailed monitoring would add cost ' +
        'without use, and termination protection or an Auto Scaling group would get in the way of ' +
        '`cdk destroy`.',
      'AwsSolutions-EC28',
      'AwsSolutions-EC29',
    );
    acknowledgeGuard(
      host,
      'A disposable testbed instance: detailed monitoring would add cost without use; the only traffic ' +
        'between instances is none (one instance), so in-transit encryption between Nitro instances ' +
        'does not apply.',
      'ec2_instance_detailed_monitoring_enabled_check',
      'ec2_launch_template_monitoring_enabled_check',
      'ec2_instance_nitro_encryption_in_transit_check',
    );
    acknowledgeGuard(
      host,
      'By design: the public IPv4 address replaces a NAT gateway (about nine times the cost) as the ' +
        "host's route to SSM, ECS, ECR and S3; its security group has no inbound rule.",
      'ec2_instance_no_public_ip_check',
    );
    return host;
  }

  /** `web` (busybox httpd) and `client` (wget every second) in each task, bridge mode, on the instance. */
  private demoServiceOn(cluster: ICluster, logs: LogGroup, desiredCount: number): Ec2Service {
    const taskDefinition = new Ec2TaskDefinition(this, 'DemoTask', { networkMode: NetworkMode.BRIDGE });
    const web = taskDefinition.addContainer('web', webContainer(logs, 'demo'));
    const client = taskDefinition.addContainer('client', {
      ...UNPRIVILEGED,
      image: ContainerImage.fromRegistry(DEMO_IMAGE),
      memoryLimitMiB: 32,
      command: [
        'sh',
        '-c',
        `while true; do wget -q -O /dev/null http://web:${DEMO_PORT}/hostname || echo "call failed"; sleep 1; done`,
      ],
      logging: LogDrivers.awsLogs({ logGroup: logs, streamPrefix: 'demo' }),
    });
    // Bridge mode: the client reaches the server's own network namespace over the docker bridge, so
    // a capture in `web`'s namespace (on its eth0) sees every call.
    client.addLink(web, 'web');
    acknowledgeGuard(
      taskDefinition,
      'By design: bridge mode puts each container in its own network namespace, so the calls of `client` ' +
        "cross `web`'s eth0 where a capture sees them, and needs no ENI per task (a t3.small has three).",
      'ecs_awsvpc_networking_enabled_check',
    );

    return new Ec2Service(this, 'DemoService', {
      cluster,
      serviceName: DEMO_SERVICE_NAME,
      taskDefinition,
      desiredCount,
      // One instance: a deployment replaces tasks in place rather than waiting for room.
      minHealthyPercent: 0,
      maxHealthyPercent: 100,
      circuitBreaker: { enable: true, rollback: false },
    });
  }

  /** One Fargate task in a public subnet (ECR Public needs a route out), no inbound rule. */
  private fargateTask(cluster: ICluster, logs: LogGroup): FargateService {
    const taskDefinition = new FargateTaskDefinition(this, 'FargateTask', { cpu: 256, memoryLimitMiB: 512 });
    taskDefinition.addContainer('web', webContainer(logs, 'fargate'));
    const securityGroup = new SecurityGroup(this, 'FargateSecurityGroup', {
      vpc: cluster.vpc,
      description: 'debug-task testbed Fargate task: no inbound rule',
      allowAllOutbound: false,
    });
    // Out to ECR Public (image pull) and CloudWatch Logs, both HTTPS; DNS goes to the VPC resolver.
    securityGroup.addEgressRule(Peer.anyIpv4(), Port.tcp(443), 'HTTPS to ECR Public and CloudWatch Logs');

    const service = new FargateService(this, 'FargateService', {
      cluster,
      serviceName: FARGATE_SERVICE_NAME,
      taskDefinition,
      desiredCount: 1,
      assignPublicIp: true,
      vpcSubnets: { subnetType: SubnetType.PUBLIC },
      securityGroups: [securityGroup],
      minHealthyPercent: 0,
      maxHealthyPercent: 100,
      circuitBreaker: { enable: true, rollback: false },
    });
    acknowledgeGuard(
      service,
      'By design: the public IPv4 address replaces a NAT gateway as the route to ECR Public (which has ' +
        'no VPC endpoint); its security group has no inbound rule.',
      'ecs_service_assign_public_ip_disabled_check',
    );
    return service;
  }
}

/** Every demo container runs as `nobody` on a read-only root file system: it writes nothing. */
const UNPRIVILEGED = { user: 'nobody', readonlyRootFilesystem: true } as const;

/** busybox httpd serving /etc (e.g. /hostname), as `nobody`: a port above 1024, nothing written. */
function webContainer(logs: LogGroup, streamPrefix: string) {
  return {
    ...UNPRIVILEGED,
    image: ContainerImage.fromRegistry(DEMO_IMAGE),
    memoryLimitMiB: 32,
    command: ['httpd', '-f', '-p', String(DEMO_PORT), '-h', '/etc'],
    logging: LogDrivers.awsLogs({ logGroup: logs, streamPrefix }),
  };
}
