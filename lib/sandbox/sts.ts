import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from './http-body';

/**
 * The STS stand-in of the local sandbox: `AssumeRole` of the upload role, which Launch calls once per
 * session to sign the host's upload (lib/domain/upload.ts). Point the SDK at it with
 * AWS_ENDPOINT_URL_STS.
 *
 * STS speaks the AWS query protocol, as @aws-sdk/client-sts sends and reads it (AwsQueryProtocol of
 * @aws-sdk/core): `POST /`, a form-encoded body `Action=AssumeRole&Version=2011-06-15&RoleArn=...`;
 * the answer is XML, `<AssumeRoleResponse><AssumeRoleResult>...` (the SDK reads the `<Action>Result`
 * element), errors `<ErrorResponse><Error><Type/><Code/><Message/></Error>` with a 4xx status (the
 * SDK takes the error name from `Code`).
 *
 * It checks what STS would refuse (another role, a bad session name, DurationSeconds outside 900 to
 * the role-chaining hour, a session policy that is not JSON or longer than 2,048 characters), and
 * records each call with its parameters, session policy included. It does not check signatures
 * (loopback only), and the credentials it issues are random: s3rver does not verify the signature
 * of a URL signed with them, so unit tests check what it cannot see (lib/steps/launch.ts's tests).
 */
export interface StsStandInOptions {
  /** The only role AssumeRole accepts; any other is AccessDenied, as for a role that does not trust the caller. */
  readonly roleArn: string;
  /**
   * Longest DurationSeconds accepted: the caller's credentials are a role session (a Lambda
   * execution role's, in AWS), so this is role chaining, capped at one hour.
   *
   * @default 3600
   */
  readonly maxDurationSeconds?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** Told of each call as it arrives (the sandbox keeps one list of every service's calls, in order). */
  readonly onCall?: (call: StsCall) => void;
}

/** One call the stand-in received, with its form parameters (Action and Version aside). */
export interface StsCall {
  readonly service: 'sts';
  readonly action: string;
  readonly input: Readonly<Record<string, string>>;
}

export interface IssuedCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
  readonly roleSessionName: string;
  /** The session policy the caller passed, as given. */
  readonly policy?: string;
}

export interface StsStandIn {
  /** http://127.0.0.1:<port>, for AWS_ENDPOINT_URL_STS. */
  readonly endpoint: string;
  /** Every call received, in order. */
  readonly calls: StsCall[];
  /** The credentials each successful AssumeRole issued, in order. */
  readonly issued: IssuedCredentials[];
  stop(): Promise<void>;
}

export const STS_XML_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';
/** AssumeRole's documented limits. */
export const STS_LIMITS = { minDurationSeconds: 900, chainedMaxSeconds: 3600, policyMaxChars: 2048 } as const;

const ROLE_SESSION_NAME = /^[A-Za-z0-9_+=,.@-]{2,64}$/;
const MAX_BODY_BYTES = 64 * 1024;

class StsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
  }
}

export async function startStsStandIn(opts: StsStandInOptions): Promise<StsStandIn> {
  const now = opts.now ?? Date.now;
  const maxDuration = opts.maxDurationSeconds ?? STS_LIMITS.chainedMaxSeconds;
  const calls: StsCall[] = [];
  const issued: IssuedCredentials[] = [];

  const assumeRole = (input: Record<string, string>): string => {
    const roleArn = input.RoleArn ?? '';
    const sessionName = input.RoleSessionName ?? '';
    if (!roleArn) throw validation('roleArn', 'Member must not be null');
    if (!ROLE_SESSION_NAME.test(sessionName)) {
      throw validation('roleSessionName', 'Member must satisfy regular expression pattern: [\\w+=,.@-]*');
    }
    if (roleArn !== opts.roleArn) {
      throw new StsError(
        'AccessDenied',
        `User: arn:aws:sts::000000000000:assumed-role/sandbox/launch is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
        403,
      );
    }
    const duration = input.DurationSeconds === undefined ? 3600 : Number(input.DurationSeconds);
    if (!Number.isInteger(duration) || duration < STS_LIMITS.minDurationSeconds) {
      throw validation('durationSeconds', 'Member must have value greater than or equal to 900');
    }
    if (duration > maxDuration) {
      throw new StsError(
        'ValidationError',
        `The requested DurationSeconds exceeds the ${maxDuration / 3600} hour session limit for roles assumed by role chaining.`,
      );
    }
    const policy = input.Policy;
    if (policy !== undefined) {
      if (policy.length > STS_LIMITS.policyMaxChars) {
        throw validation(
          'policy',
          `Member must have length less than or equal to ${STS_LIMITS.policyMaxChars}`,
        );
      }
      try {
        JSON.parse(policy);
      } catch {
        throw new StsError('MalformedPolicyDocument', 'The policy is not in the valid JSON format.');
      }
    }

    const credentials: IssuedCredentials = {
      accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      // As long and as + / = laden as a real one, so the URL's length and encoding are exercised.
      sessionToken: `IQoJb3JpZ2luX2Vj${randomBytes(900).toString('base64')}`,
      expiration: new Date(Math.floor(now() / 1000) * 1000 + duration * 1000),
      roleSessionName: sessionName,
      policy,
    };
    issued.push(credentials);
    const roleName = roleArn.slice(roleArn.lastIndexOf('/') + 1);
    const account = /^arn:[^:]+:iam::([0-9]{12}):/.exec(roleArn)?.[1] ?? '000000000000';
    return (
      `<AssumeRoleResponse xmlns="${STS_XML_NAMESPACE}">` +
      '<AssumeRoleResult>' +
      '<AssumedRoleUser>' +
      `<AssumedRoleId>AROASANDBOXUPLOAD0000:${xml(sessionName)}</AssumedRoleId>` +
      `<Arn>arn:aws:sts::${account}:assumed-role/${xml(roleName)}/${xml(sessionName)}</Arn>` +
      '</AssumedRoleUser>' +
      '<Credentials>' +
      `<AccessKeyId>${credentials.accessKeyId}</AccessKeyId>` +
      `<SecretAccessKey>${xml(credentials.secretAccessKey)}</SecretAccessKey>` +
      `<SessionToken>${xml(credentials.sessionToken)}</SessionToken>` +
      `<Expiration>${credentials.expiration.toISOString()}</Expiration>` +
      '</Credentials>' +
      `<PackedPolicySize>${policy === undefined ? 0 : Math.ceil((policy.length * 100) / STS_LIMITS.policyMaxChars)}</PackedPolicySize>` +
      '</AssumeRoleResult>' +
      `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata>` +
      '</AssumeRoleResponse>'
    );
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent) sendError(res, new StsError('InternalFailure', 'The stand-in failed.', 500));
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      req.resume();
      return sendError(res, new StsError('InvalidAction', `${req.method} is not supported.`));
    }
    try {
      const form = new URLSearchParams(
        await readBody(
          req,
          MAX_BODY_BYTES,
          () => new StsError('ValidationError', 'Request body too large.', 413),
        ),
      );
      const action = form.get('Action') ?? '';
      const input = Object.fromEntries([...form].filter(([key]) => key !== 'Action' && key !== 'Version'));
      calls.push({ service: 'sts', action, input });
      opts.onCall?.(calls[calls.length - 1]);
      if (action !== 'AssumeRole') {
        throw new StsError('InvalidAction', `Could not find operation ${action} for version 2011-06-15`);
      }
      send(res, 200, assumeRole(input));
    } catch (error) {
      if (error instanceof StsError) return sendError(res, error);
      throw error;
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    issued,
    stop: () => (stopped ??= closeServer(server)),
  };
}

function validation(member: string, constraint: string): StsError {
  return new StsError(
    'ValidationError',
    `1 validation error detected: Value at '${member}' failed to satisfy constraint: ${constraint}`,
  );
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/xml',
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(body);
}

function sendError(res: ServerResponse, error: StsError): void {
  const type = error.statusCode >= 500 ? 'Receiver' : 'Sender';
  send(
    res,
    error.statusCode,
    `<ErrorResponse xmlns="${STS_XML_NAMESPACE}">` +
      `<Error><Type>${type}</Type><Code>${xml(error.code)}</Code><Message>${xml(error.message)}</Message></Error>` +
      `<RequestId>${randomUUID()}</RequestId>` +
      '</ErrorResponse>',
  );
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
