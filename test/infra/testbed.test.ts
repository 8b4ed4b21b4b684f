import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { guardValidator } from '../../lib/checks/guard';
import {
  DEMO_IMAGE,
  HOST_MANAGED_POLICIES,
  TestbedStack,
  testbedRequested,
} from '../../lib/testbed/testbed-stack';
import { testApp } from './helpers';

const app = testApp();
const stack = new TestbedStack(app, 'DebugTaskTestbed');
const template = Template.fromStack(stack);

describe('testbed stack', () => {
  it('needs no NAT gateway: public subnets only, no public IP unless a resource asks for one', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
    template.allResourcesProperties('AWS::EC2::Subnet', { MapPublicIpOnLaunch: false });
    template.hasResourceProperties('AWS::EC2::Route', {
      DestinationCidrBlock: '0.0.0.0/0',
      GatewayId: Match.anyValue(),
    });
  });

  it('has one ECS-optimized Amazon Linux 2023 instance, registered to the cluster, IMDSv2 required', () => {
    template.resourceCountIs('AWS::EC2::Instance', 1);
    template.resourceCountIs('AWS::AutoScaling::AutoScalingGroup', 0);
    const parameters = template.toJSON().Parameters as Record<string, { Default?: string }>;
    expect(Object.values(parameters).map((p) => p.Default)).toContain(
      '/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id',
    );
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: { MetadataOptions: { HttpTokens: 'required' } },
    });
    const [instance] = Object.values(template.findResources('AWS::EC2::Instance'));
    expect(JSON.stringify(instance.Properties.UserData)).toContain('ECS_CLUSTER=debug-task-testbed');
  });

  it("gives the instance exactly the README's role: the ECS instance policy and SSM, nothing inline", () => {
    const roles = Object.values(template.findResources('AWS::IAM::Role')).filter((role) =>
      JSON.stringify(role.Properties.AssumeRolePolicyDocument).includes('ec2.amazonaws.com'),
    );
    expect(roles).toHaveLength(1);
    const policies = (roles[0].Properties.ManagedPolicyArns as unknown[]).map((arn) =>
      JSON.stringify(arn).replace(/.*:policy\/([^"]+)".*/, '$1'),
    );
    expect(policies.sort()).toEqual([...HOST_MANAGED_POLICIES].sort());
    const [roleId] = Object.entries(template.findResources('AWS::IAM::Role')).find(([, role]) =>
      JSON.stringify(role.Properties.AssumeRolePolicyDocument).includes('ec2.amazonaws.com'),
    )!;
    const inline = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
      JSON.stringify(policy.Properties.Roles).includes(`"${roleId}"`),
    );
    expect(inline).toEqual([]);
  });

  it('runs a demo service of two bridge-mode tasks (web and client) from ECR Public on the instance', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      ServiceName: 'demo',
      LaunchType: 'EC2',
      DesiredCount: 2,
    });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      NetworkMode: 'bridge',
      ContainerDefinitions: Match.arrayWith([
        Match.objectLike({ Name: 'web', Image: DEMO_IMAGE, User: 'nobody', ReadonlyRootFilesystem: true }),
        Match.objectLike({ Name: 'client', Image: DEMO_IMAGE, Links: ['web:web'] }),
      ]),
    });
  });

  it('runs one Fargate task, to see FARGATE_UNSUPPORTED', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      ServiceName: 'fargate-demo',
      LaunchType: 'FARGATE',
      DesiredCount: 1,
    });
  });

  it('keeps nothing after destroy: no resource is retained', () => {
    const retained = Object.entries(
      template.toJSON().Resources as Record<string, { DeletionPolicy?: string }>,
    )
      .filter(
        ([, resource]) => resource.DeletionPolicy === 'Retain' || resource.DeletionPolicy === 'Snapshot',
      )
      .map(([id]) => id);
    expect(retained).toEqual([]);
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 1 });
  });

  it('prints what a user needs next', () => {
    expect(Object.keys(template.toJSON().Outputs).sort()).toEqual(
      [
        'ClusterName',
        'DemoServiceName',
        'DemoTaskCommand',
        'FargateTaskCommand',
        'InstanceId',
        'TrySession',
      ].sort(),
    );
  });

  it('reports no unacknowledged cdk-nag finding', () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((v) => `${v.ruleName} ${v.violatingResources[0]?.constructPath}`)).toEqual(
      [],
    );
  });

  it('synthesizes with cdk-nag and the Guard rules registered, as bin/app.ts does', () => {
    const checked = testApp();
    Validations.of(checked).addPlugins(new AwsSolutionsChecks(checked), guardValidator());
    new TestbedStack(checked, 'DebugTaskTestbed');

    expect(() => checked.synth()).not.toThrow();
  });

  it('refuses a demo task count it cannot place', () => {
    expect(() => new TestbedStack(new App(), 'Testbed', { demoTasks: 0 })).toThrow(
      'demoTasks 0 is out of range; give a whole number from 1 to 10.',
    );
  });
});

describe('testbed context', () => {
  const requested = (context: Record<string, unknown>) => testbedRequested(new App({ context }).node);

  it('is off unless asked for with -c testbed=true', () => {
    expect(requested({})).toBe(false);
    expect(requested({ testbed: 'false' })).toBe(false);
    expect(requested({ testbed: 'true' })).toBe(true);
    expect(requested({ testbed: true })).toBe(true);
  });

  it('refuses a value that is neither true nor false', () => {
    expect(() => requested({ testbed: 'yes' })).toThrow(
      /Context testbed must be true or false \(got "yes"\)/,
    );
  });
});
