import { InvalidInstanceId, SendCommandCommand, UnsupportedPlatformType } from '@aws-sdk/client-ssm';
import { commandParameters, isValidHostParam } from '../../../lib/domain/params';
import { buildCommandDocument } from '../../../lib/host/runner-script';
import { resolveParameters } from '../../../lib/sandbox/ssm-document';
import {
  CLEANUP_TIMEOUT_SECONDS,
  RUNNER_URL_SECONDS,
  auditValue,
  captureValues,
  cleanupValues,
  hostLimits,
  sendCommandOverride,
  sendRunner,
  sessionComment,
  type RunnerCommand,
} from '../../../lib/session/host-command';
import { FAKE, aws, useAwsMocks } from '../../support/aws';
import { CALLER, DOCUMENT, IMAGE, SESSION_ID, caught, executionInput } from '../../support/fixtures';

useAwsMocks();

const COMMAND_ID = '11111111-2222-3333-4444-555555555555';
const HOSTS = ['i-0000000000000000a', 'i-0000000000000000b'];
const command: RunnerCommand = {
  instanceIds: HOSTS,
  values: cleanupValues(SESSION_ID, 1735732890),
  comment: sessionComment(SESSION_ID, 'cleanup'),
};

function sent() {
  expect(aws.ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
  return aws.ssm.commandCalls(SendCommandCommand)[0].args[0].input;
}

describe('sendRunner', () => {
  beforeEach(() => aws.ssm.on(SendCommandCommand).resolves({ Command: { CommandId: COMMAND_ID } }));

  it('sends our document at the version and hash this deployment pinned, with a fresh runner URL, to the hosts at once', async () => {
    await expect(sendRunner(command)).resolves.toBe(COMMAND_ID);

    const input = sent();
    expect(input).toEqual({
      DocumentName: DOCUMENT,
      DocumentVersion: FAKE.documentVersion,
      DocumentHash: FAKE.documentHash,
      DocumentHashType: 'Sha256',
      InstanceIds: HOSTS,
      Parameters: { ...commandParameters(command.values), runnerUrl: [expect.any(String)] },
      TimeoutSeconds: 60,
      MaxConcurrency: '100%',
      MaxErrors: '100%',
      Comment: `debug-task cleanup ${SESSION_ID}`,
    });
    const runnerUrl = new URL(input.Parameters?.runnerUrl?.[0] ?? '');
    expect(runnerUrl.protocol).toBe('https:');
    expect(runnerUrl.hostname).toBe(`${FAKE.runnerBucket}.s3.${FAKE.region}.amazonaws.com`);
    expect(runnerUrl.pathname).toBe(`/${FAKE.runnerKey}`);
    expect(runnerUrl.searchParams.get('X-Amz-Expires')).toBe(String(RUNNER_URL_SECONDS));
  });

  it.each([
    ['$LATEST', 'DOCUMENT_VERSION'],
    ['$DEFAULT', 'DOCUMENT_VERSION'],
    [undefined, 'DOCUMENT_VERSION'],
  ])('refuses DOCUMENT_VERSION %s and sends nothing', async (version, name) => {
    if (version === undefined) delete process.env.DOCUMENT_VERSION;
    else process.env.DOCUMENT_VERSION = version;

    const error = await caught(() => sendRunner(command));

    expect(error.message).toContain(name);
    expect(aws.ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });

  it('refuses a DOCUMENT_HASH that is not a sha256, and sends nothing', async () => {
    process.env.DOCUMENT_HASH = 'abc';

    const error = await caught(() => sendRunner(command));

    expect(error).toMatchObject({ code: 'AWS_ERROR', message: expect.stringContaining('DOCUMENT_HASH') });
    expect(aws.ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });

  it('cuts the comment at the 100 characters SSM takes', async () => {
    await sendRunner({ ...command, comment: 'x'.repeat(150) });

    expect(sent().Comment).toBe('x'.repeat(100));
  });

  it('refuses, naming the parameter, a value the SSM document would refuse, and sends nothing', async () => {
    const error = await caught(() =>
      sendRunner({ ...command, values: { ...command.values, sessionId: 'dt-x; rm -rf /' } }),
    );

    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { parameter: 'sessionId' } });
    expect(aws.ssm).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });

  it('throws AWS_ERROR naming the call when SSM returns no command id', async () => {
    aws.ssm.on(SendCommandCommand).resolves({});

    const error = await caught(() => sendRunner(command));

    expect(error).toMatchObject({
      code: 'AWS_ERROR',
      message: 'ssm:SendCommand returned no command id for 2 hosts.',
    });
  });

  it('throws AWS_ERROR naming the call as the caller names it for an SSM error', async () => {
    aws.ssm
      .on(SendCommandCommand)
      .rejects(Object.assign(new Error('Document not found'), { name: 'InvalidDocument' }));

    const error = await caught(() => sendRunner({ ...command, call: 'ssm:SendCommand (cleanup)' }));

    expect(error).toMatchObject({
      code: 'AWS_ERROR',
      message: 'ssm:SendCommand (cleanup) failed: InvalidDocument: Document not found',
    });
  });

  describe('with sendCommandOverride (errors about the target, not AWS)', () => {
    it('throws SSM_AGENT_OFFLINE naming the one host of a one-host batch (InvalidInstanceId)', async () => {
      aws.ssm
        .on(SendCommandCommand)
        .rejects(new InvalidInstanceId({ message: 'Instances not in a valid state', $metadata: {} }));

      const error = await caught(() =>
        sendRunner({ ...command, instanceIds: [HOSTS[0]], override: sendCommandOverride([HOSTS[0]]) }),
      );

      expect(error).toMatchObject({
        code: 'SSM_AGENT_OFFLINE',
        message: expect.stringContaining(
          `to ${HOSTS[0]} (InvalidInstanceId: Instances not in a valid state)`,
        ),
        hint: expect.stringContaining('debug-task doctor'),
        details: { instanceIds: [HOSTS[0]] },
      });
    });

    it('counts the hosts of a larger batch in SSM_AGENT_OFFLINE, and lists them in details', async () => {
      aws.ssm.on(SendCommandCommand).rejects(new InvalidInstanceId({ message: 'not valid', $metadata: {} }));

      const error = await caught(() => sendRunner({ ...command, override: sendCommandOverride(HOSTS) }));

      expect(error).toMatchObject({
        code: 'SSM_AGENT_OFFLINE',
        message: expect.stringContaining('to 2 hosts'),
        details: { instanceIds: HOSTS },
      });
    });

    it('throws PLATFORM_UNSUPPORTED when SSM refuses the platform', async () => {
      aws.ssm
        .on(SendCommandCommand)
        .rejects(new UnsupportedPlatformType({ message: 'Windows is not supported', $metadata: {} }));

      const error = await caught(() => sendRunner({ ...command, override: sendCommandOverride(HOSTS) }));

      expect(error).toMatchObject({ code: 'PLATFORM_UNSUPPORTED', details: { instanceIds: HOSTS } });
    });
  });
});

describe('captureValues', () => {
  it('tells every capture the tool, its arguments, the image, the limits and who asked and why', () => {
    expect(captureValues(executionInput(), IMAGE)).toEqual({
      tool: 'tcpdump',
      durationSeconds: '60',
      maxBytes: '100000000',
      filter: 'tcp port 443',
      iface: '',
      snaplen: '262144',
      match: '',
      syscalls: '',
      pid: '',
      ringSeconds: '',
      ringBytes: '',
      allowHostNetwork: 'false',
      allowHostPid: 'false',
      image: IMAGE,
      cpus: '0.5',
      memoryMb: '256',
      pidsLimit: '64',
      maxSessions: '2',
      caller: CALLER,
      reason: 'INC-42 TLS resets',
    });
  });

  it('passes a ring buffer as ringSeconds or ringBytes, each a valid host parameter', () => {
    const byTime = captureValues(executionInput({ ring: { seconds: 600 } }), IMAGE);
    const bySize = captureValues(executionInput({ ring: { bytes: 200_000_000 } }), IMAGE);

    expect(byTime).toMatchObject({ ringSeconds: '600', ringBytes: '' });
    expect(bySize).toMatchObject({ ringSeconds: '', ringBytes: '200000000' });
    for (const values of [byTime, bySize]) {
      expect(isValidHostParam('ringSeconds', values.ringSeconds!)).toBe(true);
      expect(isValidHostParam('ringBytes', values.ringBytes!)).toBe(true);
    }
  });

  it("passes the tools' own arguments as their host parameters: ngrep's match, strace's syscalls and pid", () => {
    const ngrep = captureValues(executionInput({ tool: 'ngrep', match: 'GET /api|POST' }), IMAGE);
    const strace = captureValues(
      executionInput({ tool: 'strace', filter: '', syscalls: 'connect,%file', pid: 42 }),
      IMAGE,
    );

    expect(ngrep).toMatchObject({ tool: 'ngrep', match: 'GET /api|POST', syscalls: '', pid: '' });
    expect(strace).toMatchObject({ tool: 'strace', match: '', syscalls: 'connect,%file', pid: '42' });
  });

  it('gives every value as the SSM document takes it', () => {
    for (const [name, value] of Object.entries(captureValues(executionInput(), IMAGE))) {
      expect([name, isValidHostParam(name as never, value as string)]).toEqual([name, true]);
    }
  });

  it.each([
    ['true when the session asked for the host network', true, 'true'],
    ['false when it did not', false, 'false'],
    ['false for an execution started before the field existed', undefined, 'false'],
    ['false for anything but a boolean true', 'true', 'false'],
  ])('passes allowHostNetwork %s', (_label, allowHostNetwork, expected) => {
    const values = captureValues(executionInput({ allowHostNetwork: allowHostNetwork as boolean }), IMAGE);

    expect(values.allowHostNetwork).toBe(expected);
  });

  it.each([
    ['true when the session asked for a target in the host pid namespace', true, 'true'],
    ['false when it did not', false, 'false'],
    ['false for an execution started before the field existed', undefined, 'false'],
  ])('passes allowHostPid %s', (_label, allowHostPid, expected) => {
    const values = captureValues(executionInput({ allowHostPid: allowHostPid as boolean }), IMAGE);

    expect(values.allowHostPid).toBe(expected);
  });

  it('passes an absent reason as empty (SSM applies the default)', () => {
    const values = captureValues(executionInput({ reason: undefined }), IMAGE);

    expect(values.reason).toBe('');
    expect(commandParameters(values).reason).toBeUndefined();
  });
});

describe('hostLimits', () => {
  it("takes the toolbox limits of this deployment from the function's environment", () => {
    Object.assign(process.env, { HOST_CPUS: '1', HOST_MEMORY_MB: '512', HOST_MAX_SESSIONS: '3' });

    expect(hostLimits()).toEqual({ cpus: '1', memoryMb: '512', pidsLimit: '64', maxSessions: '3' });
  });
});

describe('auditValue', () => {
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

  it('makes a reason the API would refuse fit too (an execution started some other way)', () => {
    const reason = `it's "broken"; see $URL\n${'x'.repeat(300)}`;

    const value = auditValue('reason', reason);

    expect(value.startsWith('it_s _broken__ see _URL_xxx')).toBe(true);
    expect(value).toHaveLength(200);
    expect(isValidHostParam('reason', value)).toBe(true);
  });

  it('gives an absent value as empty', () => {
    expect(auditValue('reason', undefined)).toBe('');
  });
});

describe('cleanupValues', () => {
  it('sends only what cleanup needs, and SSM takes it: every other parameter has a default', () => {
    const values = cleanupValues(SESSION_ID, 1735732890);

    expect(values).toEqual({
      action: 'cleanup',
      sessionId: SESSION_ID,
      expiresAt: '1735732890',
      executionTimeout: String(CLEANUP_TIMEOUT_SECONDS),
    });
    // SendCommand's own check (required parameters, patterns), as the sandbox's SSM applies it.
    expect(resolveParameters(buildCommandDocument(), commandParameters(values))).toMatchObject({
      action: 'cleanup',
      sessionId: SESSION_ID,
      containerId: '',
      tool: '',
    });
  });
});

describe('sessionComment', () => {
  it('ties the command to the session, saying what it does', () => {
    expect(sessionComment(SESSION_ID)).toBe(`debug-task ${SESSION_ID}`);
    expect(sessionComment(SESSION_ID, 'reupload')).toBe(`debug-task reupload ${SESSION_ID}`);
  });

  it('is never longer than SSM takes', () => {
    expect(sessionComment(SESSION_ID, 'x'.repeat(200))).toHaveLength(100);
  });
});
