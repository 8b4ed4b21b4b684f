import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runHostRunner, type HostRunnerResult } from '../../lib/host/local-runner';
import { closedPort, runValues, uniqueSessionId } from './runner-fixtures';

/**
 * The runner's pull from ECR with the instance role, with no Docker engine and no AWS: a fake
 * instance metadata service and a fake ECR API on 127.0.0.1 (the runner's endpoint overrides,
 * DEBUG_TASK_IMDS_ENDPOINT and DEBUG_TASK_ECR_ENDPOINT, are always set, so 169.254.169.254 and
 * AWS are never contacted), and a stub `docker` on PATH that answers just enough for the runner to
 * reach the pull, and records what the pull saw ($DOCKER_CONFIG and its config.json).
 *
 * After a good pull the stub refuses `docker run` (the toolbox itself is the real-engine tests'
 * business), so a run that got past the image ends with CAPTURE_FAILED "did not start".
 */

jest.setTimeout(30_000);

const REGION = 'xx-test-1';
const REGISTRY = `123456789012.dkr.ecr.${REGION}.amazonaws.com`;
const IMAGE = `${REGISTRY}/debug-task-toolbox@sha256:${'c'.repeat(64)}`;
const ROLE = 'ecsInstanceRole';
const IMDS_TOKEN = 'AQAEAFakeImdsSessionToken_-0123456789==';
const CREDENTIALS = {
  AccessKeyId: 'ASIAFAKEINSTANCEROLE',
  SecretAccessKey: 'fAkE/Secret+Access=Key0123456789abcdefghij',
  Token: `IQoJb3JpZ2luX2VjEFAKE/session+token=${'T'.repeat(600)}==`,
};
const PASSWORD = `eyJwYXlsb2FkIjoiZmFrZSJ9${'P'.repeat(400)}`;
const AUTHORIZATION_TOKEN = Buffer.from(`AWS:${PASSWORD}`).toString('base64');
const TARGET_ID = 'feedface0123456789abcdef';

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

interface FakeServer {
  url: string;
  requests: Recorded[];
  close: () => Promise<void>;
}

async function fakeServer(handle: (req: Recorded, res: ServerResponse) => unknown): Promise<FakeServer> {
  const requests: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      void Promise.resolve(handle(recorded, res)).catch(() => res.writeHead(500).end());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** IMDSv2 as EC2 answers it: token first, then the role, then its credentials (with the token only). */
function imds(opts: { role?: string | null } = {}) {
  const role = opts.role === undefined ? ROLE : opts.role;
  return fakeServer((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return void res.writeHead(400).end();
      return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end(IMDS_TOKEN);
    }
    if (req.headers['x-aws-ec2-metadata-token'] !== IMDS_TOKEN) return void res.writeHead(401).end();
    const prefix = '/latest/meta-data/iam/security-credentials/';
    if (req.method !== 'GET' || !req.url.startsWith(prefix) || role === null) {
      return void res.writeHead(404).end('Not Found');
    }
    if (req.url === prefix) return void res.writeHead(200).end(role);
    if (req.url !== prefix + role) return void res.writeHead(404).end('Not Found');
    const body = {
      Code: 'Success',
      LastUpdated: '2026-11-25T12:00:00Z',
      Type: 'AWS-HMAC',
      ...CREDENTIALS,
      Expiration: '2026-11-25T18:00:00Z',
    };
    // EC2 pretty-prints it, with " : " between names and values.
    res.writeHead(200).end(JSON.stringify(body, null, 2).replace(/": /g, '" : '));
  });
}

/** SigV4 as AWS checks it: the request re-signed with the secret must carry the same signature. */
async function signatureVerifies(req: Recorded, url: string): Promise<boolean> {
  const authorization = String(req.headers.authorization ?? '');
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const signed = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(';') ?? [];
  const headers: Record<string, string> = {};
  for (const name of signed) if (req.headers[name] !== undefined) headers[name] = String(req.headers[name]);
  const { hostname, port } = new URL(url);
  const signer = new SignatureV4({
    service: 'ecr',
    region: REGION,
    credentials: { accessKeyId: CREDENTIALS.AccessKeyId, secretAccessKey: CREDENTIALS.SecretAccessKey },
    sha256: Sha256,
    applyChecksum: false, // curl sends no x-amz-content-sha256 header (ECR does not want one)
  });
  const expected = await signer.sign(
    {
      method: req.method,
      protocol: 'http:',
      hostname,
      port: Number(port),
      path: req.url,
      headers,
      body: req.body,
    },
    {
      signingDate: new Date(
        amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
      ),
    },
  );
  return expected.headers.authorization === authorization;
}

/** ECR's JSON 1.1 API: GetAuthorizationToken only, checking what a real endpoint would refuse. */
function ecr(opts: { deny?: boolean } = {}) {
  const server = fakeServer(async (req, res) => {
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1' }).end(JSON.stringify(body));
    const target = req.headers['x-amz-target'];
    if (target !== 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken') {
      return json(400, { __type: 'UnknownOperationException' });
    }
    if (
      req.headers['x-amz-security-token'] !== CREDENTIALS.Token ||
      !(await signatureVerifies(req, (await server).url))
    ) {
      return json(403, {
        __type: 'InvalidSignatureException',
        message: 'The request signature we calculated does not match the signature you provided.',
      });
    }
    if (opts.deny) {
      return json(400, {
        __type: 'com.amazon.coral.service#AccessDeniedException',
        message: `User: arn:aws:sts::123456789012:assumed-role/${ROLE}/i-0abc is not authorized to perform: ecr:GetAuthorizationToken on resource: * because no identity-based policy allows the ecr:GetAuthorizationToken action`,
      });
    }
    return json(200, {
      authorizationData: [
        {
          authorizationToken: AUTHORIZATION_TOKEN,
          expiresAt: 1.7645e9,
          proxyEndpoint: `https://${REGISTRY}`,
        },
      ],
    });
  });
  return server;
}

interface StubDocker {
  dir: string;
  path: string;
  /** Every docker call, one line of arguments each. */
  calls: () => string[];
  /** What `docker pull` saw, if it ran. */
  pull: () => { dockerConfig: string; configJson?: string; mode?: string } | undefined;
  /** Auth leftovers under the work root when `docker run` was called (after the pull). */
  leftoversAtRun: () => string | undefined;
  remove: () => void;
}

/** A `docker` that knows of no image, a running target, no sessions; `pull` records, `create` and `run` refuse. */
function stubDocker(home: string, opts: { pullFails?: boolean } = {}): StubDocker {
  const dir = mkdtempSync(join(tmpdir(), 'debug-task-stub-'));
  const script = `#!/bin/sh
printf '%s\\n' "$*" >>'${dir}/calls'
case "$1" in
  info) exit 0 ;;
  inspect) echo 'running|4242|/app|bridge|' ;;
  ps) exit 0 ;;
  image) exit 1 ;;
  pull)
    printf '%s' "\${DOCKER_CONFIG-unset}" >'${dir}/pull.docker-config'
    if [ -f "\${DOCKER_CONFIG}/config.json" ]; then
      cp "\${DOCKER_CONFIG}/config.json" '${dir}/pull.config.json'
      stat -c %a "\${DOCKER_CONFIG}/config.json" >'${dir}/pull.mode'
    fi
    ${opts.pullFails ? "echo 'Error response from daemon: repository debug-task-toolbox not found: name unknown' >&2; exit 1" : 'exit 0'}
    ;;
  run)
    # The runner's overlapped start runs the gated toolbox --pull never beside the target's inspect
    # (nothing to find yet), and again after the pull.
    find '${home}' -name docker-config -o -name ecr-auth >'${dir}/run.leftovers'
    echo 'stub: no docker run in this test' >&2
    exit 125
    ;;
esac
exit 0
`;
  writeFileSync(join(dir, 'docker'), script, { mode: 0o755 });
  const read = (name: string) =>
    existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : undefined;
  return {
    dir,
    path: `${dir}:${process.env.PATH}`,
    calls: () => (read('calls') ?? '').trim().split('\n').filter(Boolean),
    pull: () => {
      const dockerConfig = read('pull.docker-config');
      if (dockerConfig === undefined) return undefined;
      return { dockerConfig, configJson: read('pull.config.json'), mode: read('pull.mode')?.trim() };
    },
    leftoversAtRun: () => read('run.leftovers'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

let home: string;
let fakeHome: string;
const toClose: Array<{ close: () => Promise<void> }> = [];
const toRemove: Array<() => void> = [];

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'debug-task-ecr-test-'));
  fakeHome = mkdtempSync(join(tmpdir(), 'debug-task-ecr-home-'));
});

afterEach(async () => {
  await Promise.all(toClose.splice(0).map((server) => server.close()));
  for (const remove of toRemove.splice(0)) remove();
  rmSync(home, { recursive: true, force: true });
  rmSync(fakeHome, { recursive: true, force: true });
});

async function servers(opts: { role?: string | null; deny?: boolean } = {}) {
  const metadata = await imds(opts);
  const registry = await ecr(opts);
  toClose.push(metadata, registry);
  return { metadata, registry };
}

async function runWith(
  stub: StubDocker,
  endpoints: { imds: string; ecr?: string },
  image = IMAGE,
): Promise<HostRunnerResult & { sessionId: string }> {
  const sessionId = uniqueSessionId();
  const result = await runHostRunner(
    runValues({ sessionId, containerId: TARGET_ID, image }, { durationSeconds: '5' }),
    {
      home,
      env: {
        PATH: stub.path,
        HOME: fakeHome,
        DEBUG_TASK_IMDS_ENDPOINT: endpoints.imds,
        ...(endpoints.ecr !== undefined && { DEBUG_TASK_ECR_ENDPOINT: endpoints.ecr }),
      },
    },
  );
  return { ...result, sessionId };
}

/** No secret of the path may reach the runner's output (SSM keeps it) or the host's disk. */
function expectNoSecrets(result: HostRunnerResult) {
  const output = result.stdout + result.stderr;
  for (const secret of [
    CREDENTIALS.SecretAccessKey,
    CREDENTIALS.Token,
    IMDS_TOKEN,
    AUTHORIZATION_TOKEN,
    PASSWORD.slice(0, 40),
  ]) {
    expect(output).not.toContain(secret);
  }
  expect(existsSync(join(fakeHome, '.docker'))).toBe(false);
  // The session's work dir is gone with everything in it; the host lock file may stay.
  expect(execFileSync('find', [home, '-mindepth', '1', '!', '-name', '.lock'], { encoding: 'utf8' })).toBe(
    '',
  );
}

describe('host runner: a toolbox image in ECR that is not on the host', () => {
  it('pulls it with the instance role: IMDSv2, a SigV4-signed GetAuthorizationToken, a Docker config of its own', async () => {
    const { metadata, registry } = await servers();
    const stub = stubDocker(home);
    toRemove.push(stub.remove);

    const result = await runWith(stub, { imds: metadata.url, ecr: registry.url });

    // IMDSv2: a token first, then the role and its credentials, each with the token.
    expect(metadata.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'PUT /latest/api/token',
      'GET /latest/meta-data/iam/security-credentials/',
      `GET /latest/meta-data/iam/security-credentials/${ROLE}`,
    ]);
    // ECR: one signed call for service ecr in the image's region, with the role's session token.
    expect(registry.requests).toHaveLength(1);
    const call = registry.requests[0];
    expect(call).toMatchObject({ method: 'POST', url: '/', body: '{}' });
    expect(call.headers).toMatchObject({
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken',
      'x-amz-security-token': CREDENTIALS.Token,
    });
    expect(call.headers.authorization).toMatch(
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=${CREDENTIALS.AccessKeyId}/\\d{8}/${REGION}/ecr/aws4_request, SignedHeaders=[a-z0-9;-]*x-amz-security-token[a-z0-9;-]*, Signature=[0-9a-f]{64}$`,
      ),
    );
    expect(await signatureVerifies(call, registry.url)).toBe(true);
    // The pull saw a throwaway DOCKER_CONFIG under the session's work dir, holding exactly the token.
    const pull = stub.pull()!;
    expect(pull.dockerConfig).toMatch(new RegExp(`^${home}/${result.sessionId}/docker-config$`));
    expect(JSON.parse(pull.configJson!)).toEqual({ auths: { [REGISTRY]: { auth: AUTHORIZATION_TOKEN } } });
    expect(pull.mode).toBe('600');
    expect(stub.calls()).toContain(`pull ${IMAGE}`);
    // Gone right after the pull: nothing left by the time the toolbox would start.
    expect(stub.leftoversAtRun()).toBe('');
    // The image step passed; the stub's refusal of `docker run` is what ended the run.
    expect(result.manifest).toMatchObject({ status: 'FAILED', error: { code: 'CAPTURE_FAILED' } });
    expect(result.manifest!.error!.message).toContain('The toolbox container did not start: stub');
    expect(result.stderr).toContain(`from ECR (${REGION}) with the instance role`);
    expectNoSecrets(result);
  });

  it('fails with TOOLBOX_IMAGE_UNAVAILABLE when the metadata service does not answer, pulling nothing', async () => {
    const stub = stubDocker(home);
    toRemove.push(stub.remove);
    const port = await closedPort();

    const started = Date.now();
    const result = await runWith(stub, { imds: `http://127.0.0.1:${port}`, ecr: 'http://127.0.0.1:1' });

    expect(Date.now() - started).toBeLessThan(15_000);
    expect(result.exitCode).toBe(4);
    expect(result.manifest).toMatchObject({ status: 'FAILED', error: { code: 'TOOLBOX_IMAGE_UNAVAILABLE' } });
    const message = result.manifest!.error!.message;
    expect(message).toContain(IMAGE);
    expect(message).toMatch(
      /instance metadata service \(IMDSv2 at http:\/\/127\.0\.0\.1:\d+\) is unreachable/,
    );
    expect(message).toContain(
      'Make sure the instance metadata service is enabled for the instance (IMDSv2 tokens, reachable from the host), or pre-pull the image on the host.',
    );
    expect(stub.pull()).toBeUndefined();
    expectNoSecrets(result);
  });

  it('fails with TOOLBOX_IMAGE_UNAVAILABLE naming the missing instance role', async () => {
    const { metadata, registry } = await servers({ role: null });
    const stub = stubDocker(home);
    toRemove.push(stub.remove);

    const result = await runWith(stub, { imds: metadata.url, ecr: registry.url });

    expect(result.manifest).toMatchObject({ error: { code: 'TOOLBOX_IMAGE_UNAVAILABLE' } });
    expect(result.manifest!.error!.message).toContain('the instance has no instance role');
    expect(result.manifest!.error!.message).toContain('ecr:GetAuthorizationToken');
    expect(registry.requests).toHaveLength(0);
    expect(stub.pull()).toBeUndefined();
    expectNoSecrets(result);
  });

  it('fails with TOOLBOX_IMAGE_UNAVAILABLE when ECR denies the token (HTTP 400), saying which permissions the role needs', async () => {
    const { metadata, registry } = await servers({ deny: true });
    const stub = stubDocker(home);
    toRemove.push(stub.remove);

    const result = await runWith(stub, { imds: metadata.url, ecr: registry.url });

    expect(result.exitCode).toBe(4);
    expect(result.manifest).toMatchObject({ status: 'FAILED', error: { code: 'TOOLBOX_IMAGE_UNAVAILABLE' } });
    const message = result.manifest!.error!.message;
    // What failed, what to do, then ECR's own words (last: the manifest may cut a long message).
    expect(message).toContain(
      `could not be pulled from ECR: ECR denied GetAuthorizationToken to the instance role ${ROLE} (HTTP 400). Grant the instance role (e.g. ecsInstanceRole) ecr:GetAuthorizationToken, ecr:BatchGetImage and ecr:GetDownloadUrlForLayer (AmazonEC2ContainerServiceforEC2Role has them), or pre-pull the image on the host. ECR said: AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/${ROLE}/i-0abc is not authorized`,
    );
    expect(stub.pull()).toBeUndefined();
    expectNoSecrets(result);
  });

  it('fails with TOOLBOX_IMAGE_UNAVAILABLE in docker’s words when the pull itself fails, removing the config', async () => {
    const { metadata, registry } = await servers();
    const stub = stubDocker(home, { pullFails: true });
    toRemove.push(stub.remove);

    const result = await runWith(stub, { imds: metadata.url, ecr: registry.url });

    expect(result.manifest).toMatchObject({ error: { code: 'TOOLBOX_IMAGE_UNAVAILABLE' } });
    const message = result.manifest!.error!.message;
    expect(message).toContain(`ECR gave the instance role (${ROLE}) a token, but docker pull failed.`);
    expect(message).toContain('The role needs ecr:BatchGetImage and ecr:GetDownloadUrlForLayer');
    expect(message).toContain(
      'docker pull said: Error response from daemon: repository debug-task-toolbox not found',
    );
    expect(stub.pull()?.configJson).toBeDefined(); // it had the config while it pulled
    expectNoSecrets(result);
  });

  it('refuses an endpoint override that is not a plain http(s) origin', async () => {
    const stub = stubDocker(home);
    toRemove.push(stub.remove);

    const result = await runWith(stub, { imds: 'http://127.0.0.1:1/x?y', ecr: 'http://127.0.0.1:1' });

    expect(result.manifest).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
    expect(result.manifest!.error!.message).toContain(
      'DEBUG_TASK_IMDS_ENDPOINT must be http(s)://host[:port]',
    );
  });

  it('pulls an image of any other registry as before: plain docker pull, no instance role, no config', async () => {
    const stub = stubDocker(home);
    toRemove.push(stub.remove);
    const port = await closedPort();
    const image = 'registry.example.com/team/toolbox:1.2';

    const result = await runWith(
      stub,
      { imds: `http://127.0.0.1:${port}`, ecr: 'http://127.0.0.1:1' },
      image,
    );

    expect(stub.pull()).toEqual({ dockerConfig: 'unset', configJson: undefined, mode: undefined });
    expect(result.manifest!.error!.message).toContain('The toolbox container did not start');
  });
});

describe('host runner: the default ECR endpoint, from the image’s host', () => {
  /**
   * A `curl` that lets the metadata requests through (to the fake on loopback) and records, then
   * fails as unresolvable, any request to an AWS host: so nothing leaves this machine.
   */
  function curlInterceptor(): { path: string; calls: () => string[]; remove: () => void } {
    const dir = mkdtempSync(join(tmpdir(), 'debug-task-curl-'));
    const realCurl = execFileSync('sh', ['-c', 'command -v curl'], { encoding: 'utf8' }).trim();
    writeFileSync(
      join(dir, 'curl'),
      `#!/bin/sh
for arg in "$@"; do
  case "$arg" in
    https://*|*amazonaws*) printf '%s\\n' "$*" >>'${dir}/aws-calls'; echo 'curl: (6) Could not resolve host (test)' >&2; printf 000; exit 6 ;;
  esac
done
exec '${realCurl}' "$@"
`,
      { mode: 0o755 },
    );
    return {
      path: dir,
      calls: () =>
        existsSync(join(dir, 'aws-calls'))
          ? readFileSync(join(dir, 'aws-calls'), 'utf8').trim().split('\n')
          : [],
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  }

  it.each([
    [
      'commercial',
      `123456789012.dkr.ecr.eu-west-3.amazonaws.com`,
      'eu-west-3',
      'https://api.ecr.eu-west-3.amazonaws.com/',
    ],
    [
      'FIPS',
      `123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com`,
      'us-gov-west-1',
      'https://ecr-fips.us-gov-west-1.amazonaws.com/',
    ],
    [
      'China',
      `123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn`,
      'cn-north-1',
      'https://api.ecr.cn-north-1.amazonaws.com.cn/',
    ],
  ])(
    'signs for the %s region of the image and calls its API endpoint',
    async (_label, registryHost, region, endpoint) => {
      const metadata = await imds();
      toClose.push(metadata);
      const stub = stubDocker(home);
      const curl = curlInterceptor();
      toRemove.push(stub.remove, curl.remove);
      const image = `${registryHost}/toolbox@sha256:${'d'.repeat(64)}`;

      const sessionId = uniqueSessionId();
      const result = await runHostRunner(
        runValues({ sessionId, containerId: TARGET_ID, image }, { durationSeconds: '5' }),
        {
          home,
          env: { PATH: `${curl.path}:${stub.path}`, HOME: fakeHome, DEBUG_TASK_IMDS_ENDPOINT: metadata.url },
        },
      );

      const [call] = curl.calls();
      expect(curl.calls()).toHaveLength(1);
      expect(call).toContain(`--aws-sigv4 aws:amz:${region}:ecr`);
      expect(call.endsWith(` ${endpoint}`)).toBe(true);
      expect(result.manifest!.error).toMatchObject({ code: 'TOOLBOX_IMAGE_UNAVAILABLE' });
      expect(result.manifest!.error!.message).toContain(`ECR (${endpoint.slice(0, -1)}) is unreachable`);
      expect(result.manifest!.error!.message).toContain(`com.amazonaws.${region}.ecr.api`);
      expectNoSecrets(result);
    },
  );
});
