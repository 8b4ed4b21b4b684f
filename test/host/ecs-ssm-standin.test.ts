import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeContainerInstancesCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  paginateListTasks,
} from '@aws-sdk/client-ecs';
import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  InvalidDocument,
  InvalidInstanceId,
  InvalidParameters,
  InvalidPluginName,
  InvocationDoesNotExist,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  SSMClient,
  type GetCommandInvocationCommandOutput,
} from '@aws-sdk/client-ssm';
import { HOST_PARAMS } from '../../lib/domain/params';
import {
  ecsTaskLabels,
  startEcsSsmStandIn,
  type EcsSsmStandIn,
  type SsmDocument,
} from '../../lib/sandbox/ecs-ssm';
import { requireDocker } from '../support/docker';

/**
 * The ECS + SSM stand-in against the real Docker engine, driven by the real SDK clients.
 * Without an engine the suite fails (never skips) with how to start one.
 */

const REGION = 'xx-test-1';
const ACCOUNT = '123456789012';
const IMAGE = 'debug-task-test/busybox:local';
// Unique per run: other suites may run labelled containers of their own at the same time.
const CLUSTER = `standin-${randomBytes(4).toString('hex')}`;
const credentials = { accessKeyId: 'AKIATESTFAKE0000000', secretAccessKey: 'test-secret-not-real' };

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', timeout: 60_000 }).trim();
}

/** A tiny local image (no registry is reachable): Debian's static busybox plus its applet links. */
function ensureBusyboxImage(): void {
  try {
    docker('image', 'inspect', IMAGE);
    return;
  } catch {
    // not built yet
  }
  const root = mkdtempSync(join(tmpdir(), 'debug-task-busybox-'));
  try {
    mkdirSync(join(root, 'bin'));
    copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
    for (const applet of execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n')) {
      if (applet && applet !== 'busybox') symlinkSync('busybox', join(root, 'bin', applet));
    }
    const tar = execFileSync('tar', ['-C', root, '-c', '.'], { maxBuffer: 64 * 1024 * 1024 });
    execFileSync(
      'docker',
      ['import', '--change', 'ENV PATH=/bin', '--change', 'CMD ["sleep", "3600"]', '-', IMAGE],
      {
        input: tar,
        stdio: ['pipe', 'ignore', 'inherit'],
      },
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const taskArn = (cluster: string) =>
  `arn:aws:ecs:${REGION}:${ACCOUNT}:task/${cluster}/${randomBytes(16).toString('hex')}`;

/** The document of these tests: small, but shaped like the real one (ENV_VAR, patterns, timeout). */
function document(msgPattern: string): SsmDocument {
  return {
    schemaVersion: '2.2',
    parameters: {
      msg: {
        type: 'String',
        allowedPattern: msgPattern,
        maxChars: 200,
        default: '',
        interpolationType: 'ENV_VAR',
      },
      containerId: {
        type: 'String',
        allowedPattern: HOST_PARAMS.containerId.pattern,
        default: '0'.repeat(12),
        interpolationType: 'ENV_VAR',
      },
      sleepSeconds: {
        type: 'String',
        allowedPattern: '^[0-9]{1,3}$',
        default: '0',
        interpolationType: 'ENV_VAR',
      },
      exitCode: {
        type: 'String',
        allowedPattern: '^[0-9]{1,3}$',
        default: '0',
        interpolationType: 'ENV_VAR',
      },
      pidFile: {
        type: 'String',
        allowedPattern: '^(/[A-Za-z0-9._-]+)*$',
        default: '',
        interpolationType: 'ENV_VAR',
      },
      executionTimeout: {
        type: 'String',
        allowedPattern: '^[0-9]{1,5}$',
        default: '60',
        interpolationType: 'ENV_VAR',
      },
    },
    mainSteps: [
      {
        action: 'aws:runShellScript',
        name: 'runDebugTask',
        inputs: {
          timeoutSeconds: '{{ executionTimeout }}',
          runCommand: [
            '#!/bin/bash',
            'set -u',
            'printf "msg=%s\\n" "$SSM_msg"',
            'echo "home=$DEBUG_TASK_HOME instance=$AWS_SSM_INSTANCE_ID key=${AWS_ACCESS_KEY_ID-none}"',
            'if [ "$SSM_containerId" != 000000000000 ]; then',
            // A Go template in the script: the agent's {{ name }} substitution must leave it alone.
            '  echo "running=$(docker inspect -f \'{{.State.Running}}\' "$SSM_containerId")"',
            'fi',
            'if [ "$SSM_sleepSeconds" != 0 ]; then',
            '  sleep "$SSM_sleepSeconds" &',
            '  if [ -n "$SSM_pidFile" ]; then echo $! > "$SSM_pidFile"; fi',
            '  wait',
            'fi',
            'echo "stderr line" >&2',
            'exit "$SSM_exitCode"',
          ],
        },
      },
    ],
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > end) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The version and hash the stand-in holds: a send names them, as the deployment's functions do. */
const pinned = (standIn: { document: { version: string; hash: string } }) => ({
  DocumentVersion: standIn.document.version,
  DocumentHash: standIn.document.hash,
  DocumentHashType: 'Sha256' as const,
});

describe('ECS + SSM stand-in over the local Docker engine', () => {
  jest.setTimeout(60_000);

  const containers: string[] = [];
  let standIn: EcsSsmStandIn;
  let ecs: ECSClient;
  let ssm: SSMClient;
  let work: string;
  const web = taskArn(CLUSTER);
  const worker = taskArn(CLUSTER);
  const stopped = taskArn(CLUSTER);
  const elsewhere = taskArn('other');
  const ids: Record<string, string> = {};

  function run(arn: string, name: string, extra: { service?: string; args?: string[] } = {}): string {
    const labels = ecsTaskLabels({
      taskArn: arn,
      containerName: name,
      cluster: arn.split('/')[1],
      family: 'web',
      revision: 3,
      serviceName: extra.service,
    });
    const id = docker(
      'run',
      '-d',
      '--network',
      'none',
      ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
      IMAGE,
      ...(extra.args ?? []),
    );
    containers.push(id);
    return id;
  }

  const invocation = (commandId: string): Promise<GetCommandInvocationCommandOutput> =>
    ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: standIn.instanceId }));

  const send = async (parameters: Record<string, string[]>) =>
    (
      await ssm.send(
        new SendCommandCommand({
          DocumentName: 'debug-task-test',
          ...pinned(standIn),
          InstanceIds: [standIn.instanceId],
          Parameters: parameters,
        }),
      )
    ).Command!.CommandId!;

  const finished = (commandId: string) =>
    until(
      () => invocation(commandId),
      (r) => !['Pending', 'InProgress', 'Cancelling'].includes(r.Status!),
    );

  beforeAll(async () => {
    requireDocker();
    ensureBusyboxImage();
    work = mkdtempSync(join(tmpdir(), 'debug-task-standin-test-'));
    ids.web = run(web, 'app', { service: 'web-svc' });
    ids.pause = run(web, '~internal~ecs~pause');
    ids.workerApp = run(worker, 'app', { service: 'web-svc' });
    ids.workerSidecar = run(worker, 'sidecar', { service: 'web-svc' });
    ids.stopped = run(stopped, 'app', { args: ['sh', '-c', 'exit 3'] });
    ids.elsewhere = run(elsewhere, 'app');
    docker('wait', ids.stopped);

    standIn = await startEcsSsmStandIn({
      document: document('^[A-Za-z0-9 ]*$'),
      documentName: 'debug-task-test',
      home: join(work, 'home'),
      region: REGION,
      accountId: ACCOUNT,
      killGraceMs: 500,
    });
    ecs = new ECSClient({ endpoint: standIn.endpoint, region: REGION, credentials });
    ssm = new SSMClient({ endpoint: standIn.endpoint, region: REGION, credentials });
  });

  afterAll(async () => {
    ecs?.destroy();
    ssm?.destroy();
    await standIn?.stop();
    if (containers.length) execFileSync('docker', ['rm', '-f', ...containers], { stdio: 'ignore' });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  describe('ECS', () => {
    it('describes a running task by ARN and by id: containers with their full Docker ids, on the sandbox instance', async () => {
      const byArn = await ecs.send(
        new DescribeTasksCommand({ cluster: CLUSTER, tasks: [web, worker.split('/')[2]] }),
      );
      expect(byArn.failures).toEqual([]);
      const [webTask, workerTask] = byArn.tasks!;
      expect(webTask).toMatchObject({
        taskArn: web,
        clusterArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${CLUSTER}`,
        taskDefinitionArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/web:3`,
        lastStatus: 'RUNNING',
        desiredStatus: 'RUNNING',
        launchType: 'EC2',
        group: 'service:web-svc',
      });
      expect(webTask.containerInstanceArn).toMatch(
        new RegExp(`^arn:aws:ecs:${REGION}:${ACCOUNT}:container-instance/${CLUSTER}/[0-9a-f]{32}$`),
      );
      expect(webTask.startedAt).toBeInstanceOf(Date);
      // The pause container is the agent's, never listed.
      expect(webTask.containers!.map((c) => [c.name, c.runtimeId, c.lastStatus])).toEqual([
        ['app', ids.web, 'RUNNING'],
      ]);
      expect(workerTask.containers!.map((c) => [c.name, c.runtimeId])).toEqual([
        ['app', ids.workerApp],
        ['sidecar', ids.workerSidecar],
      ]);
    });

    it('reports unknown tasks and tasks of another cluster as MISSING failures', async () => {
      const unknown = `arn:aws:ecs:${REGION}:${ACCOUNT}:task/sandbox/${'f'.repeat(32)}`;
      const answer = await ecs.send(
        new DescribeTasksCommand({ cluster: CLUSTER, tasks: [unknown, elsewhere] }),
      );
      expect(answer.tasks).toEqual([]);
      expect(answer.failures).toEqual([
        { arn: unknown, reason: 'MISSING' },
        { arn: elsewhere, reason: 'MISSING' },
      ]);
      const inDefault = await ecs.send(new DescribeTasksCommand({ tasks: [web] }));
      expect(inDefault.failures).toEqual([{ arn: web, reason: 'MISSING' }]);
    });

    it('describes an exited task as STOPPED with its exit code', async () => {
      const { tasks } = await ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [stopped] }));
      expect(tasks![0]).toMatchObject({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED' });
      expect(tasks![0].containers![0]).toMatchObject({ lastStatus: 'STOPPED', exitCode: 3 });
    });

    it('lists tasks by cluster, desired status and service, page by page', async () => {
      const running = await ecs.send(new ListTasksCommand({ cluster: CLUSTER }));
      expect(running.taskArns!.sort()).toEqual([web, worker].sort());
      const byService = await ecs.send(new ListTasksCommand({ cluster: CLUSTER, serviceName: 'web-svc' }));
      expect(byService.taskArns!.sort()).toEqual([web, worker].sort());
      const stoppedOnes = await ecs.send(
        new ListTasksCommand({ cluster: CLUSTER, desiredStatus: 'STOPPED' }),
      );
      expect(stoppedOnes.taskArns).toEqual([stopped]);

      const pages: string[][] = [];
      for await (const page of paginateListTasks({ client: ecs, pageSize: 1 }, { cluster: CLUSTER }))
        pages.push(page.taskArns!);
      expect(pages).toHaveLength(2);
      expect(pages.flat().sort()).toEqual([web, worker].sort());
    });

    it('describes the one container instance: this machine, ACTIVE, agent connected', async () => {
      const { tasks } = await ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [web] }));
      const arn = tasks![0].containerInstanceArn!;
      const answer = await ecs.send(
        new DescribeContainerInstancesCommand({
          cluster: CLUSTER,
          containerInstances: [arn, 'f'.repeat(32)],
        }),
      );
      expect(answer.containerInstances).toHaveLength(1);
      expect(answer.containerInstances![0]).toMatchObject({
        containerInstanceArn: arn,
        ec2InstanceId: standIn.instanceId,
        status: 'ACTIVE',
        agentConnected: true,
        runningTasksCount: 2,
      });
      expect(standIn.instanceId).toMatch(/^i-0[0-9a-f]{16}$/);
      expect(answer.failures).toEqual([
        { arn: expect.stringMatching(new RegExp(`container-instance/${CLUSTER}/f{32}$`)), reason: 'MISSING' },
      ]);
    });

    it('reads the engine on every call: a container stopped meanwhile shows as STOPPED', async () => {
      const arn = taskArn(CLUSTER);
      const id = run(arn, 'app');
      const before = await ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [arn] }));
      expect(before.tasks![0].lastStatus).toBe('RUNNING');
      docker('kill', id);
      const after = await ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [arn] }));
      expect(after.tasks![0].lastStatus).toBe('STOPPED');
      docker('rm', '-f', id);
      const gone = await ecs.send(new DescribeTasksCommand({ cluster: CLUSTER, tasks: [arn] }));
      expect(gone.failures).toEqual([{ arn, reason: 'MISSING' }]);
    });

    it('is reached through AWS_ENDPOINT_URL_ECS and AWS_ENDPOINT_URL_SSM, as the handlers reach it', async () => {
      const saved = { ecs: process.env.AWS_ENDPOINT_URL_ECS, ssm: process.env.AWS_ENDPOINT_URL_SSM };
      process.env.AWS_ENDPOINT_URL_ECS = standIn.endpoint;
      process.env.AWS_ENDPOINT_URL_SSM = standIn.endpoint;
      const envEcs = new ECSClient({ region: REGION, credentials });
      const envSsm = new SSMClient({ region: REGION, credentials });
      try {
        const before = standIn.calls.length;
        await envEcs.send(new ListTasksCommand({ cluster: CLUSTER }));
        await envSsm.send(new DescribeInstanceInformationCommand({}));
        expect(standIn.calls.slice(before)).toEqual([
          { service: 'ecs', action: 'ListTasks' },
          { service: 'ssm', action: 'DescribeInstanceInformation' },
        ]);
      } finally {
        envEcs.destroy();
        envSsm.destroy();
        for (const [name, value] of [
          ['AWS_ENDPOINT_URL_ECS', saved.ecs],
          ['AWS_ENDPOINT_URL_SSM', saved.ssm],
        ] as const) {
          if (value === undefined) delete process.env[name];
          else process.env[name] = value;
        }
      }
    });
  });

  describe('SSM', () => {
    it('describes the one managed instance: Online Linux, an agent with ENV_VAR interpolation', async () => {
      const all = await ssm.send(new DescribeInstanceInformationCommand({}));
      expect(all.InstanceInformationList).toHaveLength(1);
      const info = all.InstanceInformationList![0];
      expect(info).toMatchObject({
        InstanceId: standIn.instanceId,
        PingStatus: 'Online',
        PlatformType: 'Linux',
        ResourceType: 'EC2Instance',
      });
      expect(info.PlatformName).toBeTruthy();
      expect(info.AgentVersion!.split('.').map(Number)).toEqual([3, 3, 2746, 0]);

      const byId = await ssm.send(
        new DescribeInstanceInformationCommand({
          Filters: [{ Key: 'InstanceIds', Values: [standIn.instanceId] }],
        }),
      );
      expect(byId.InstanceInformationList).toHaveLength(1);
      const unknown = await ssm.send(
        new DescribeInstanceInformationCommand({
          Filters: [{ Key: 'InstanceIds', Values: ['i-0aaaaaaaaaaaaaaaa'] }],
        }),
      );
      expect(unknown.InstanceInformationList).toEqual([]);
    });

    it('runs the document: InProgress with empty output, then Success with stdout, stderr and the environment', async () => {
      const commandId = await send({ msg: ['hello world'], containerId: [ids.web], sleepSeconds: ['1'] });
      const first = await invocation(commandId);
      expect(first).toMatchObject({
        Status: 'InProgress',
        ResponseCode: -1,
        StandardOutputContent: '',
        PluginName: 'runDebugTask',
      });

      const done = await finished(commandId);
      expect(done).toMatchObject({
        Status: 'Success',
        StatusDetails: 'Success',
        ResponseCode: 0,
        StandardErrorContent: 'stderr line\n',
      });
      expect(done.StandardOutputContent).toBe(
        `msg=hello world\nhome=${join(work, 'home')} instance=${standIn.instanceId} key=none\nrunning=true\n`,
      );
      expect(done.ExecutionEndDateTime).not.toBe('');
    });

    it('reports a non-zero exit as Failed with its ResponseCode', async () => {
      const done = await finished(await send({ exitCode: ['3'] }));
      expect(done).toMatchObject({ Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 3 });
    });

    it('rejects a hostile value with allowedPattern before anything runs', async () => {
      const marker = join(work, 'pwned-by-pattern');
      await expect(send({ msg: [`$(touch ${marker})`] })).rejects.toBeInstanceOf(InvalidParameters);
      expect(existsSync(marker)).toBe(false);
    });

    it('with a permissive pattern, echoes a hostile value literally and never executes it', async () => {
      const permissive = await startEcsSsmStandIn({
        document: document('^.*$'),
        documentName: 'debug-task-test',
        home: join(work, 'home'),
        region: REGION,
      });
      const client = new SSMClient({ endpoint: permissive.endpoint, region: REGION, credentials });
      const marker = join(work, 'pwned');
      const hostile = `$(touch ${marker}) \`touch ${marker}\`; touch ${marker}`;
      try {
        const sent = await client.send(
          new SendCommandCommand({
            DocumentName: 'debug-task-test',
            ...pinned(permissive),
            InstanceIds: [permissive.instanceId],
            Parameters: { msg: [hostile] },
          }),
        );
        const done = await until(
          () =>
            client.send(
              new GetCommandInvocationCommand({
                CommandId: sent.Command!.CommandId!,
                InstanceId: permissive.instanceId,
              }),
            ),
          (r) => r.Status !== 'InProgress',
        );
        expect(done.Status).toBe('Success');
        expect(done.StandardOutputContent!.split('\n')[0]).toBe(`msg=${hostile}`);
        expect(existsSync(marker)).toBe(false);
      } finally {
        client.destroy();
        await permissive.stop();
      }
    });

    it('answers the modeled errors: unknown parameter, document, instance, invocation, plugin name', async () => {
      await expect(send({ nope: ['x'] })).rejects.toBeInstanceOf(InvalidParameters);
      await expect(
        ssm.send(
          new SendCommandCommand({ DocumentName: 'AWS-RunShellScript', InstanceIds: [standIn.instanceId] }),
        ),
      ).rejects.toBeInstanceOf(InvalidDocument);
      await expect(
        ssm.send(
          new SendCommandCommand({
            DocumentName: 'debug-task-test',
            ...pinned(standIn),
            InstanceIds: ['i-0aaaaaaaaaaaaaaaa'],
          }),
        ),
      ).rejects.toBeInstanceOf(InvalidInstanceId);
      await expect(
        ssm.send(
          new GetCommandInvocationCommand({
            CommandId: '00000000-0000-0000-0000-000000000000',
            InstanceId: standIn.instanceId,
          }),
        ),
      ).rejects.toBeInstanceOf(InvocationDoesNotExist);
      const commandId = await send({});
      await expect(
        ssm.send(
          new GetCommandInvocationCommand({
            CommandId: commandId,
            InstanceId: standIn.instanceId,
            PluginName: 'aws:runShellScript',
          }),
        ),
      ).rejects.toBeInstanceOf(InvalidPluginName);
      await finished(commandId);
    });

    it('cancels a running command: the whole process group dies, status Cancelled', async () => {
      const pidFile = join(work, 'cancel.pid');
      const commandId = await send({ sleepSeconds: ['30'], pidFile: [pidFile] });
      await until(async () => existsSync(pidFile), Boolean, 5000);
      const sleeper = Number(readFileSync(pidFile, 'utf8').trim());
      expect(alive(sleeper)).toBe(true);

      await ssm.send(new CancelCommandCommand({ CommandId: commandId, InstanceIds: [standIn.instanceId] }));
      const done = await finished(commandId);
      expect(done).toMatchObject({ Status: 'Cancelled', StatusDetails: 'Cancelled', ResponseCode: 137 });
      expect(
        await until(
          async () => alive(sleeper),
          (a) => !a,
          5000,
        ),
      ).toBe(false);
    });

    it('enforces the step`s timeoutSeconds ({{ executionTimeout }}): TimedOut / ExecutionTimedOut', async () => {
      const pidFile = join(work, 'timeout.pid');
      const started = Date.now();
      const commandId = await send({ sleepSeconds: ['30'], pidFile: [pidFile], executionTimeout: ['5'] });
      const done = await finished(commandId);
      const elapsed = Date.now() - started;
      expect(done).toMatchObject({
        Status: 'TimedOut',
        StatusDetails: 'ExecutionTimedOut',
        ResponseCode: 137,
      });
      expect(elapsed).toBeGreaterThanOrEqual(4900);
      expect(elapsed).toBeLessThan(15_000);
      const sleeper = Number(readFileSync(pidFile, 'utf8').trim());
      expect(
        await until(
          async () => alive(sleeper),
          (a) => !a,
          5000,
        ),
      ).toBe(false);
    });

    it('lists invocations, newest first, with plugin details on request', async () => {
      const commandId = await send({ msg: ['listed'] });
      await finished(commandId);
      const { CommandInvocations } = await ssm.send(
        new ListCommandInvocationsCommand({ CommandId: commandId, Details: true }),
      );
      expect(CommandInvocations).toHaveLength(1);
      expect(CommandInvocations![0]).toMatchObject({
        CommandId: commandId,
        InstanceId: standIn.instanceId,
        Status: 'Success',
      });
      expect(CommandInvocations![0].CommandPlugins![0]).toMatchObject({
        Name: 'runDebugTask',
        ResponseCode: 0,
      });
      const all = await ssm.send(new ListCommandInvocationsCommand({}));
      expect(all.CommandInvocations![0].CommandId).toBe(commandId);
    });

    it('records every call with its service and action', () => {
      expect(standIn.calls.length).toBeGreaterThan(10);
      expect(standIn.calls).toContainEqual({ service: 'ecs', action: 'DescribeTasks' });
      expect(standIn.calls).toContainEqual({ service: 'ssm', action: 'SendCommand' });
      expect(standIn.calls.every((c) => ['ecs', 'ssm'].includes(c.service))).toBe(true);
    });
  });

  it('stop() kills a command that is still running and closes the server', async () => {
    const other = await startEcsSsmStandIn({
      document: document('^.*$'),
      documentName: 'debug-task-test',
      home: join(work, 'home'),
      region: REGION,
      killGraceMs: 200,
    });
    const client = new SSMClient({ endpoint: other.endpoint, region: REGION, credentials, maxAttempts: 1 });
    const pidFile = join(work, 'stop.pid');
    try {
      await client.send(
        new SendCommandCommand({
          DocumentName: 'debug-task-test',
          ...pinned(other),
          InstanceIds: [other.instanceId],
          Parameters: { sleepSeconds: ['30'], pidFile: [pidFile] },
        }),
      );
      await until(async () => existsSync(pidFile), Boolean, 5000);
      const sleeper = Number(readFileSync(pidFile, 'utf8').trim());
      await other.stop();
      expect(alive(sleeper)).toBe(false);
      await expect(client.send(new DescribeInstanceInformationCommand({}))).rejects.toThrow();
    } finally {
      client.destroy();
      await other.stop();
    }
  });
});
