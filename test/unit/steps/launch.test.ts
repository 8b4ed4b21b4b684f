import { audit } from '../../../lib/audit/audit';
import { InvalidInstanceId, SendCommandCommand } from '@aws-sdk/client-ssm';
import { AssumeRoleCommand, STSServiceException } from '@aws-sdk/client-sts';
import { INSTANCE_ID_PATTERN, PLAN_HEADER } from '../../../lib/domain/host-plan';
import { isValidHostParam, type HostParamName } from '../../../lib/domain/params';
import type { BatchState, PlanRecord } from '../../../lib/domain/session';
import { buildCommandDocument } from '../../../lib/host/runner-script';
import { resolveParameters } from '../../../lib/sandbox/ssm-document';
import { PLAN_URL_SECONDS, launchBatch } from '../../../lib/steps/launch';
import { FAKE, aws, givenBucket, useAwsMocks, withEnv, type FakeBucket } from '../../support/aws';
import {
  BUCKET,
  CALLER,
  CHILD_ID,
  DOCUMENT,
  IMAGE,
  INSTANCE_ID,
  REGION,
  RUNTIME_ID,
  SESSION_ID,
  caught,
  childId,
  executionInput,
  fleetInstanceId,
  fleetRuntimeId,
  planInfoOf,
  planTarget,
  serviceInput,
  servicePlanRecord,
  taskPlanRecord,
} from '../../support/fixtures';
import { decodeChunkForm } from '../../../lib/domain/follow';

useAwsMocks();

const NOW_MS = Date.parse('2025-01-01T12:00:10.000Z');
const NOW = NOW_MS / 1000;
const GRACE = FAKE.graceSeconds;
const COMMAND_ID = '11111111-2222-3333-4444-555555555555';
/** The upload role's session, as STS returns it: not the function's own (AKIATESTFAKE..., no token). */
const ASSUMED = {
  AccessKeyId: 'ASIAUPLOADSESSION001',
  SecretAccessKey: 'upload-session-secret-not-real',
  // The shape of a real token: base64 with + / =, which the URL carries percent-encoded.
  SessionToken: `IQoJb3JpZ2luX2VjEXAMPLE+/=${'Ab9+/'.repeat(200)}==`,
  Expiration: new Date(NOW_MS + 3600_000),
};

/** One task: a plan of one child, sent at NOW; 60 s capture. */
const TASK_RECORD = taskPlanRecord();
const TASK_PLAN = planInfoOf(TASK_RECORD, { expiresAt: NOW + 60 + GRACE, deadline: NOW + 60 + GRACE + 120 });
const taskState = (): BatchState => ({ ...executionInput(), plan: TASK_PLAN, batch: TASK_PLAN.batches[0] });

/** A service of 5 children on 4 hosts in 2 batches (batch size 3 for the test), starting 20 s ahead. */
const START_AT = NOW + 20;
const SERVICE_TARGETS = [0, 1, 2, 3, 4].map((i) => planTarget(i, { instanceId: fleetInstanceId(i % 4) }));
const SERVICE_RECORD = servicePlanRecord(SERVICE_TARGETS);
const SERVICE_PLAN = {
  ...planInfoOf(SERVICE_RECORD, {
    startAt: START_AT,
    expiresAt: START_AT + 60 + GRACE,
    deadline: START_AT + 60 + GRACE + 120,
  }),
  batches: [
    { batch: 0, instanceIds: [fleetInstanceId(0), fleetInstanceId(1), fleetInstanceId(2)] },
    { batch: 1, instanceIds: [fleetInstanceId(3)] },
  ],
};
const serviceState = (batch = 0): BatchState => ({
  ...serviceInput(),
  plan: SERVICE_PLAN,
  batch: SERVICE_PLAN.batches[batch],
});

let bucket: FakeBucket;

function given(record: PlanRecord, planKey = `sessions/${SESSION_ID}/plan.json`): void {
  bucket = givenBucket({ [planKey]: record });
  aws.sts.on(AssumeRoleCommand).resolves({ Credentials: ASSUMED });
  aws.ssm.on(SendCommandCommand).resolves({ Command: { CommandId: COMMAND_ID } });
}

function sent() {
  expect(aws.ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
  return aws.ssm.commandCalls(SendCommandCommand)[0].args[0].input;
}

function assumed() {
  expect(aws.sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 1);
  return aws.sts.commandCalls(AssumeRoleCommand)[0].args[0].input;
}

interface PlanLineSeen {
  instanceId: string;
  childSessionId: string;
  containerId: string;
  artifactUrl: URL;
  manifestUrl: URL;
}

/** The host plan Launch wrote at `key`: its header, and its lines of five TAB-separated fields. */
function hostPlan(key = `sessions/${SESSION_ID}/plan/0.tsv`): { header: string; lines: PlanLineSeen[] } {
  const put = bucket.puts().filter((p) => p.Key === key);
  expect(put).toHaveLength(1);
  expect(put[0]).toMatchObject({ Bucket: BUCKET, ContentType: 'text/tab-separated-values' });
  const text = put[0].Body as string;
  expect(text.endsWith('\n')).toBe(true);
  const [header, ...rest] = text.slice(0, -1).split('\n');
  return {
    header,
    lines: rest.map((line) => {
      const fields = line.split('\t');
      expect(fields).toHaveLength(5);
      const [instanceId, childSessionId, containerId, artifactUrl, manifestUrl] = fields;
      expect(new RegExp(INSTANCE_ID_PATTERN).test(instanceId)).toBe(true);
      expect(isValidHostParam('sessionId', childSessionId)).toBe(true);
      expect(isValidHostParam('uploadUrl', artifactUrl)).toBe(true);
      expect(isValidHostParam('uploadUrl', manifestUrl)).toBe(true);
      return {
        instanceId,
        childSessionId,
        containerId,
        artifactUrl: new URL(artifactUrl),
        manifestUrl: new URL(manifestUrl),
      };
    }),
  };
}

describe('launchBatch (Launch), one task', () => {
  it('returns the command and when it was sent', async () => {
    given(TASK_RECORD);

    await expect(launchBatch(taskState(), { now: () => NOW_MS })).resolves.toEqual({
      commandId: COMMAND_ID,
      sentAt: '2025-01-01T12:00:10.000Z',
    });
  });

  it('puts the start on the audit log: the command, its hosts and its children', async () => {
    given(TASK_RECORD);

    await launchBatch(taskState(), { now: () => NOW_MS });

    expect(audit.pending()).toEqual([
      expect.objectContaining({
        type: 'session.started',
        sessionId: SESSION_ID,
        commandId: COMMAND_ID,
        batch: 0,
        instanceIds: [INSTANCE_ID],
        children: [CHILD_ID],
      }),
    ]);
  });

  it('sends our document at the pinned version and hash to the one host, with a delivery timeout and the session in the comment', async () => {
    given(TASK_RECORD);

    await launchBatch(taskState(), { now: () => NOW_MS });

    expect(sent()).toMatchObject({
      DocumentName: DOCUMENT,
      DocumentVersion: FAKE.documentVersion,
      DocumentHash: FAKE.documentHash,
      DocumentHashType: 'Sha256',
      InstanceIds: [INSTANCE_ID],
      TimeoutSeconds: 60,
      MaxConcurrency: '100%',
      MaxErrors: '100%',
      Comment: `debug-task ${SESSION_ID}`,
    });
  });

  it('passes action=plan with the capture, its limits, the expiry, the time box and the plan URL, and starts at once', async () => {
    given(TASK_RECORD);

    await launchBatch(taskState(), { now: () => NOW_MS });

    const parameters = sent().Parameters ?? {};
    expect(parameters).toEqual({
      action: ['plan'],
      sessionId: [SESSION_ID],
      tool: ['tcpdump'],
      durationSeconds: ['60'],
      maxBytes: ['100000000'],
      filter: ['tcp port 443'],
      snaplen: ['262144'],
      allowHostNetwork: ['false'],
      allowHostPid: ['false'],
      image: [IMAGE],
      planUrl: [expect.any(String)],
      runnerUrl: [expect.any(String)],
      expiresAt: [String(NOW + 60 + GRACE)],
      cpus: ['0.5'],
      memoryMb: ['256'],
      pidsLimit: ['64'],
      maxSessions: ['2'],
      caller: [CALLER],
      reason: ['INC-42 TLS resets'],
      executionTimeout: [String(60 + GRACE + 60)],
    });
  });

  it('gives every parameter a value the SSM document accepts', async () => {
    given(TASK_RECORD);

    await launchBatch(taskState(), { now: () => NOW_MS });

    const parameters = sent().Parameters ?? {};
    for (const [name, values] of Object.entries(parameters)) {
      expect([name, values.length, isValidHostParam(name as HostParamName, values[0])]).toEqual([
        name,
        1,
        true,
      ]);
    }
    expect(resolveParameters(buildCommandDocument(), parameters)).toMatchObject({
      action: 'plan',
      sessionId: SESSION_ID,
    });
  });

  it('writes the host plan: the header, then the child with its container and two upload URLs', async () => {
    given(TASK_RECORD);

    await launchBatch(taskState(), { now: () => NOW_MS });

    const { header, lines } = hostPlan();
    expect(header).toBe(PLAN_HEADER);
    expect(lines.map(({ artifactUrl: _a, manifestUrl: _m, ...rest }) => rest)).toEqual([
      { instanceId: INSTANCE_ID, childSessionId: CHILD_ID, containerId: RUNTIME_ID },
    ]);
    expect(lines[0].artifactUrl.pathname).toBe(
      `/sessions/${SESSION_ID}/children/${CHILD_ID}/artifact.pcap.gz`,
    );
    expect(lines[0].manifestUrl.pathname).toBe(`/sessions/${SESSION_ID}/children/${CHILD_ID}/manifest.json`);
  });

  it('presigns PUTs signing only the host header, with no checksum parameters, for duration + grace + 900 s from launch', async () => {
    given(TASK_RECORD);

    await launchBatch(taskState(), { now: () => NOW_MS });

    for (const url of [hostPlan().lines[0].artifactUrl, hostPlan().lines[0].manifestUrl]) {
      expect(url.hostname).toBe(`${BUCKET}.s3.${REGION}.amazonaws.com`);
      expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host');
      const names = [...url.searchParams.keys()].map((n) => n.toLowerCase());
      expect(
        names.filter((n) => n.startsWith('x-amz-checksum') || n.startsWith('x-amz-sdk-checksum')),
      ).toEqual([]);
      expect(url.searchParams.get('X-Amz-Expires')).toBe(String(60 + GRACE + 900));
      expect(url.searchParams.get('X-Amz-Date')).toBe('20250101T120010Z');
    }
  });

  it("signs the uploads with the upload role's session, never the function's own credentials", async () => {
    given(TASK_RECORD);
    process.env.AWS_SESSION_TOKEN = 'FUNCTION-OWN-SESSION-TOKEN';

    await launchBatch(taskState(), { now: () => NOW_MS });

    for (const url of [hostPlan().lines[0].artifactUrl, hostPlan().lines[0].manifestUrl]) {
      expect(url.searchParams.get('X-Amz-Credential')).toBe(
        `${ASSUMED.AccessKeyId}/20250101/${REGION}/s3/aws4_request`,
      );
      expect(url.searchParams.get('X-Amz-Security-Token')).toBe(ASSUMED.SessionToken);
      expect(url.toString()).not.toContain(process.env.AWS_ACCESS_KEY_ID);
      expect(url.toString()).not.toContain('FUNCTION-OWN-SESSION-TOKEN');
    }
  });

  it("presigns a GET of the host plan for planUrl with the function's own credentials, for a few minutes", async () => {
    given(TASK_RECORD);

    await launchBatch(taskState(), { now: () => NOW_MS });

    const url = new URL(sent().Parameters?.planUrl?.[0] ?? '');
    expect(url.hostname).toBe(`${BUCKET}.s3.${REGION}.amazonaws.com`);
    expect(url.pathname).toBe(`/sessions/${SESSION_ID}/plan/0.tsv`);
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(url.searchParams.get('X-Amz-Expires')).toBe(String(PLAN_URL_SECONDS));
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^AKIATESTFAKE/);
    expect(url.searchParams.get('X-Amz-Security-Token')).toBeNull();
  });

  it('keeps the URLs out of the state and its logs: the result is the command only', async () => {
    given(TASK_RECORD);

    const out = await launchBatch(taskState(), { now: () => NOW_MS });

    expect(JSON.stringify(out)).not.toMatch(/https?:|X-Amz/);
  });

  it('uses path-style URLs when AWS_S3_FORCE_PATH_STYLE is true (S3-compatible stand-ins)', async () => {
    process.env.AWS_S3_FORCE_PATH_STYLE = 'true';
    given(TASK_RECORD);

    await launchBatch(taskState(), { now: () => NOW_MS });

    expect(hostPlan().lines[0].artifactUrl.pathname).toBe(
      `/${BUCKET}/sessions/${SESSION_ID}/children/${CHILD_ID}/artifact.pcap.gz`,
    );
  });

  it("signs a chunk form for a followed session's child (a sixth field), with the upload role's session, and sends followSeconds", async () => {
    given(TASK_RECORD);

    await launchBatch(
      { ...taskState(), spec: { ...taskState().spec, follow: { intervalSeconds: 3 } } },
      { now: () => NOW_MS },
    );

    const text = bucket.puts().find((p) => p.Key === `sessions/${SESSION_ID}/plan/0.tsv`)!.Body as string;
    const fields = text.trim().split('\n')[1].split('\t');
    expect(fields).toHaveLength(6);
    expect(isValidHostParam('chunkUrl', fields[5])).toBe(true);
    const form = decodeChunkForm(fields[5]);
    expect(form.fields.key).toBe(`sessions/${SESSION_ID}/children/${CHILD_ID}/chunks/`);
    expect(form.fields['X-Amz-Credential']).toMatch(/^ASIAUPLOADSESSION001\//);
    expect(form.fields['X-Amz-Security-Token']).toBe(ASSUMED.SessionToken);
    expect(new URL(form.url).hostname).toBe(`${BUCKET}.s3.${REGION}.amazonaws.com`);
    expect(sent().Parameters).toMatchObject({ followSeconds: ['3'] });
  });

  it('signs no chunk form and sends no followSeconds for a session that is not followed', async () => {
    given(TASK_RECORD);

    await launchBatch(taskState(), { now: () => NOW_MS });

    expect(hostPlan().lines).toHaveLength(1);
    expect(sent().Parameters?.followSeconds).toBeUndefined();
  });

  it('names the artifact after the tool, e.g. .txt.gz for strace', async () => {
    given(TASK_RECORD);

    await launchBatch(
      { ...taskState(), spec: { ...taskState().spec, tool: 'strace', filter: '' } },
      { now: () => NOW_MS },
    );

    expect(hostPlan().lines[0].artifactUrl.pathname).toMatch(/\/artifact\.txt\.gz$/);
  });

  describe('the upload role', () => {
    it('is assumed once, before SendCommand, named after the session, for duration + grace + 900 s', async () => {
      given(TASK_RECORD);

      await launchBatch(taskState(), { now: () => NOW_MS });

      expect(assumed()).toMatchObject({
        RoleArn: FAKE.uploadRoleArn,
        RoleSessionName: SESSION_ID,
        DurationSeconds: 60 + GRACE + 900,
      });
      expect(
        aws.sts.commandCalls(AssumeRoleCommand)[0].calledBefore(aws.ssm.commandCalls(SendCommandCommand)[0]),
      ).toBe(true);
    });

    it("is narrowed by a session policy to s3:PutObject on the objects of this batch's children only", async () => {
      given(TASK_RECORD);

      await launchBatch(taskState(), { now: () => NOW_MS });

      expect(JSON.parse(assumed().Policy ?? 'null')).toEqual({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 's3:PutObject',
            Resource: `arn:aws:s3:::${BUCKET}/sessions/${SESSION_ID}/children/${CHILD_ID}/*`,
          },
        ],
      });
    });

    it("also allows kms:GenerateDataKey on the bucket's key, and only that, when ARTIFACT_KEY_ARN is set", async () => {
      const keyArn = 'arn:aws:kms:xx-test-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
      const restore = withEnv({ ARTIFACT_KEY_ARN: keyArn });
      given(TASK_RECORD);

      await launchBatch(taskState(), { now: () => NOW_MS }).finally(restore);

      expect(JSON.parse(assumed().Policy ?? 'null').Statement).toEqual([
        {
          Effect: 'Allow',
          Action: 's3:PutObject',
          Resource: `arn:aws:s3:::${BUCKET}/sessions/${SESSION_ID}/children/${CHILD_ID}/*`,
        },
        { Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: keyArn },
      ]);
    });

    it('is asked for at most the role-chaining hour, however long the grace; the URLs then live as long', async () => {
      process.env.GRACE_SECONDS = '3000';
      given(TASK_RECORD);

      await launchBatch(
        { ...taskState(), spec: { ...taskState().spec, durationSeconds: 900 } },
        { now: () => NOW_MS },
      );

      expect(assumed().DurationSeconds).toBe(3600);
      expect(hostPlan().lines[0].artifactUrl.searchParams.get('X-Amz-Expires')).toBe('3600');
    });

    it("keeps the URLs within the credentials' lifetime when they expire before duration + grace + 900 s", async () => {
      given(TASK_RECORD);
      aws.sts
        .on(AssumeRoleCommand)
        .resolves({ Credentials: { ...ASSUMED, Expiration: new Date(NOW_MS + 600_000 + 999) } });

      await launchBatch(taskState(), { now: () => NOW_MS });

      expect(hostPlan().lines[0].artifactUrl.searchParams.get('X-Amz-Expires')).toBe('600');
    });

    it('refuses credentials that would die before the capture ends, writing and sending nothing', async () => {
      given(TASK_RECORD);
      aws.sts
        .on(AssumeRoleCommand)
        .resolves({ Credentials: { ...ASSUMED, Expiration: new Date(NOW_MS + 30_000) } });

      const error = await caught(() => launchBatch(taskState(), { now: () => NOW_MS }));

      expect(error).toMatchObject({ code: 'AWS_ERROR', message: expect.stringContaining('expire in 30 s') });
      expect(bucket.puts()).toEqual([]);
      expect(aws.ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
    });

    it('throws AWS_ERROR naming sts:AssumeRole, with a hint about the trust policy, when access is denied; sends nothing', async () => {
      given(TASK_RECORD);
      aws.sts.on(AssumeRoleCommand).rejects(
        new STSServiceException({
          name: 'AccessDenied',
          message: 'not authorized to perform: sts:AssumeRole',
          $fault: 'client',
          $metadata: { httpStatusCode: 403 },
        }),
      );

      const error = await caught(() => launchBatch(taskState(), { now: () => NOW_MS }));

      expect(error).toMatchObject({ code: 'AWS_ERROR', hint: expect.stringContaining('UPLOAD_ROLE_ARN') });
      expect(aws.ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
    });
  });

  describe('refusals', () => {
    it.each(['DOCUMENT_NAME', 'UPLOAD_ROLE_ARN', 'TOOLBOX_IMAGE'])(
      'names %s, and sends nothing, when it is not set',
      async (name) => {
        given(TASK_RECORD);
        delete process.env[name];

        const error = await caught(() => launchBatch(taskState(), { now: () => NOW_MS }));

        expect(error).toMatchObject({ code: 'AWS_ERROR', message: expect.stringContaining(name) });
        expect(aws.ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
      },
    );

    it('throws SSM_AGENT_OFFLINE naming the host when SSM says it cannot take commands (InvalidInstanceId)', async () => {
      given(TASK_RECORD);
      aws.ssm
        .on(SendCommandCommand)
        .rejects(new InvalidInstanceId({ message: 'Instances not in a valid state', $metadata: {} }));

      const error = await caught(() => launchBatch(taskState(), { now: () => NOW_MS }));

      expect(error).toMatchObject({
        code: 'SSM_AGENT_OFFLINE',
        message: expect.stringContaining(INSTANCE_ID),
        details: { instanceIds: [INSTANCE_ID] },
      });
    });

    it('throws AWS_ERROR naming ssm:SendCommand for any other SSM error', async () => {
      given(TASK_RECORD);
      aws.ssm
        .on(SendCommandCommand)
        .rejects(Object.assign(new Error('Document not found'), { name: 'InvalidDocument' }));

      const error = await caught(() => launchBatch(taskState(), { now: () => NOW_MS }));

      expect(error).toMatchObject({
        code: 'AWS_ERROR',
        message: 'ssm:SendCommand failed: InvalidDocument: Document not found',
      });
    });

    it('throws AWS_ERROR naming the plan record when Plan left none', async () => {
      given(TASK_RECORD, 'elsewhere.json');

      const error = await caught(() => launchBatch(taskState(), { now: () => NOW_MS }));

      expect(error).toMatchObject({
        code: 'AWS_ERROR',
        message: expect.stringContaining('plan.json does not exist'),
      });
      expect(aws.ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
    });
  });
});

describe('launchBatch (Launch), a batch of a service', () => {
  it("sends one command to exactly the batch's hosts, with the synchronized start", async () => {
    given(SERVICE_RECORD);

    await launchBatch(serviceState(0), { now: () => NOW_MS });

    expect(sent().InstanceIds).toEqual([fleetInstanceId(0), fleetInstanceId(1), fleetInstanceId(2)]);
    expect(sent().Parameters).toMatchObject({
      action: ['plan'],
      sessionId: [SESSION_ID],
      startAt: [String(START_AT)],
      expiresAt: [String(START_AT + 60 + GRACE)],
      // Until the start, then the capture, the grace and the extra minute.
      executionTimeout: [String(20 + 60 + GRACE + 60)],
    });
    expect(sent().Parameters?.uploadUrl).toBeUndefined();
    expect(sent().Parameters?.containerId).toBeUndefined();
  });

  it("writes only its hosts' children in its own plan object, two URLs each for their own keys", async () => {
    given(SERVICE_RECORD);

    await launchBatch(serviceState(0), { now: () => NOW_MS });

    const { lines } = hostPlan(`sessions/${SESSION_ID}/plan/0.tsv`);
    // Children 0..4 on hosts i % 4: batch 0 holds hosts 0, 1, 2, so children 0, 1, 2 and 4.
    expect(lines.map((l) => [l.instanceId, l.childSessionId, l.containerId])).toEqual(
      [0, 1, 2, 4].map((i) => [fleetInstanceId(i % 4), childId(i), fleetRuntimeId(i)]),
    );
    const urls = lines.flatMap((l) => [l.artifactUrl.toString(), l.manifestUrl.toString()]);
    expect(new Set(urls).size).toBe(8);
    for (const line of lines) {
      expect(line.artifactUrl.pathname).toBe(
        `/sessions/${SESSION_ID}/children/${line.childSessionId}/artifact.pcap.gz`,
      );
      expect(line.manifestUrl.pathname).toBe(
        `/sessions/${SESSION_ID}/children/${line.childSessionId}/manifest.json`,
      );
    }
  });

  it('assumes the upload role once for the batch, its URLs living through the lead, the capture and the grace', async () => {
    given(SERVICE_RECORD);

    await launchBatch(serviceState(0), { now: () => NOW_MS });

    expect(assumed().DurationSeconds).toBe(20 + 60 + GRACE + 900);
    for (const line of hostPlan().lines) {
      expect(line.artifactUrl.searchParams.get('X-Amz-Expires')).toBe(String(20 + 60 + GRACE + 900));
    }
  });

  it("narrows the upload role to the objects of this batch's children, not the other batches'", async () => {
    given(SERVICE_RECORD);

    await launchBatch(serviceState(0), { now: () => NOW_MS });

    expect(JSON.parse(assumed().Policy!).Statement[0].Resource).toEqual(
      [0, 1, 2, 4].map((i) => `arn:aws:s3:::${BUCKET}/sessions/${SESSION_ID}/children/${childId(i)}/*`),
    );
  });

  it("names the session's children prefix instead when a batch has too many children for AssumeRole's policy", async () => {
    const many = Array.from({ length: 60 }, (_, i) => planTarget(i, { instanceId: fleetInstanceId(i % 2) }));
    const record = servicePlanRecord(many);
    const plan = planInfoOf(record, {
      startAt: START_AT,
      expiresAt: START_AT + 90,
      deadline: START_AT + 210,
    });
    given(record);

    await launchBatch({ ...serviceInput(), plan, batch: plan.batches[0] }, { now: () => NOW_MS });

    expect(JSON.parse(assumed().Policy!).Statement[0].Resource).toBe(
      `arn:aws:s3:::${BUCKET}/sessions/${SESSION_ID}/children/*`,
    );
    expect(hostPlan().lines).toHaveLength(60);
  });

  it('writes the next batch to its own plan object, for its own host', async () => {
    given(SERVICE_RECORD);

    await launchBatch(serviceState(1), { now: () => NOW_MS });

    expect(hostPlan(`sessions/${SESSION_ID}/plan/1.tsv`).lines.map((l) => l.childSessionId)).toEqual([
      childId(3),
    ]);
    expect(new URL(sent().Parameters?.planUrl?.[0] ?? '').pathname).toBe(
      `/sessions/${SESSION_ID}/plan/1.tsv`,
    );
    expect(sent().InstanceIds).toEqual([fleetInstanceId(3)]);
  });

  it('counts the hosts of a batch SSM refuses (InvalidInstanceId) in SSM_AGENT_OFFLINE', async () => {
    given(SERVICE_RECORD);
    aws.ssm.on(SendCommandCommand).rejects(new InvalidInstanceId({ message: 'not valid', $metadata: {} }));

    const error = await caught(() => launchBatch(serviceState(0), { now: () => NOW_MS }));

    expect(error).toMatchObject({ code: 'SSM_AGENT_OFFLINE', message: expect.stringContaining('3 hosts') });
  });
});

describe('launchBatch (Launch), a re-upload', () => {
  const REUPLOAD = { id: 'r1a2b', children: [childId(1)] };
  const record = servicePlanRecord([planTarget(1, { instanceId: fleetInstanceId(1), containerId: '-' })]);
  const expiresAt = NOW + 3600;
  const plan = {
    ...planInfoOf(record, { expiresAt, deadline: expiresAt + 120 }),
    reupload: REUPLOAD,
  };
  const state = (): BatchState => ({ ...serviceInput(), plan, batch: plan.batches[0] });

  it('sends action=reupload with what the host needs to find and upload what it kept', async () => {
    given(record, `sessions/${SESSION_ID}/reuploads/r1a2b/plan.json`);

    await launchBatch(state(), { now: () => NOW_MS });

    expect(sent()).toMatchObject({
      InstanceIds: [fleetInstanceId(1)],
      Comment: `debug-task reupload ${SESSION_ID}`,
    });
    expect(sent().Parameters).toEqual({
      action: ['reupload'],
      sessionId: [SESSION_ID],
      tool: ['tcpdump'],
      planUrl: [expect.any(String)],
      runnerUrl: [expect.any(String)],
      expiresAt: [String(expiresAt)],
      caller: [CALLER],
      executionTimeout: ['3600'],
    });
    expect(resolveParameters(buildCommandDocument(), sent().Parameters)).toMatchObject({
      action: 'reupload',
    });
  });

  it("writes the re-upload's plan under its own prefix; the manifest goes beside the first, not over it", async () => {
    given(record, `sessions/${SESSION_ID}/reuploads/r1a2b/plan.json`);

    await launchBatch(state(), { now: () => NOW_MS });

    const { lines } = hostPlan(`sessions/${SESSION_ID}/reuploads/r1a2b/plan/0.tsv`);
    expect(lines.map((l) => [l.childSessionId, l.containerId])).toEqual([[childId(1), '-']]);
    expect(lines[0].artifactUrl.pathname).toBe(
      `/sessions/${SESSION_ID}/children/${childId(1)}/artifact.pcap.gz`,
    );
    expect(lines[0].manifestUrl.pathname).toBe(`/sessions/${SESSION_ID}/children/${childId(1)}/r1a2b.json`);
    expect(new URL(sent().Parameters?.planUrl?.[0] ?? '').pathname).toBe(
      `/sessions/${SESSION_ID}/reuploads/r1a2b/plan/0.tsv`,
    );
  });

  it('asks the upload role for the shortest session STS gives: nothing is captured first', async () => {
    given(record, `sessions/${SESSION_ID}/reuploads/r1a2b/plan.json`);

    await launchBatch(state(), { now: () => NOW_MS });

    expect(assumed().DurationSeconds).toBe(GRACE + 900);
    expect(JSON.parse(assumed().Policy!).Statement[0].Resource).toBe(
      `arn:aws:s3:::${BUCKET}/sessions/${SESSION_ID}/children/${childId(1)}/*`,
    );
  });
});
