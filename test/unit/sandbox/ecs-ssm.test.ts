import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeContainerInstancesCommand,
  ECSClient,
  ListContainerInstancesCommand,
  ListTasksCommand,
} from '@aws-sdk/client-ecs';
import {
  DescribeDocumentCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  InvocationDoesNotExist,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { DebugTaskError } from '../../../lib/domain/errors';
import type { DockerEngine } from '../../../lib/sandbox/docker-api';
import { osRelease, startEcsSsmStandIn, type SsmDocument } from '../../../lib/sandbox/ecs-ssm';

/** The stand-in with a fake engine (no Docker needed): the SSM side and the plumbing. */

const credentials = { accessKeyId: 'AKIATESTFAKE0000000', secretAccessKey: 'test-secret-not-real' };
const doc: SsmDocument = {
  schemaVersion: '2.2',
  parameters: {
    msg: { type: 'String', allowedPattern: '^[a-z]*$', default: '', interpolationType: 'ENV_VAR' },
  },
  mainSteps: [{ action: 'aws:runShellScript', name: 'run', inputs: { runCommand: ['echo "[$SSM_msg]"'] } }],
};

const emptyEngine = (overrides: Partial<DockerEngine> = {}): DockerEngine => ({
  ping: async () => undefined,
  listContainers: async () => [],
  inspectContainer: async () => undefined,
  version: async () => ({ Version: '0.0.0', ApiVersion: '1.41' }),
  ...overrides,
});

/** Runs `doc` once through a stand-in of that agent version; its stdout. */
async function runOnce(agentVersion: string, msg: string): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'dt-standin-'));
  const document: SsmDocument = {
    ...doc,
    mainSteps: [
      {
        action: 'aws:runShellScript',
        name: 'run',
        inputs: { runCommand: ['echo "env=[${SSM_msg-unset}] text=[{{ msg }}]"'] },
      },
    ],
  };
  const standIn = await startEcsSsmStandIn({
    document,
    documentName: 'd',
    home,
    region: 'xx-test-1',
    docker: emptyEngine(),
    agentVersion,
  });
  const ssm = new SSMClient({ endpoint: standIn.endpoint, region: 'xx-test-1', credentials });
  try {
    const sent = await ssm.send(
      new SendCommandCommand({
        DocumentName: 'd',
        DocumentVersion: standIn.document.version,
        DocumentHash: standIn.document.hash,
        DocumentHashType: 'Sha256',
        InstanceIds: [standIn.instanceId],
        Parameters: { msg: [msg] },
      }),
    );
    for (;;) {
      const out = await ssm.send(
        new GetCommandInvocationCommand({
          CommandId: sent.Command!.CommandId!,
          InstanceId: standIn.instanceId,
        }),
      );
      if (out.Status !== 'InProgress' && out.Status !== 'Pending') return out.StandardOutputContent ?? '';
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    ssm.destroy();
    await standIn.stop();
    await rm(home, { recursive: true, force: true });
  }
}

describe('the SSM stand-in as an agent of a given version', () => {
  it('sets SSM_<name> for ENV_VAR parameters from 3.3.2746.0 on, and substitutes the text too', async () => {
    expect(await runOnce('3.3.2746.0', 'hi')).toBe('env=[hi] text=[hi]\n');
  });

  it('only substitutes the text on an older agent (3.2.0.0): no SSM_<name>', async () => {
    expect(await runOnce('3.2.0.0', 'hi')).toBe('env=[unset] text=[hi]\n');
  });
});

describe('the SSM stand-in and document versions', () => {
  it.each([
    ['$LATEST', { DocumentVersion: '$LATEST' }, 'InvalidDocumentVersion'],
    ['$DEFAULT', { DocumentVersion: '$DEFAULT' }, 'InvalidDocumentVersion'],
    ['no version', {}, 'InvalidDocumentVersion'],
    ['a version it does not hold', { DocumentVersion: '2' }, 'InvalidDocumentVersion'],
    ['another hash', { DocumentVersion: '1', DocumentHash: 'ab'.repeat(32) }, 'InvalidDocument'],
  ])('refuses %s, runs nothing, and records what was asked', async (_what, asked, errorName) => {
    const standIn = await startEcsSsmStandIn({
      document: doc,
      documentName: 'd',
      home: '/tmp',
      region: 'xx-test-1',
      docker: emptyEngine(),
    });
    const ssm = new SSMClient({ endpoint: standIn.endpoint, region: 'xx-test-1', credentials });
    try {
      await expect(
        ssm.send(new SendCommandCommand({ DocumentName: 'd', InstanceIds: [standIn.instanceId], ...asked })),
      ).rejects.toMatchObject({ name: errorName });
      expect(standIn.documentRequests).toEqual([
        {
          documentVersion: (asked as { DocumentVersion?: string }).DocumentVersion,
          documentHash: (asked as { DocumentHash?: string }).DocumentHash,
          documentHashType: undefined,
        },
      ]);
    } finally {
      ssm.destroy();
      await standIn.stop();
    }
  });
});

describe('what doctor --stack asks the stand-in', () => {
  it('describes its one document at its one version with the hash SendCommand checks; refuses any other', async () => {
    const standIn = await startEcsSsmStandIn({
      document: doc,
      documentName: 'd',
      home: '/tmp',
      region: 'xx-test-1',
      docker: emptyEngine(),
    });
    const ssm = new SSMClient({ endpoint: standIn.endpoint, region: 'xx-test-1', credentials });
    try {
      const { Document } = await ssm.send(
        new DescribeDocumentCommand({ Name: 'd', DocumentVersion: standIn.document.version }),
      );
      expect(Document).toMatchObject({
        Name: 'd',
        DocumentVersion: standIn.document.version,
        Status: 'Active',
        Hash: standIn.document.hash,
        HashType: 'Sha256',
      });
      await expect(
        ssm.send(new DescribeDocumentCommand({ Name: 'd', DocumentVersion: '2' })),
      ).rejects.toMatchObject({
        name: 'InvalidDocument',
      });
      await expect(ssm.send(new DescribeDocumentCommand({ Name: 'other' }))).rejects.toMatchObject({
        name: 'InvalidDocument',
      });
    } finally {
      ssm.destroy();
      await standIn.stop();
    }
  });

  it('lists its one container instance in the clusters the engine has tasks of, and none elsewhere', async () => {
    const taskArn = 'arn:aws:ecs:xx-test-1:000000000000:task/prod/0123456789abcdef0123456789abcdef';
    const standIn = await startEcsSsmStandIn({
      document: doc,
      documentName: 'd',
      home: '/tmp',
      region: 'xx-test-1',
      docker: emptyEngine({
        listContainers: async () => [{ Id: 'a'.repeat(64) }] as never,
        inspectContainer: async () =>
          ({
            Id: 'a'.repeat(64),
            Created: '2026-01-01T10:00:00.000Z',
            Image: 'sha256:abc',
            Config: {
              Image: 'busybox:local',
              Labels: {
                'com.amazonaws.ecs.task-arn': taskArn,
                'com.amazonaws.ecs.container-name': 'app',
                'com.amazonaws.ecs.cluster': 'prod',
              },
            },
            State: {
              Status: 'running',
              Running: true,
              ExitCode: 0,
              StartedAt: '2026-01-01T10:00:01.000Z',
              FinishedAt: '0001-01-01T00:00:00Z',
            },
            NetworkSettings: { Networks: {} },
          }) as never,
      }),
    });
    const ecs = new ECSClient({ endpoint: standIn.endpoint, region: 'xx-test-1', credentials });
    try {
      const prod = await ecs.send(new ListContainerInstancesCommand({ cluster: 'prod', status: 'ACTIVE' }));
      const empty = await ecs.send(new ListContainerInstancesCommand({ cluster: 'empty' }));

      expect(prod.containerInstanceArns).toEqual([
        expect.stringMatching(/:container-instance\/prod\/[0-9a-f]{32}$/),
      ]);
      expect(empty.containerInstanceArns).toEqual([]);
    } finally {
      ecs.destroy();
      await standIn.stop();
    }
  });
});

describe('the ECS stand-in and the engine', () => {
  it("asks the engine's version once, not at every DescribeContainerInstances, and again after a failed ask", async () => {
    let asked = 0;
    const standIn = await startEcsSsmStandIn({
      document: doc,
      documentName: 'd',
      home: '/tmp',
      region: 'xx-test-1',
      docker: emptyEngine({
        version: async () => {
          asked++;
          if (asked === 1) throw new Error('engine busy');
          return { Version: '27.3.1', ApiVersion: '1.47' };
        },
      }),
    });
    const ecs = new ECSClient({
      endpoint: standIn.endpoint,
      region: 'xx-test-1',
      credentials,
      maxAttempts: 1,
    });
    const describe = () =>
      ecs.send(new DescribeContainerInstancesCommand({ cluster: 'c', containerInstances: ['x'] }));
    try {
      await expect(describe()).rejects.toMatchObject({ name: 'ServerException' });
      await describe();
      await describe();

      expect(asked).toBe(2);
    } finally {
      ecs.destroy();
      await standIn.stop();
    }
  });
});

describe('startEcsSsmStandIn', () => {
  it('refuses to start without a Docker engine, with SANDBOX_UNAVAILABLE', async () => {
    const docker = emptyEngine({
      ping: async () => {
        throw new DebugTaskError('SANDBOX_UNAVAILABLE', 'The local Docker engine does not answer.');
      },
    });
    await expect(
      startEcsSsmStandIn({ document: doc, documentName: 'd', home: '/tmp', region: 'xx-test-1', docker }),
    ).rejects.toMatchObject({ code: 'SANDBOX_UNAVAILABLE' });
  });

  it('refuses a document it cannot run faithfully', async () => {
    await expect(
      startEcsSsmStandIn({
        document: { ...doc, mainSteps: [] },
        documentName: 'd',
        home: '/tmp',
        region: 'xx-test-1',
        docker: emptyEngine(),
      }),
    ).rejects.toThrow(/cannot run in the sandbox/);
  });

  it('reports the platform and agent version it is given', async () => {
    const standIn = await startEcsSsmStandIn({
      document: doc,
      documentName: 'd',
      home: '/tmp',
      region: 'xx-test-1',
      docker: emptyEngine(),
      platform: { name: 'Flatcar Container Linux by Kinvolk', version: '3815.2.0' },
      agentVersion: '3.2.0.0',
    });
    const ssm = new SSMClient({ endpoint: standIn.endpoint, region: 'xx-test-1', credentials });
    try {
      const { InstanceInformationList } = await ssm.send(new DescribeInstanceInformationCommand({}));
      expect(InstanceInformationList![0]).toMatchObject({
        PlatformName: 'Flatcar Container Linux by Kinvolk',
        PlatformVersion: '3815.2.0',
        AgentVersion: '3.2.0.0',
      });
    } finally {
      ssm.destroy();
      await standIn.stop();
    }
  });

  it('is eventually consistent when asked: InvocationDoesNotExist right after SendCommand, then the result', async () => {
    const standIn = await startEcsSsmStandIn({
      document: doc,
      documentName: 'd',
      home: '/tmp',
      region: 'xx-test-1',
      docker: emptyEngine(),
      // Wide enough that a loaded machine still asks within it (the first answer must be "not yet").
      consistencyDelayMs: 3000,
    });
    const ssm = new SSMClient({ endpoint: standIn.endpoint, region: 'xx-test-1', credentials });
    try {
      // Before the send: the stand-in's clock starts when it takes the command, after this.
      const sentAt = Date.now();
      const sent = await ssm.send(
        new SendCommandCommand({
          DocumentName: 'd',
          DocumentVersion: standIn.document.version,
          InstanceIds: [standIn.instanceId],
          Parameters: { msg: ['hi'] },
        }),
      );
      expect(sent.Command).toMatchObject({
        Status: 'Pending',
        DocumentName: 'd',
        InstanceIds: [standIn.instanceId],
      });
      const get = () =>
        ssm.send(
          new GetCommandInvocationCommand({
            CommandId: sent.Command!.CommandId!,
            InstanceId: standIn.instanceId,
          }),
        );
      await expect(get()).rejects.toBeInstanceOf(InvocationDoesNotExist);
      // Then, once the window has passed, the result (asked until it comes, for a slow machine).
      let answer: Awaited<ReturnType<typeof get>> | undefined;
      while (!answer && Date.now() - sentAt < 15_000) {
        await new Promise((r) => setTimeout(r, 250));
        answer = await get().catch((error: unknown) => {
          if (error instanceof InvocationDoesNotExist) return undefined;
          throw error;
        });
      }
      expect(Date.now() - sentAt).toBeGreaterThanOrEqual(3000);
      expect(answer).toMatchObject({ Status: 'Success', StandardOutputContent: '[hi]\n' });
    } finally {
      ssm.destroy();
      await standIn.stop();
    }
  });

  it('answers 500 ServerException when the engine fails mid-call, and still records the call', async () => {
    const docker = emptyEngine({
      listContainers: async () => {
        throw new Error('engine went away');
      },
    });
    const standIn = await startEcsSsmStandIn({
      document: doc,
      documentName: 'd',
      home: '/tmp',
      region: 'xx-test-1',
      docker,
    });
    const ecs = new ECSClient({
      endpoint: standIn.endpoint,
      region: 'xx-test-1',
      credentials,
      maxAttempts: 1,
    });
    try {
      await expect(ecs.send(new ListTasksCommand({}))).rejects.toMatchObject({
        name: 'ServerException',
        $metadata: { httpStatusCode: 500 },
      });
      expect(standIn.calls).toEqual([{ service: 'ecs', action: 'ListTasks' }]);
    } finally {
      ecs.destroy();
      await standIn.stop();
    }
  });
});

describe('osRelease', () => {
  it('reads NAME and VERSION_ID, quoted or not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'debug-task-os-release-'));
    try {
      await writeFile(
        join(dir, 'os-release'),
        'NAME="Amazon Linux"\nVERSION="2023"\nVERSION_ID=2023\nID=amzn\n',
      );
      expect(osRelease(join(dir, 'os-release'))).toEqual({ name: 'Amazon Linux', version: '2023' });
      expect(osRelease(join(dir, 'missing'))).toEqual({ name: 'Linux', version: '' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
