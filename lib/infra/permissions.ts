import { ArnFormat, Stack } from 'aws-cdk-lib';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { SESSIONS_PREFIX } from './artifact-bucket';
import { DOCTOR_PROBE_PREFIX } from '../domain/doctor';
import type { DebugFunction, HandlerName, Permission } from './debug-function';

/**
 * The tag a container instance must carry for the functions to send it our document: its value is
 * the instance's ECS cluster name, one of allowedClusters (any value when allowedClusters is unset).
 * The README tells users to set it (e.g. on the Auto Scaling group, propagated at launch).
 */
export const HOST_TAG_KEY = 'debug-task:cluster';

export interface SessionPermissionsProps {
  readonly functions: Readonly<Record<HandlerName, DebugFunction>>;
  readonly bucket: IBucket;
  /** The upload role (lib/infra/upload-role.ts): launch assumes it to sign the hosts' uploads. */
  readonly uploadRoleArn: string;
  /** ARN of our SSM command document: the only document the functions may send. */
  readonly documentArn: string;
  /** The toolbox image's ECR repository, when it is in this account and region (doctor --stack). */
  readonly toolboxRepositoryArn?: string;
  /** The runner file the document names (an S3 asset): the senders presign its GET. */
  readonly runnerObjectArn: string;
  readonly stateMachine: StateMachine;
  /** Cluster names resolve and the sweeper may read; empty: any cluster of the account and region. */
  readonly allowedClusters: readonly string[];
  /**
   * The deployment has a policy file: a capture is then decided on each target's network mode,
   * which plan (capture, preview) and the doctor (policy-allows) read from its task definition
   * (lib/session/authorize.ts). Without one, nothing calls ecs:DescribeTaskDefinition.
   */
  readonly decidesCaptures?: boolean;
}

/**
 * What each function may do: exactly the calls of its step (lib/steps/*, lib/api/*), each on the
 * narrowest resource that can be named before a session exists. Every wildcard carries its reason,
 * which is also its cdk-nag acknowledgement.
 */
export function grantSessionPermissions(stack: Stack, props: SessionPermissionsProps): void {
  const { functions: fn, bucket, stateMachine } = props;

  const sessionObjects = (actions: string[], why: string): Permission => ({
    actions,
    // sessions/*: session ids do not exist before the request that makes one.
    resources: [bucket.arnForObjects(`${SESSIONS_PREFIX}*`)],
    why: `${why} Objects live under sessions/<sessionId>/ and session ids are minted per request, so the prefix is the narrowest static scope.`,
  });
  // HeadObject on a missing key is a 403 without s3:ListBucket: poll would take "no cancel marker
  // yet" and collect "the upload never arrived" for access errors.
  const listSessions: Permission = {
    actions: ['s3:ListBucket'],
    resources: [bucket.bucketArn],
    conditions: { StringLike: { 's3:prefix': [`${SESSIONS_PREFIX}*`] } },
    why: 'So that a missing session object is a 404; limited to the sessions/ prefix.',
  };
  const onAnyResource = (action: string): Permission => ({
    actions: [action],
    // '*': no resource this stack could name (command ids and hosts are only known at run time).
    resources: ['*'],
    why:
      `${action} is granted on "*", as in AWS's Systems Manager policy examples: it names no resource ` +
      'this stack could scope it to (command ids and hosts exist only at run time).',
  });
  // SendCommand is authorized on the document and on each target instance: two statements, so
  // that the tag condition applies to the instances only.
  const sendDocument: Permission = {
    actions: ['ssm:SendCommand'],
    resources: [props.documentArn],
    why: 'Only our document can be sent (its version is pinned by the functions).',
  };
  const clusterTags = props.allowedClusters.length === 0 ? ['*'] : [...props.allowedClusters];
  const sendToHosts: Permission = {
    actions: ['ssm:SendCommand'],
    // instance/*: the host is known only once Plan has run; the tag condition is the fence. Never
    // managed-instance/*: ECS Anywhere hosts are not reached.
    resources: [stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' })],
    conditions: { StringLike: { [`ssm:resourceTag/${HOST_TAG_KEY}`]: clusterTags } },
    why:
      `SendCommand reaches only EC2 container instances tagged ${HOST_TAG_KEY} with an allowed ` +
      'cluster (any cluster when allowedClusters is unset); the instance is known only at run time.',
  };
  const readRunner: Permission = {
    actions: ['s3:GetObject'],
    resources: [props.runnerObjectArn],
    why: 'The senders presign a GET of the runner file (one object of the stack assets) for each command.',
  };

  // Plan (lib/steps/plan.ts) resolves a task or a service; preview runs the same code.
  const clusterArns =
    props.allowedClusters.length === 0
      ? [stack.formatArn({ service: 'ecs', resource: 'cluster', resourceName: '*' })]
      : props.allowedClusters.map((name) =>
          stack.formatArn({ service: 'ecs', resource: 'cluster', resourceName: name }),
        );
  fn.plan.allow({
    // ListTasks is authorized on the cluster (container-instance/task ARNs are unknown before it).
    actions: ['ecs:ListTasks', 'ecs:DescribeTasks', 'ecs:DescribeContainerInstances'],
    resources: [
      stack.formatArn({ service: 'ecs', resource: 'task', resourceName: '*' }),
      stack.formatArn({ service: 'ecs', resource: 'container-instance', resourceName: '*' }),
      ...clusterArns,
    ],
    ...clusterScope(stack, props.allowedClusters),
  });
  fn.plan.allow(onAnyResource('ssm:DescribeInstanceInformation'));
  fn.plan.allow(
    sessionObjects(
      ['s3:GetObject', 's3:PutObject'],
      "Plan writes the session's plan; a re-upload's plan reads the session's record.",
    ),
  );

  // The doctors (lib/api/doctor.ts, stack-doctor.ts, hosts-ready.ts): reads only, each on its one
  // resource, and the probe object. A task's doctor runs Plan's one-task checks (lib/session/
  // resolve-task.ts: DescribeTasks, DescribeContainerInstances, DescribeInstanceInformation; no
  // ListTasks: a task is named); doctor --stack counts the clusters' hosts (ListContainerInstances,
  // DescribeContainerInstances, DescribeInstanceInformation).
  fn.doctor.allow({
    actions: ['ecs:DescribeTasks', 'ecs:DescribeContainerInstances'],
    resources: [
      stack.formatArn({ service: 'ecs', resource: 'task', resourceName: '*' }),
      stack.formatArn({ service: 'ecs', resource: 'container-instance', resourceName: '*' }),
    ],
    ...clusterScope(stack, props.allowedClusters),
  });
  fn.doctor.allow(onAnyResource('ssm:DescribeInstanceInformation'));
  fn.doctor.allow({
    actions: ['ssm:DescribeDocument'],
    resources: [props.documentArn],
    why: 'debug-task doctor --stack checks that the pinned version of our document exists, is Active and has the pinned hash.',
  });
  if (props.toolboxRepositoryArn !== undefined) {
    fn.doctor.allow({
      actions: ['ecr:DescribeImages'],
      resources: [props.toolboxRepositoryArn],
      why: 'debug-task doctor --stack looks the toolbox image up by its digest in its one repository.',
    });
  }
  fn.doctor.allow({
    actions: ['ecs:ListContainerInstances'],
    resources: clusterArns,
    why:
      'debug-task doctor --stack counts the container instances of the allowed clusters; allowedClusters is ' +
      'unset, so that is any cluster of this account and region (cluster/*).',
  });
  fn.doctor.allow({
    actions: ['s3:PutObject', 's3:DeleteObject'],
    resources: [bucket.arnForObjects(`${DOCTOR_PROBE_PREFIX}*`)],
    why: 'debug-task doctor writes, then deletes, one probe object with a fresh name under doctor/: the prefix is the narrowest static scope.',
  });

  if (props.decidesCaptures) {
    const readTaskDefinitions: Permission = {
      actions: ['ecs:DescribeTaskDefinition'],
      resources: ['*'],
      why:
        "With a policy file, a capture is decided on each target's network mode, read from its task " +
        'definition; ecs:DescribeTaskDefinition has no resource-level permissions and must be granted on "*".',
    };
    fn.plan.allow(readTaskDefinitions);
    fn.doctor.allow(readTaskDefinitions);
  }

  fn.launch.allow(sendDocument);
  fn.launch.allow(sendToHosts);
  fn.launch.allow(readRunner);
  // A presigned URL acts with the permissions of whoever signed it: launch signs the uploads with a
  // session of the upload role, scoped to the session's children's keys, never with its own rights.
  fn.launch.allow({
    actions: ['sts:AssumeRole'],
    resources: [props.uploadRoleArn],
    why: "Launch assumes the upload role, and only it, to sign the uploads of a session's children.",
  });
  fn.launch.allow(
    sessionObjects(
      ['s3:GetObject', 's3:PutObject'],
      "Launch reads the plan, writes its batch's host plan and presigns its GET.",
    ),
  );

  fn.poll.allow(onAnyResource('ssm:ListCommandInvocations'));
  // Cleanup reads whether its hosts have run their cleanup before the session ends CANCELLED.
  fn.cleanup.allow(onAnyResource('ssm:ListCommandInvocations'));
  fn.poll.allow(onAnyResource('ssm:GetCommandInvocation'));
  fn.poll.allow(onAnyResource('ssm:CancelCommand'));
  // A stop (the stop marker) goes to the batch's hosts as action=stop: the runner ends the captures
  // there and keeps them.
  fn.poll.allow(sendDocument);
  fn.poll.allow(sendToHosts);
  fn.poll.allow(readRunner);
  fn.poll.allow(
    sessionObjects(
      ['s3:GetObject', 's3:PutObject'],
      "Poll looks for the cancel and stop markers (HeadObject) and writes the batch's host outcomes.",
    ),
  );
  fn.poll.allow(listSessions);

  fn.collect.allow(
    sessionObjects(
      ['s3:GetObject', 's3:PutObject'],
      "Collect reads the plan, the hosts' outcomes and the children's manifests, and writes the record.",
    ),
  );
  fn.collect.allow(listSessions);

  fn.cleanup.allow(sendDocument);
  fn.cleanup.allow(sendToHosts);
  fn.cleanup.allow(readRunner);
  fn.cleanup.allow(
    sessionObjects(
      ['s3:GetObject', 's3:PutObject'],
      'Cleanup reads the plan and writes the record of a session that ended before Collect.',
    ),
  );
  fn.cleanup.allow(listSessions);

  // The sweeper (lib/steps/sweep.ts): the allowed clusters' hosts, then our document to them.
  const clusters = props.allowedClusters;
  if (clusters.length === 0) {
    fn.sweeper.allow({
      actions: ['ecs:ListClusters'],
      resources: ['*'],
      why:
        'allowedClusters is unset, so the sweeper sweeps every cluster of the account and region; ' +
        'ecs:ListClusters has no resource-level permissions and must be granted on "*".',
    });
  }
  fn.sweeper.allow({
    actions: ['ecs:ListContainerInstances'],
    resources:
      clusters.length === 0
        ? [stack.formatArn({ service: 'ecs', resource: 'cluster', resourceName: '*' })]
        : clusters.map((name) =>
            stack.formatArn({ service: 'ecs', resource: 'cluster', resourceName: name }),
          ),
    why:
      'The sweeper lists the container instances of each allowed cluster; allowedClusters is unset, so ' +
      'that is every cluster of this account and region (cluster/*).',
  });
  fn.sweeper.allow({
    actions: ['ecs:DescribeContainerInstances'],
    // container-instance/*: narrowed by the ecs:cluster condition when clusters are given.
    resources: [stack.formatArn({ service: 'ecs', resource: 'container-instance', resourceName: '*' })],
    ...clusterScope(stack, clusters),
    ...(clusters.length === 0 && {
      why: 'allowedClusters is unset: the container instances of every cluster of this account and region are swept.',
    }),
  });
  // Which hosts are managed and online: SendCommand refuses a whole batch for one unmanaged host.
  fn.sweeper.allow(onAnyResource('ssm:DescribeInstanceInformation'));
  fn.sweeper.allow(sendDocument);
  fn.sweeper.allow(sendToHosts);
  fn.sweeper.allow(readRunner);

  stateMachine.grantStartExecution(fn.api.role);
  stateMachine.grant(fn.api.role, 'states:ListExecutions');
  fn.api.allow({
    // No StopExecution: a cancel leaves a marker that Poll acts on, so that Cleanup runs.
    actions: ['states:DescribeExecution', 'states:GetExecutionHistory'],
    resources: [
      stack.formatArn({
        service: 'states',
        resource: 'execution',
        // <state machine>:*: executions are named after session ids, minted per request.
        resourceName: `${stateMachine.stateMachineName}:*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    ],
    why: "Executions are named after session ids minted per request; the ARN is limited to this stack's state machine.",
  });
  fn.api.allow(
    sessionObjects(
      ['s3:GetObject', 's3:PutObject'],
      'The api reads records, presigns downloads and writes cancel and stop markers.',
    ),
  );
  // A missing record is a 404, and `fetch` lists the records of earlier re-uploads.
  fn.api.allow(listSessions);
}

/**
 * ecs:DescribeTasks and ecs:DescribeContainerInstances accept the `ecs:cluster` condition: with
 * allowedClusters, resolve, the doctor and the sweeper read only those clusters, whatever the format of the
 * task or container-instance ARN.
 */
function clusterScope(stack: Stack, clusters: readonly string[]): Pick<Permission, 'conditions' | 'why'> {
  if (clusters.length === 0) {
    return {
      why: 'allowedClusters is unset: tasks of any cluster of this account and region may be debugged.',
    };
  }
  return {
    conditions: {
      ArnEquals: {
        'ecs:cluster': clusters.map((name) =>
          stack.formatArn({ service: 'ecs', resource: 'cluster', resourceName: name }),
        ),
      },
    },
    why: 'The ecs:cluster condition limits task/* and container-instance/* to the clusters of allowedClusters.',
  };
}
