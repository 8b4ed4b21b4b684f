import 'aws-sdk-client-mock-jest';
import { S3Client } from '@aws-sdk/client-s3';
import { InvalidInstanceId, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { isValidHostParam } from '../../../lib/domain/params';
import { commandParameters } from '../../../lib/host/runner-script';
import { resetStepClients } from '../../../lib/steps/clients';
import { auditValue, launchSession, type LaunchState } from '../../../lib/steps/launch';
import {
  BUCKET,
  DOCUMENT,
  IMAGE,
  INSTANCE_ID,
  RUNTIME_ID,
  SESSION_ID,
  caught,
  executionInput,
  target,
  withEnv,
} from './fixtures';

const ssm = mockClient(SSMClient);
mockClient(S3Client); // presigning sends nothing; this only guarantees nothing else does

const NOW_MS = Date.parse('2025-01-01T12:00:10.000Z');
const NOW = NOW_MS / 1000;
const COMMAND_ID = '11111111-2222-3333-4444-555555555555';
const state: LaunchState = { ...executionInput({ durationSeconds: 60 }), target };

let restoreEnv: () => void;

beforeEach(() => {
  ssm.reset();
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: COMMAND_ID } });
  resetStepClients();
  restoreEnv = withEnv({
    BUCKET_NAME: BUCKET,
    DOCUMENT_NAME: DOCUMENT,
    TOOLBOX_IMAGE: IMAGE,
    GRACE_SECONDS: '30',
    HOST_CPUS: '1',
    HOST_MEMORY_MB: '512',
    HOST_PIDS_LIMIT: undefined,
    HOST_MAX_SESSIONS: '3',
    AWS_S3_FORCE_PATH_STYLE: undefined,
  });
});

afterEach(() => {
  restoreEnv();
  resetStepClients();
});

function sent() {
  return ssm.commandCalls(SendCommandCommand)[0].args[0].input;
}

function uploadUrlOf(parameters: Record<string, string[]> | undefined): URL {
  const url = Object.values(parameters ?? {})
    .flat()
    .find((value) => value.startsWith('https://'));
  if (!url) throw new Error('no upload URL among the SendCommand parameters');
  return new URL(url);
}

describe('launchSession', () => {
  it('returns the command, the object key and the session deadlines', async () => {
    const launch = await launchSession(state, { now: () => NOW_MS });

    expect(launch).toEqual({
      commandId: COMMAND_ID,
      instanceId: INSTANCE_ID,
      bucket: BUCKET,
      objectKey: `sessions/${SESSION_ID}/artifact.pcap.gz`,
      startedAt: '2025-01-01T12:00:10.000Z',
      expiresAt: NOW + 60 + 30,
      deadline: NOW + 60 + 30 + 120,
    });
  });

  it('sends our document, latest version, to the one instance, with a delivery timeout and the session in the comment', async () => {
    await launchSession(state, { now: () => NOW_MS });

    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    expect(sent()).toMatchObject({
      DocumentName: DOCUMENT,
      DocumentVersion: '$LATEST',
      InstanceIds: [INSTANCE_ID],
      TimeoutSeconds: 60,
      Comment: `debug-task ${SESSION_ID}`,
    });
  });

  it('passes every host parameter as a string: session, container, tool, limits, image, URL and time boxes', async () => {
    await launchSession(state, { now: () => NOW_MS });

    const input = sent();
    const uploadUrl = uploadUrlOf(input.Parameters).toString();
    expect(input.Parameters).toEqual(
      commandParameters({
        action: 'run',
        sessionId: SESSION_ID,
        containerId: RUNTIME_ID,
        tool: 'tcpdump',
        durationSeconds: '60',
        maxBytes: '100000000',
        filter: 'tcp port 443',
        iface: '',
        snaplen: '262144',
        image: IMAGE,
        uploadUrl,
        expiresAt: String(NOW + 90),
        cpus: '1',
        memoryMb: '512',
        pidsLimit: '64',
        maxSessions: '3',
        caller: `arn:aws:sts::123456789012:assumed-role/oncall/alice`,
        reason: 'INC-42 TLS resets',
        executionTimeout: String(60 + 30 + 60),
      }),
    );
  });

  it('passes who asked and why for the toolbox container’s audit labels, leaving out an absent reason', async () => {
    await launchSession(
      { ...state, caller: 'arn:aws:iam::123456789012:user/bob', spec: { ...state.spec, reason: undefined } },
      { now: () => NOW_MS },
    );

    expect(sent().Parameters).toMatchObject({ caller: ['arn:aws:iam::123456789012:user/bob'] });
    expect(sent().Parameters?.reason).toBeUndefined(); // SSM applies the default, ''
  });

  it.each([
    [
      'an ARN, as is',
      'arn:aws:sts::123456789012:assumed-role/a.b@c=d,e+f/s-1_2',
      'arn:aws:sts::123456789012:assumed-role/a.b@c=d,e+f/s-1_2',
    ],
    ['nothing, as nothing', '', ''],
    ['other characters, as _', 'arn:aws:iam::1:user/x y"$(id)', 'arn:aws:iam::1:user/x_y___id_'],
    ['too long a value, cut', `arn:${'a'.repeat(400)}`, `arn:${'a'.repeat(252)}`],
  ])('makes the caller fit its host parameter: %s', (_label, caller, expected) => {
    expect(auditValue('caller', caller)).toBe(expected);
    expect(isValidHostParam('caller', auditValue('caller', caller))).toBe(true);
  });

  it('makes a reason the API would refuse fit too (an execution started some other way), rather than fail the launch', async () => {
    const reason = `it's "broken"; see $URL\n${'x'.repeat(300)}`;

    await launchSession({ ...state, spec: { ...state.spec, reason } }, { now: () => NOW_MS });

    const sentReason = sent().Parameters?.reason?.[0] ?? '';
    expect(sentReason.startsWith('it_s _broken__ see _URL_xxx')).toBe(true);
    expect(sentReason).toHaveLength(200);
    expect(isValidHostParam('reason', sentReason)).toBe(true);
  });

  it('presigns a PUT of the artifact key, signing only the host header, with no checksum parameters', async () => {
    await launchSession(state, { now: () => NOW_MS });

    const url = uploadUrlOf(sent().Parameters);
    expect(url.hostname).toBe(`${BUCKET}.s3.xx-test-1.amazonaws.com`);
    expect(url.pathname).toBe(`/sessions/${SESSION_ID}/artifact.pcap.gz`);
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host');
    const names = [...url.searchParams.keys()].map((name) => name.toLowerCase());
    expect(
      names.filter((name) => name.startsWith('x-amz-checksum') || name.startsWith('x-amz-sdk-checksum')),
    ).toEqual([]);
    expect(isValidHostParam('uploadUrl', url.toString())).toBe(true);
  });

  it('lets the URL outlive the session: duration + grace + 900 s, signed at launch time', async () => {
    await launchSession(state, { now: () => NOW_MS });

    const url = uploadUrlOf(sent().Parameters);
    expect(url.searchParams.get('X-Amz-Expires')).toBe(String(60 + 30 + 900));
    expect(url.searchParams.get('X-Amz-Date')).toBe('20250101T120010Z');
  });

  it('produces an upload URL the SSM document accepts even with a long session token (Lambda credentials)', async () => {
    const restore = withEnv({ AWS_SESSION_TOKEN: `IQoJb3JpZ2luX2Vj+/=${'A'.repeat(1200)}==` });
    try {
      await launchSession(state, { now: () => NOW_MS });
    } finally {
      restore();
    }

    const url = uploadUrlOf(sent().Parameters);
    expect(url.searchParams.get('X-Amz-Security-Token')).toContain('IQoJb3JpZ2luX2Vj+/=');
    expect(isValidHostParam('uploadUrl', url.toString())).toBe(true);
  });

  it('uses path-style URLs when AWS_S3_FORCE_PATH_STYLE is true (S3-compatible stand-ins)', async () => {
    process.env.AWS_S3_FORCE_PATH_STYLE = 'true';

    await launchSession(state, { now: () => NOW_MS });

    const url = uploadUrlOf(sent().Parameters);
    expect(url.pathname).toBe(`/${BUCKET}/sessions/${SESSION_ID}/artifact.pcap.gz`);
  });

  it('names the artifact after the tool, e.g. .txt.gz for strace', async () => {
    const launch = await launchSession({ ...state, spec: { ...state.spec, tool: 'strace', filter: '' } });

    expect(launch.objectKey).toBe(`sessions/${SESSION_ID}/artifact.txt.gz`);
  });

  it('names the missing variable and sends nothing when BUCKET_NAME is not set', async () => {
    delete process.env.BUCKET_NAME;

    const error = await caught(() => launchSession(state));

    expect(error.message).toContain('BUCKET_NAME');
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });

  it('throws SSM_AGENT_OFFLINE when SSM says the instance cannot take commands (InvalidInstanceId)', async () => {
    ssm
      .on(SendCommandCommand)
      .rejects(new InvalidInstanceId({ message: 'Instances not in a valid state', $metadata: {} }));

    const error = await caught(() => launchSession(state));

    expect(error).toMatchObject({ code: 'SSM_AGENT_OFFLINE', details: { instanceId: INSTANCE_ID } });
  });

  it('throws AWS_ERROR naming ssm:SendCommand for any other SSM error', async () => {
    ssm
      .on(SendCommandCommand)
      .rejects(Object.assign(new Error('Document not found'), { name: 'InvalidDocument' }));

    const error = await caught(() => launchSession(state));

    expect(error).toMatchObject({
      code: 'AWS_ERROR',
      message: 'ssm:SendCommand failed: InvalidDocument: Document not found',
    });
  });
});
