import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeImagesCommand, ImageNotFoundException } from '@aws-sdk/client-ecr';
import {
  ClusterNotFoundException,
  DescribeContainerInstancesCommand,
  ListContainerInstancesCommand,
} from '@aws-sdk/client-ecs';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  DescribeDocumentCommand,
  DescribeInstanceInformationCommand,
  SendCommandCommand,
  type InstanceInformation,
} from '@aws-sdk/client-ssm';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { handler as doctorFunction } from '../../../lambda/doctor';
import { hostsReadyCheck } from '../../../lib/api/hosts-ready';
import { imagePresentCheck, policyLoadedCheck } from '../../../lib/api/stack-doctor';
import { STACK_SERVER_CHECKS, type DoctorReport } from '../../../lib/domain/doctor';
import type { ErrorBody } from '../../../lib/domain/errors';
import { logger } from '../../../lib/log';
import { apiEvent } from '../../support/api-event';
import { FAKE, aws, useAwsMocks } from '../../support/aws';
import {
  ACCOUNT,
  CLUSTER,
  CONTAINER_INSTANCE_ARN,
  INSTANCE_ID,
  REGION,
  onlineInstance,
} from '../../support/fixtures';

/** POST /doctor (the deployment, no task) is answered by the doctor function; nothing is started. */

useAwsMocks({ ALLOWED_CLUSTERS: CLUSTER });

const { ecs, ssm, s3, ecr } = aws;

async function stackDoctor(body: unknown = {}) {
  const res = (await doctorFunction(apiEvent('stackDoctor', { body }))) as APIGatewayProxyStructuredResultV2;
  return {
    status: res.statusCode,
    body: JSON.parse(res.body ?? '{}') as DoctorReport & { error: ErrorBody },
  };
}

const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** A deployment where every check passes; each case changes the one it is about. */
function healthy({ infos = [onlineInstance()] }: { infos?: InstanceInformation[] } = {}): void {
  ssm.on(DescribeDocumentCommand).resolves({
    Document: {
      Name: FAKE.document,
      DocumentVersion: FAKE.documentVersion,
      Status: 'Active',
      Hash: FAKE.documentHash,
      HashType: 'Sha256',
    },
  });
  ecr.on(DescribeImagesCommand).resolves({ imageDetails: [{ imageDigest: DIGEST, imageSizeInBytes: 42e6 }] });
  s3.on(PutObjectCommand).resolves({});
  s3.on(DeleteObjectCommand).resolves({});
  ecs.on(ListContainerInstancesCommand).resolves({ containerInstanceArns: [CONTAINER_INSTANCE_ARN] });
  ecs.on(DescribeContainerInstancesCommand).resolves({
    containerInstances: [{ containerInstanceArn: CONTAINER_INSTANCE_ARN, ec2InstanceId: INSTANCE_ID }],
  });
  ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: infos });
}

const statusOf = (report: DoctorReport) => Object.fromEntries(report.checks.map((c) => [c.name, c.status]));

describe('POST /doctor (doctor --stack)', () => {
  it('passes every check of a healthy deployment, in order, and sends nothing', async () => {
    healthy();

    const { status, body } = await stackDoctor();

    expect(status).toBe(200);
    expect(body.ok).toBe(true);
    expect(body.checks.map((c) => c.name)).toEqual([...STACK_SERVER_CHECKS]);
    expect(body.checks.every((c) => c.status === 'ok')).toBe(true);
    expect(ssm).toHaveReceivedCommandWith(DescribeDocumentCommand, {
      Name: FAKE.document,
      DocumentVersion: FAKE.documentVersion,
    });
    expect(ecr).toHaveReceivedCommandWith(DescribeImagesCommand, {
      registryId: ACCOUNT,
      repositoryName: 'toolbox',
      imageIds: [{ imageDigest: DIGEST }],
    });
    expect(ecs).toHaveReceivedCommandWith(ListContainerInstancesCommand, {
      cluster: CLUSTER,
      status: 'ACTIVE',
    });
    expect(body.checks.find((c) => c.name === 'hosts-ready')?.detail).toBe(
      `${CLUSTER}: 1 container instance(s), 1 managed by SSM, 1 online, 1 with agent >= 2.0.790.0 (param mode: 1 env)`,
    );
    expect(body.checks.find((c) => c.name === 'policy-loaded')?.detail).toBe('no policy: IAM decides alone');
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
  });

  it('fails document-pinned when the pinned version’s hash is not the one the stack pinned; the other checks still run', async () => {
    healthy();
    ssm.on(DescribeDocumentCommand).resolves({
      Document: {
        Name: FAKE.document,
        DocumentVersion: FAKE.documentVersion,
        Status: 'Active',
        Hash: 'ff'.repeat(32),
      },
    });

    const { body } = await stackDoctor();

    expect(body.ok).toBe(false);
    expect(body.checks[0]).toMatchObject({
      name: 'document-pinned',
      status: 'failed',
      code: 'AWS_ERROR',
      detail: expect.stringContaining('not the'),
      hint: expect.stringContaining('cdk deploy'),
    });
    expect(statusOf(body)['hosts-ready']).toBe('ok');
  });

  it('logs one line per report, naming the first failed check and its code', async () => {
    healthy();
    ecr
      .on(DescribeImagesCommand)
      .rejects(new ImageNotFoundException({ message: 'not found', $metadata: { httpStatusCode: 400 } }));
    const info = jest.spyOn(logger, 'info');

    try {
      await stackDoctor();

      const lines = info.mock.calls.filter(([message]) => message === 'doctor --stack ran');
      expect(lines).toEqual([
        [
          'doctor --stack ran',
          expect.objectContaining({ ok: false, failed: 'image-present', code: 'TOOLBOX_IMAGE_UNAVAILABLE' }),
        ],
      ]);
    } finally {
      info.mockRestore();
    }
  });

  it('fails document-pinned when the document is not Active', async () => {
    healthy();
    ssm.on(DescribeDocumentCommand).resolves({ Document: { Status: 'Failed', Hash: FAKE.documentHash } });

    const { body } = await stackDoctor();

    expect(body.checks[0]).toMatchObject({
      status: 'failed',
      detail: expect.stringContaining('Failed, not Active'),
    });
  });

  it('fails image-present with TOOLBOX_IMAGE_UNAVAILABLE when ECR does not have the digest', async () => {
    healthy();
    ecr
      .on(DescribeImagesCommand)
      .rejects(new ImageNotFoundException({ message: 'not found', $metadata: { httpStatusCode: 400 } }));

    const { body } = await stackDoctor();

    expect(body.checks.find((c) => c.name === 'image-present')).toMatchObject({
      status: 'failed',
      code: 'TOOLBOX_IMAGE_UNAVAILABLE',
      hint: expect.stringContaining('Push the image again'),
    });
  });

  it('fails hosts-ready with SSM_AGENT_OFFLINE when the cluster’s only host is offline', async () => {
    healthy({ infos: [onlineInstance({ PingStatus: 'ConnectionLost' })] });

    const { body } = await stackDoctor();

    expect(body.checks.find((c) => c.name === 'hosts-ready')).toMatchObject({
      status: 'failed',
      code: 'SSM_AGENT_OFFLINE',
      detail: expect.stringContaining('1 managed by SSM, 0 online'),
    });
  });

  it('skips hosts-ready when any cluster is allowed and none is named; checks the one --cluster names', async () => {
    healthy();
    process.env.ALLOWED_CLUSTERS = '';

    const skipped = await stackDoctor();
    const named = await stackDoctor({ cluster: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/other` });

    expect(skipped.body.checks.find((c) => c.name === 'hosts-ready')).toMatchObject({
      status: 'skipped',
      hint: expect.stringContaining('--cluster'),
    });
    expect(skipped.body.ok).toBe(true);
    expect(named.body.checks.find((c) => c.name === 'hosts-ready')).toMatchObject({ status: 'ok' });
    expect(ecs).toHaveReceivedCommandWith(ListContainerInstancesCommand, { cluster: 'other' });
  });

  it('refuses bad input with 400', async () => {
    const { status, body } = await stackDoctor({ cluster: 'a b', task: 'x' });

    expect(status).toBe(400);
    expect(body.error.code).toBe('INVALID_ARGUMENT');
  });
});

describe('image-present', () => {
  const where = { account: ACCOUNT, region: REGION };

  it('warns that an image outside ECR (or of another account) cannot be checked', async () => {
    for (const image of [
      'debug-task-toolbox:local',
      `999999999999.dkr.ecr.${REGION}.amazonaws.com/t@${DIGEST}`,
    ]) {
      expect(await imagePresentCheck(image, where)).toMatchObject({
        name: 'image-present',
        status: 'warning',
        detail: expect.stringContaining('not an ECR image of this account'),
      });
    }
    expect(ecr).not.toHaveReceivedCommand(DescribeImagesCommand);
  });
});

describe('hosts-ready', () => {
  it('fails with INSTANCE_NOT_MANAGED when the cluster has no container instance', async () => {
    ecs.on(ListContainerInstancesCommand).resolves({ containerInstanceArns: [] });

    expect(await hostsReadyCheck('empty', [])).toMatchObject({
      status: 'failed',
      code: 'INSTANCE_NOT_MANAGED',
      detail: expect.stringContaining('empty: 0 container instance(s)'),
    });
  });

  it('fails with PLATFORM_UNSUPPORTED when every online agent is older than the floor, and counts text mode', async () => {
    ecs.on(ListContainerInstancesCommand).resolves({ containerInstanceArns: [CONTAINER_INSTANCE_ARN] });
    ecs
      .on(DescribeContainerInstancesCommand)
      .resolves({ containerInstances: [{ ec2InstanceId: INSTANCE_ID }] });
    ssm.on(DescribeInstanceInformationCommand).resolves({
      InstanceInformationList: [onlineInstance({ AgentVersion: '2.0.700.0' })],
    });

    expect(await hostsReadyCheck(CLUSTER, [CLUSTER])).toMatchObject({
      status: 'failed',
      code: 'PLATFORM_UNSUPPORTED',
    });

    ssm.on(DescribeInstanceInformationCommand).resolves({
      InstanceInformationList: [onlineInstance({ AgentVersion: '3.2.0.0' })],
    });
    expect((await hostsReadyCheck(CLUSTER, [CLUSTER])).detail).toContain('(param mode: 1 text)');
  });

  it('fails a cluster that is not allowed, and one ECS does not know', async () => {
    ecs
      .on(ListContainerInstancesCommand)
      .rejects(
        new ClusterNotFoundException({ message: 'Cluster not found.', $metadata: { httpStatusCode: 400 } }),
      );

    expect(await hostsReadyCheck('staging', [CLUSTER])).toMatchObject({
      status: 'failed',
      code: 'INVALID_ARGUMENT',
    });
    expect(await hostsReadyCheck(CLUSTER, [CLUSTER])).toMatchObject({
      status: 'failed',
      code: 'AWS_ERROR',
      detail: expect.stringContaining('ClusterNotFoundException'),
    });
  });
});

describe('policy-loaded', () => {
  it('is ok when the policy loads with the sha256 synth validated, failed when it does not match', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stack-doctor-'));
    // Two files: the loader caches a policy by its path.
    const [file, other] = [join(dir, 'a.cedar'), join(dir, 'b.cedar')];
    writeFileSync(file, 'permit (principal, action, resource);\n');
    writeFileSync(other, 'permit (principal, action, resource);\n');

    const loaded = policyLoadedCheck({ DEBUG_TASK_POLICY_FILE: file });
    const mismatched = policyLoadedCheck({
      DEBUG_TASK_POLICY_FILE: other,
      DEBUG_TASK_POLICY_SHA256: '00'.repeat(32),
    });
    rmSync(dir, { recursive: true, force: true });

    expect(loaded).toMatchObject({ status: 'ok', detail: expect.stringContaining('policy loads, sha256') });
    expect(mismatched).toMatchObject({
      status: 'failed',
      code: 'AWS_ERROR',
      detail: expect.stringContaining('not the one synth validated'),
    });
  });
});
