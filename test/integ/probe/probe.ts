import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import { GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { AuditRecord } from '../../../lib/audit/events';
import { DebugTaskClient } from '../../../lib/client/api-client';
import { downloadArtifact } from '../../../lib/cli/download';
import { DebugTaskError } from '../../../lib/domain/errors';
import type { ArtifactRef, SessionView } from '../../../lib/domain/session';

/**
 * The integration test's probe (test/integ/integ.debug-task.ts): a Lambda function in the account
 * under test that uses debug-task as a user would, through the real API with SigV4 (the typed
 * client, with the function's own role), and checks what a user cannot see from the API alone
 * (the pcap's packets, the deployment's audit log, the containers left on the host), and that a
 * second principal of the account (the role OTHER_ROLE_ARN) is refused the probe's session.
 *
 * Each invocation is short (the assertion provider waits 2 minutes at most): `start-*` starts a
 * session and returns its id; `check-*` looks once and returns a verdict the assertion compares,
 * `{"status": "RUNNING"}` while the session runs (the assertion's waiter asks again).
 */
export type ProbeEvent =
  | { action: 'start-task' }
  | { action: 'start-service' }
  | { action: 'check-task'; sessionId: string }
  | { action: 'check-service'; sessionId: string }
  | { action: 'refuse-fargate' }
  | { action: 'refuse-other'; sessionId: string };

/** The container of the demo tasks a capture sits next to (its eth0 sees every call of `client`). */
export const DEMO_CONTAINER = 'web';
/** Seconds of capture: the demo client calls every second, so 10 s hold about 10 calls. */
export const CAPTURE_SECONDS = 10;

export interface ProbeEnvironment {
  /** Name of the debug-task stack under test: its outputs give the API URL and the bucket. */
  readonly stackName: string;
  readonly cluster: string;
  readonly demoService: string;
  readonly fargateService: string;
  /** The testbed's container instance, where no toolbox container may be left. */
  readonly instanceId: string;
  /** The audit log group of the stack under test. */
  readonly auditLogGroup: string;
  /** A second principal of the account, which the probe assumes: IAM lets it invoke the API. */
  readonly otherRoleArn: string;
}

export function environmentFromProcess(env: NodeJS.ProcessEnv = process.env): ProbeEnvironment {
  const need = (name: string) => {
    const value = env[name];
    if (!value) throw new Error(`The probe needs the environment variable ${name}.`);
    return value;
  };
  return {
    stackName: need('DEBUG_TASK_STACK'),
    cluster: need('CLUSTER'),
    demoService: need('DEMO_SERVICE'),
    fargateService: need('FARGATE_SERVICE'),
    instanceId: need('INSTANCE_ID'),
    auditLogGroup: need('AUDIT_LOG_GROUP'),
    otherRoleArn: need('OTHER_ROLE_ARN'),
  };
}

/** The SDK clients of the probe, made once per container; tests may pass their own. */
export interface ProbeClients {
  readonly cloudFormation: CloudFormationClient;
  readonly ecs: ECSClient;
  readonly logs: CloudWatchLogsClient;
  readonly ssm: SSMClient;
  readonly sts: STSClient;
}

export function defaultClients(): ProbeClients {
  return {
    cloudFormation: new CloudFormationClient({}),
    ecs: new ECSClient({}),
    logs: new CloudWatchLogsClient({}),
    ssm: new SSMClient({}),
    sts: new STSClient({}),
  };
}

export class Probe {
  private deployment?: Promise<{ api: DebugTaskClient; apiUrl: string }>;

  constructor(
    private readonly env: ProbeEnvironment,
    private readonly clients: ProbeClients,
  ) {}

  async run(event: ProbeEvent): Promise<unknown> {
    switch (event.action) {
      case 'start-task':
        return this.startTask();
      case 'start-service':
        return this.startService();
      case 'check-task':
        return this.checkTask(event.sessionId);
      case 'check-service':
        return this.checkService(event.sessionId);
      case 'refuse-fargate':
        return this.refuseFargate();
      case 'refuse-other':
        return this.refuseOther(event.sessionId);
    }
  }

  private async startTask(): Promise<{ sessionId: string }> {
    const [task] = await this.runningTasks(this.env.demoService);
    const { api } = await this.deploymentUnderTest();
    return api.startSession({
      target: { task, container: DEMO_CONTAINER },
      tool: 'tcpdump',
      durationSeconds: CAPTURE_SECONDS,
      reason: 'debug-task integration test',
    });
  }

  private async startService(): Promise<{ sessionId: string }> {
    const { api } = await this.deploymentUnderTest();
    return api.startSession({
      target: { service: this.env.demoService, cluster: this.env.cluster, container: DEMO_CONTAINER },
      tool: 'tcpdump',
      durationSeconds: CAPTURE_SECONDS,
      reason: 'debug-task integration test',
    });
  }

  /**
   * One session next to one task: SUCCEEDED, verified artifact with packets, nothing left, and the
   * caller named where an auditor looks: the session as the API recorded it, and the audit log's
   * `session.requested`; the log's `session.ended` holds the artifact's sha256.
   */
  private async checkTask(sessionId: string) {
    const { api } = await this.deploymentUnderTest();
    const view = await api.getSession(sessionId);
    if (view.status === 'RUNNING') return { status: 'RUNNING', phase: view.phase };
    // A one-task session is its one child.
    const child = view.result?.children[0];
    const url = child ? view.downloadUrls?.[child.sessionId] : undefined;
    if (view.status !== 'SUCCEEDED' || !child?.artifact || !url) return failed(view);

    const artifact = await this.verifiedPackets(url, child.artifact, sessionId);
    const self = await this.identity();
    const events = await this.auditEvents(sessionId);
    const requested = events.find((e) => e.type === 'session.requested');
    const ended = events.find((e) => e.type === 'session.ended');
    const auditCaller = requested?.type === 'session.requested' ? requested.caller : undefined;
    return {
      status: view.status,
      sha256Matches: artifact.sha256Matches,
      hasPackets: artifact.packets > 0,
      callerNamed: view.input?.caller === self && auditCaller === self,
      endAudited:
        ended?.type === 'session.ended' &&
        ended.status === 'SUCCEEDED' &&
        ended.artifacts.some((a) => a.sha256 === child.artifact?.sha256),
      containersLeft: await this.toolboxContainersLeft(sessionId),
      detail: {
        packets: artifact.packets,
        error: artifact.error,
        sessionCaller: view.input?.caller,
        auditCaller,
        self,
        auditEvents: events.map((e) => e.type),
      },
    };
  }

  /** One session on the whole demo service: every running task captured, each artifact verified. */
  private async checkService(sessionId: string) {
    const { api } = await this.deploymentUnderTest();
    const view = await api.getSession(sessionId);
    if (view.status === 'RUNNING') return { status: 'RUNNING', phase: view.phase };
    if (view.status !== 'SUCCEEDED' || !view.result) return failed(view);

    const fleet = view.result;
    const tasks = await this.runningTasks(this.env.demoService);
    const captured = fleet.children.filter((child) => child.status === 'SUCCEEDED');
    const verified = await Promise.all(
      captured.map(async (child) => {
        const url = view.downloadUrls?.[child.sessionId];
        if (!url || !child.artifact) return { sha256Matches: false, packets: 0, error: 'no artifact' };
        return this.verifiedPackets(url, child.artifact, child.sessionId);
      }),
    );
    return {
      status: view.status,
      everyTaskCaptured: tasks.every((task) => captured.some((child) => child.taskArn === task)),
      everyArtifactVerified: verified.every((artifact) => artifact.sha256Matches && artifact.packets > 0),
      containersLeft: await this.toolboxContainersLeft(sessionId),
      detail: {
        tasks,
        children: fleet.children.map(({ taskArn, status, error }) => ({
          taskArn,
          status,
          code: error?.code,
        })),
        skipped: fleet.skipped,
        packets: verified.map((artifact) => artifact.packets),
      },
    };
  }

  /**
   * A session on the Fargate task must be refused with FARGATE_UNSUPPORTED: by the API at once, or
   * by Resolve, the state machine's first step, within seconds (waited for here, 90 s at most).
   */
  private async refuseFargate() {
    const [task] = await this.runningTasks(this.env.fargateService);
    const { api } = await this.deploymentUnderTest();
    let sessionId: string;
    try {
      ({ sessionId } = await api.startSession({ target: { task }, tool: 'tcpdump', durationSeconds: 5 }));
    } catch (error) {
      if (error instanceof DebugTaskError)
        return { refusedBy: 'api', code: error.code, message: error.message };
      throw error;
    }
    const deadline = Date.now() + 90_000;
    let view: SessionView = await api.getSession(sessionId);
    while (view.status === 'RUNNING' && Date.now() < deadline) {
      await sleep(3_000);
      view = await api.getSession(sessionId);
    }
    return {
      refusedBy: 'session',
      status: view.status,
      code: view.error?.code,
      message: view.error?.message,
    };
  }

  /** Downloads the artifact (both sha256 checked by the CLI's own code) and counts its pcap records. */
  private async verifiedPackets(
    url: string,
    expected: ArtifactRef,
    sessionId: string,
  ): Promise<{ sha256Matches: boolean; packets: number; error?: string }> {
    const path = join(tmpdir(), `${sessionId}.pcap`);
    try {
      await downloadArtifact(url, expected, path);
      return { sha256Matches: true, packets: countPcapRecords(await readFile(path), path) };
    } catch (error) {
      return { sha256Matches: false, packets: 0, error: (error as Error).message };
    } finally {
      await rm(path, { force: true });
    }
  }

  /**
   * The second principal, on the probe's session: IAM lets it invoke the API, the API must not
   * list the session to it, and must refuse it the session's status (and so its download links)
   * and its cancel, NOT_AUTHORIZED; the audit log must hold both denials, naming it.
   */
  private async refuseOther(sessionId: string) {
    const { apiUrl } = await this.deploymentUnderTest();
    const { Credentials: c, AssumedRoleUser } = await this.clients.sts.send(
      new AssumeRoleCommand({ RoleArn: this.env.otherRoleArn, RoleSessionName: 'debug-task-integ-other' }),
    );
    if (!c?.AccessKeyId || !c.SecretAccessKey || !AssumedRoleUser?.Arn) {
      throw new Error(`AssumeRole of ${this.env.otherRoleArn} gave no credentials.`);
    }
    const other = new DebugTaskClient({
      apiUrl,
      credentials: {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        sessionToken: c.SessionToken,
      },
    });
    // Not even listed to it (GET /sessions?id= answers only for a session the caller may read)...
    const lookup = await refusal(() => other.getSession(sessionId));
    // ...and refused on its routes, the cluster given.
    const scope = { cluster: this.env.cluster };
    const read = await refusal(() => other.getSession(sessionId, scope));
    const cancel = await refusal(() => other.cancelSession(sessionId, scope));
    const denials = (await this.auditEvents(sessionId)).filter(
      (e) => e.type === 'decision' && !e.allowed && e.caller === AssumedRoleUser.Arn,
    );
    return {
      lookup,
      read,
      cancel,
      denialsAudited: denials.length >= 2,
      detail: { other: AssumedRoleUser.Arn, denials: denials.length },
    };
  }

  /**
   * The audit log's events of a session (lib/audit/events.ts), oldest first. The log is written as
   * the functions run; an event not there yet shows in a later check (the assertion asks again).
   */
  async auditEvents(sessionId: string): Promise<AuditRecord[]> {
    const records: AuditRecord[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.clients.logs.send(
        new FilterLogEventsCommand({
          logGroupName: this.env.auditLogGroup,
          filterPattern: `{ $.sessionId = "${sessionId}" }`,
          startTime: Date.now() - 6 * 3600_000,
          nextToken,
        }),
      );
      for (const event of page.events ?? []) {
        try {
          records.push(JSON.parse(event.message ?? '') as AuditRecord);
        } catch {
          // not an audit event: nothing else writes there, but a stray line must not fail the check
        }
      }
      nextToken = page.nextToken;
    } while (nextToken);
    return records;
  }

  private async identity(): Promise<string | undefined> {
    return (await this.clients.sts.send(new GetCallerIdentityCommand({}))).Arn;
  }

  /**
   * Toolbox containers of this session (or its fleet's children, `<id>-NNNN`) still on the host,
   * running or not, as `docker ps -a` lists them through SSM Run Command. JSON lines, no Go
   * template: `{{ }}` is SSM's own parameter syntax.
   */
  private async toolboxContainersLeft(sessionId: string): Promise<number> {
    const { Command } = await this.clients.ssm.send(
      new SendCommandCommand({
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: [this.env.instanceId],
        Comment: `debug-task integ: containers left by ${sessionId}`.slice(0, 100),
        Parameters: { commands: ['docker ps -a --filter label=debug-task.session --format json'] },
      }),
    );
    const output = await this.commandOutput(Command!.CommandId!);
    return output
      .split('\n')
      .filter((line) => line.trim().startsWith('{'))
      .map((line) => sessionLabel(JSON.parse(line) as { Labels?: string }))
      .filter((label) => label === sessionId || label?.startsWith(`${sessionId}-`)).length;
  }

  /** Waits (60 s at most) for the command to end on the instance and returns its stdout. */
  private async commandOutput(commandId: string): Promise<string> {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      await sleep(2_000);
      try {
        const invocation = await this.clients.ssm.send(
          new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: this.env.instanceId }),
        );
        if (invocation.Status === 'Success') return invocation.StandardOutputContent ?? '';
        if (!['Pending', 'InProgress', 'Delayed'].includes(invocation.Status ?? '')) {
          throw new Error(
            `docker ps on ${this.env.instanceId} ended ${invocation.Status}: ${invocation.StandardErrorContent}`,
          );
        }
      } catch (error) {
        // Run Command is eventually consistent: the invocation may not exist yet.
        if ((error as Error).name !== 'InvocationDoesNotExist') throw error;
      }
    }
    throw new Error(`docker ps on ${this.env.instanceId} did not end within 60 s (command ${commandId}).`);
  }

  private async runningTasks(service: string): Promise<string[]> {
    const { taskArns = [] } = await this.clients.ecs.send(
      new ListTasksCommand({ cluster: this.env.cluster, serviceName: service, desiredStatus: 'RUNNING' }),
    );
    if (taskArns.length === 0) throw new Error(`Service ${service} of ${this.env.cluster} runs no task.`);
    return taskArns;
  }

  /** The API (signed with this function's role), from the stack's outputs, once. */
  private deploymentUnderTest(): Promise<{ api: DebugTaskClient; apiUrl: string }> {
    this.deployment ??= (async () => {
      const { Stacks } = await this.clients.cloudFormation.send(
        new DescribeStacksCommand({ StackName: this.env.stackName }),
      );
      const output = (key: string) => {
        const value = Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === key)?.OutputValue;
        if (!value) throw new Error(`Stack ${this.env.stackName} has no ${key} output.`);
        return value;
      };
      const apiUrl = output('ApiUrl');
      return { api: new DebugTaskClient({ apiUrl }), apiUrl };
    })();
    return this.deployment;
  }
}

/** The error code a call was refused with ('allowed' when it was not refused). */
async function refusal(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return 'allowed';
  } catch (error) {
    if (error instanceof DebugTaskError) return error.code;
    throw error;
  }
}

function failed(view: SessionView) {
  return { status: view.status, code: view.error?.code, message: view.error?.message };
}

/** The value of the `debug-task.session` label in `docker ps --format json`'s `Labels` ("k=v,k=v"). */
export function sessionLabel(container: { Labels?: string }): string | undefined {
  const prefix = 'debug-task.session=';
  return (container.Labels ?? '')
    .split(',')
    .find((label) => label.startsWith(prefix))
    ?.slice(prefix.length);
}

/** Records of a classic pcap file (header 24 bytes, then a 16-byte header and the data per record). */
export function countPcapRecords(bytes: Buffer, file: string): number {
  const magic = bytes.length >= 24 ? bytes.readUInt32LE(0) : 0;
  // a1b2c3d4 (microseconds) or a1b23c4d (nanoseconds), written in either byte order.
  const littleEndian = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const bigEndian = magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1;
  if (!littleEndian && !bigEndian) throw new Error(`${file} is not a classic pcap file.`);
  const u32 = (offset: number) => (littleEndian ? bytes.readUInt32LE(offset) : bytes.readUInt32BE(offset));
  let records = 0;
  for (let offset = 24; offset + 16 <= bytes.length; records++) {
    const included = u32(offset + 8);
    if (offset + 16 + included > bytes.length) {
      throw new Error(`${file}: record ${records + 1} is cut short (truncated capture).`);
    }
    offset += 16 + included;
  }
  return records;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
