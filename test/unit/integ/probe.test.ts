import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import {
  countPcapRecords,
  Probe,
  sessionLabel,
  type ProbeClients,
  type ProbeEnvironment,
} from '../../integ/probe/probe';

/** A classic little-endian pcap with records of the given lengths. */
function pcap(...lengths: number[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(1, 20);
  const records = lengths.map((length) => {
    const record = Buffer.alloc(16 + length);
    record.writeUInt32LE(length, 8);
    record.writeUInt32LE(length, 12);
    return record;
  });
  return Buffer.concat([header, ...records]);
}

describe('the integration probe', () => {
  it('counts the records of a pcap', () => {
    expect(countPcapRecords(pcap(), 'empty.pcap')).toBe(0);
    expect(countPcapRecords(pcap(60, 1514, 42), 'three.pcap')).toBe(3);
  });

  it('refuses a pcap whose last record is cut short', () => {
    expect(() => countPcapRecords(pcap(60).subarray(0, 24 + 16 + 10), 'cut.pcap')).toThrow(
      'cut.pcap: record 1 is cut short (truncated capture).',
    );
  });

  it("reads the session of a toolbox container from docker ps's JSON labels", () => {
    expect(sessionLabel({ Labels: 'debug-task.tool=tcpdump,debug-task.session=dt-1-0001,x=y' })).toBe(
      'dt-1-0001',
    );
    expect(sessionLabel({ Labels: 'com.amazonaws.ecs.cluster=c' })).toBeUndefined();
    expect(sessionLabel({})).toBeUndefined();
  });
});

/**
 * The probe's second-principal check against an API that tells principals apart by the access key
 * that signed (as API Gateway's IAM auth does): the probe's own key owns the session; the key of
 * the assumed role Other is refused, and its denials are what the audit log holds.
 */
describe('the integration probe: a second principal', () => {
  const SESSION = 'dt-mxa1b2c3-k4m5n6p7';
  const OTHER_ARN = 'arn:aws:sts::123456789012:assumed-role/Other/debug-task-integ-other';
  const env: ProbeEnvironment = {
    stackName: 'DebugTaskInteg',
    cluster: 'debug-task-integ',
    demoService: 'demo',
    fargateService: 'fargate',
    instanceId: 'i-0123456789abcdef0',
    auditLogGroup: 'audit-group',
    otherRoleArn: 'arn:aws:iam::123456789012:role/Other',
  };
  const cloudFormation = mockClient(CloudFormationClient);
  const logs = mockClient(CloudWatchLogsClient);
  const sts = mockClient(STSClient);
  let server: Server;
  let apiUrl: string;
  const seen: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const key = /Credential=([A-Z0-9]+)\//.exec(req.headers.authorization ?? '')?.[1];
      seen.push(`${key} ${req.method} ${req.url}`);
      const answer = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.url?.startsWith('/sessions?')) return answer(200, { sessions: [] });
      return answer(403, { error: { code: 'NOT_AUTHORIZED', message: `Session ${SESSION} is not yours.` } });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    seen.length = 0;
    cloudFormation.reset();
    logs.reset();
    sts.reset();
    cloudFormation.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: env.stackName,
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [{ OutputKey: 'ApiUrl', OutputValue: apiUrl }],
        },
      ],
    });
    sts.on(AssumeRoleCommand).resolves({
      Credentials: {
        AccessKeyId: 'ASIAOTHER00000000000',
        SecretAccessKey: 'other-secret',
        SessionToken: 'token',
        Expiration: new Date(Date.now() + 3600_000),
      },
      AssumedRoleUser: { Arn: OTHER_ARN, AssumedRoleId: 'AROAOTHER:debug-task-integ-other' },
    });
  });

  const probe = () =>
    new Probe(env, {
      cloudFormation: new CloudFormationClient({ region: 'xx-test-1' }),
      ecs: {} as ECSClient,
      logs: new CloudWatchLogsClient({ region: 'xx-test-1' }),
      ssm: {} as SSMClient,
      sts: new STSClient({ region: 'xx-test-1' }),
    } as ProbeClients);
  const denial = (caller: string, action: string) =>
    JSON.stringify({ type: 'decision', allowed: false, action, caller, sessionId: SESSION, policies: [] });

  it('signs as the assumed role, is not shown the session, refused read and cancel, and finds both denials audited', async () => {
    // Two pages: the probe follows nextToken.
    logs
      .on(FilterLogEventsCommand, { nextToken: undefined })
      .resolves({ events: [{ message: denial(OTHER_ARN, 'read') }], nextToken: 'page-2' })
      .on(FilterLogEventsCommand, { nextToken: 'page-2' })
      .resolves({ events: [{ message: denial(OTHER_ARN, 'cancel') }, { message: 'not json' }] });

    const verdict = await probe().run({ action: 'refuse-other', sessionId: SESSION });

    expect(verdict).toEqual({
      lookup: 'SESSION_NOT_FOUND',
      read: 'NOT_AUTHORIZED',
      cancel: 'NOT_AUTHORIZED',
      denialsAudited: true,
      detail: { other: OTHER_ARN, denials: 2 },
    });
    expect(sts.commandCalls(AssumeRoleCommand)[0].args[0].input.RoleArn).toBe(env.otherRoleArn);
    // Every call signed with the assumed role's key; the routes name the cluster given.
    expect(seen).toEqual([
      `ASIAOTHER00000000000 GET /sessions?id=${SESSION}`,
      `ASIAOTHER00000000000 GET /clusters/${env.cluster}/sessions/${SESSION}`,
      `ASIAOTHER00000000000 DELETE /clusters/${env.cluster}/sessions/${SESSION}`,
    ]);
    const filter = logs.commandCalls(FilterLogEventsCommand)[0].args[0].input;
    expect(filter).toMatchObject({
      logGroupName: 'audit-group',
      filterPattern: `{ $.sessionId = "${SESSION}" }`,
    });
  });

  it('does not count denials of someone else, nor allows, as the second principal’s', async () => {
    logs.on(FilterLogEventsCommand).resolves({
      events: [
        { message: denial('arn:aws:sts::123456789012:assumed-role/Probe/fn', 'read') },
        {
          message: JSON.stringify({ type: 'decision', allowed: true, caller: OTHER_ARN, sessionId: SESSION }),
        },
        { message: denial(OTHER_ARN, 'read') },
      ],
    });

    const verdict = await probe().run({ action: 'refuse-other', sessionId: SESSION });

    expect(verdict).toMatchObject({ denialsAudited: false, detail: { denials: 1 } });
  });
});
