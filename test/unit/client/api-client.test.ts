import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2WithIAMAuthorizer } from 'aws-lambda';
import { DebugTaskClient } from '../../../lib/client/api-client';
import { startApiServer } from '../../../lib/sandbox/api-server';

const CREDENTIALS = { accessKeyId: 'AKIATESTCLIENT000000', secretAccessKey: 'secret' };

describe('DebugTaskClient against an API that verifies SigV4', () => {
  let server: Awaited<ReturnType<typeof startApiServer>>;
  const seen: APIGatewayProxyEventV2WithIAMAuthorizer[] = [];

  beforeAll(async () => {
    server = await startApiServer({
      region: 'xx-test-1',
      credentials: CREDENTIALS,
      accountId: '123456789012',
      handler: async (event) => {
        seen.push(event);
        if (event.routeKey === 'GET /clusters/{cluster}/sessions/{id}') {
          return {
            statusCode: 404,
            body: JSON.stringify({
              error: { code: 'SESSION_NOT_FOUND', message: 'gone', hint: 'list them' },
            }),
          };
        }
        return {
          statusCode: 202,
          body: JSON.stringify({ sessionId: 'dt-20261125123456-a1b2c3', status: 'RUNNING' }),
        };
      },
    });
  });
  afterAll(() => server.stop());

  it('signs requests that the API accepts, and sends the body as JSON', async () => {
    const client = new DebugTaskClient({ apiUrl: server.url, region: 'xx-test-1', credentials: CREDENTIALS });

    const started = await client.startSession({ target: { task: 'x', cluster: 'prod' }, tool: 'tcpdump' });

    expect(started.sessionId).toBe('dt-20261125123456-a1b2c3');
    expect(seen.at(-1)?.routeKey).toBe('POST /clusters/{cluster}/tools/{tool}/sessions');
    expect(seen.at(-1)?.pathParameters).toEqual({ cluster: 'prod', tool: 'tcpdump' });
    expect(JSON.parse(seen.at(-1)?.body ?? '')).toEqual({
      target: { task: 'x', cluster: 'prod' },
      tool: 'tcpdump',
    });
  });

  it('is refused (403) when signing with the wrong secret', async () => {
    const client = new DebugTaskClient({
      apiUrl: server.url,
      region: 'xx-test-1',
      credentials: { ...CREDENTIALS, secretAccessKey: 'wrong' },
    });
    await expect(client.listSessions()).rejects.toMatchObject({ code: 'AWS_ERROR', message: /403/ });
  });

  it('is refused when signing for another region', async () => {
    const client = new DebugTaskClient({
      apiUrl: server.url,
      region: 'xx-other-1',
      credentials: CREDENTIALS,
    });
    await expect(client.cancelSession('dt-20261125123456-a1b2c3', { cluster: 'prod' })).rejects.toMatchObject(
      { message: /403/ },
    );
  });

  it('turns an error body into the typed error it describes', async () => {
    const client = new DebugTaskClient({ apiUrl: server.url, region: 'xx-test-1', credentials: CREDENTIALS });
    await expect(client.getSession('dt-20261125123456-a1b2c3', { cluster: 'prod' })).rejects.toMatchObject({
      code: 'SESSION_NOT_FOUND',
      hint: 'list them',
    });
  });

  it('says which API it could not reach', async () => {
    const client = new DebugTaskClient({
      apiUrl: 'http://127.0.0.1:9/',
      region: 'xx-test-1',
      credentials: CREDENTIALS,
    });
    await expect(client.listSessions()).rejects.toMatchObject({
      code: 'AWS_ERROR',
      message: /127\.0\.0\.1:9/,
    });
  });
});

describe('DebugTaskClient against an API that stalls', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    // /silent never answers; /half sends its status and part of its body, then nothing more.
    server = createServer((req, res) => {
      if (req.url?.startsWith('/half')) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"sessions":');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it.each([
    ['never answers', 'silent'],
    ['stops in the middle of its answer', 'half'],
  ])('gives up after timeoutMs when it %s, saying which API', async (_what, base) => {
    const client = new DebugTaskClient({
      apiUrl: `${url}/${base}/`,
      region: 'xx-test-1',
      credentials: CREDENTIALS,
      timeoutMs: 300,
    });
    const started = Date.now();

    await expect(client.listSessions()).rejects.toMatchObject({
      code: 'AWS_ERROR',
      message: /Could not reach the debug-task API at http:\/\/127\.0\.0\.1:/,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe("DebugTaskClient: an error answer that is not quite the API's", () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    // The path names the body answered with a 403 (a proxy, an older or newer API, a hand-made one).
    const bodies: Record<string, unknown> = {
      'no-hint': { error: { code: 'SESSION_NOT_FOUND', message: 'No session dt-x.' } },
      'unknown-code': { error: { code: 'SOMETHING_NEW', message: 'A code this CLI does not know.' } },
      'odd-fields': { error: { code: 'NOT_AUTHORIZED', message: 'No.', hint: 42, details: 'text' } },
    };
    server = createServer((req, res) => {
      const name = req.url?.split('/')[1] ?? '';
      res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify(bodies[name] ?? {}));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const client = (name: string) =>
    new DebugTaskClient({ apiUrl: `${url}/${name}/`, region: 'xx-test-1', credentials: CREDENTIALS });

  it("keeps the API's code and message, with the code's own hint when the body has none", async () => {
    const error = await client('no-hint')
      .listSessions()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'SESSION_NOT_FOUND', message: 'No session dt-x.' });
    expect((error as { hint: unknown }).hint).toEqual(expect.stringMatching(/\S/));
  });

  it('reports an unknown code as the HTTP answer it came with, never as a code without an exit status', async () => {
    const error = await client('unknown-code')
      .listSessions()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'AWS_ERROR', message: /The API answered 403: .*SOMETHING_NEW/ });
    expect((error as { exitCode: unknown }).exitCode).toEqual(expect.any(Number));
  });

  it('drops a hint or details of the wrong type instead of passing them to the printer', async () => {
    const error = await client('odd-fields')
      .listSessions()
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'NOT_AUTHORIZED', message: 'No.' });
    expect(typeof (error as { hint: unknown }).hint).toBe('string');
    expect((error as { details: unknown }).details).toBeUndefined();
  });
});

describe('DebugTaskClient: the cluster in the route', () => {
  let server: Awaited<ReturnType<typeof startApiServer>>;
  const seen: APIGatewayProxyEventV2WithIAMAuthorizer[] = [];
  const ID = 'dt-20261125123456-a1b2c3';

  beforeAll(async () => {
    server = await startApiServer({
      region: 'xx-test-1',
      credentials: CREDENTIALS,
      accountId: '123456789012',
      handler: async (event) => {
        seen.push(event);
        const body =
          event.routeKey === 'GET /sessions'
            ? {
                sessions:
                  event.queryStringParameters?.id === ID ? [{ sessionId: ID, cluster: 'staging' }] : [],
              }
            : event.routeKey.startsWith('POST /clusters/{cluster}/tools/')
              ? { sessionId: ID, status: 'RUNNING' }
              : { sessionId: ID, status: 'RUNNING' };
        return { statusCode: 200, body: JSON.stringify(body) };
      },
    });
  });
  afterAll(() => server.stop());
  beforeEach(() => (seen.length = 0));
  const client = () =>
    new DebugTaskClient({ apiUrl: server.url, region: 'xx-test-1', credentials: CREDENTIALS });

  it('takes the cluster from a long task ARN, and ECS’s default cluster when nothing names one', async () => {
    const c = client();
    await c.startSession({
      target: { task: 'arn:aws:ecs:xx-test-1:123456789012:task/payments/0123456789abcdef0123456789abcdef' },
      tool: 'ngrep',
    });
    await c.startSession({ target: { task: '0123456789abcdef0123456789abcdef' }, tool: 'tcpdump' });

    expect(seen.map((e) => e.pathParameters)).toEqual([
      { cluster: 'payments', tool: 'ngrep' },
      { cluster: 'default', tool: 'tcpdump' },
    ]);
  });

  it('follows a session it started in that session’s cluster, without asking where it is', async () => {
    const c = client();
    await c.startSession({
      target: { service: 'web', cluster: 'arn:aws:ecs:xx-test-1:123456789012:cluster/prod' },
      tool: 'tcpdump',
    });
    await c.getSession(`${ID}-0003`);

    expect(seen.map((e) => [e.routeKey, e.pathParameters?.cluster])).toEqual([
      ['POST /clusters/{cluster}/tools/{tool}/sessions', 'prod'],
      ['GET /clusters/{cluster}/sessions/{id}', 'prod'],
    ]);
  });

  it('asks the API where a session it did not start is (GET /sessions?id=), once', async () => {
    const c = client();
    await c.getSession(ID);
    await c.cancelSession(ID);

    expect(seen.map((e) => [e.routeKey, e.pathParameters?.cluster])).toEqual([
      ['GET /sessions', undefined],
      ['GET /clusters/{cluster}/sessions/{id}', 'staging'],
      ['DELETE /clusters/{cluster}/sessions/{id}', 'staging'],
    ]);
  });

  it('says SESSION_NOT_FOUND, with a hint at --cluster, for a session the caller may not read', async () => {
    await expect(client().getSession('dt-20261125123456-zzzzzz')).rejects.toMatchObject({
      code: 'SESSION_NOT_FOUND',
      hint: expect.stringContaining('--cluster'),
    });
  });
});

describe('the sandbox API with several principals', () => {
  const OWNER = {
    arn: 'arn:aws:iam::000000000000:user/sandbox-owner',
    accessKeyId: 'AKIASANDBOXOWNER0000',
    secretAccessKey: 'owner-secret',
  };
  const OTHER = {
    arn: 'arn:aws:iam::000000000000:user/sandbox-other',
    accessKeyId: 'AKIASANDBOXOTHER0000',
    secretAccessKey: 'other-secret',
  };
  let server: Awaited<ReturnType<typeof startApiServer>>;
  const seen: APIGatewayProxyEventV2WithIAMAuthorizer[] = [];

  beforeAll(async () => {
    server = await startApiServer({
      region: 'xx-test-1',
      principals: [OWNER, OTHER],
      accountId: '000000000000',
      handler: async (event) => {
        seen.push(event);
        return { statusCode: 200, body: JSON.stringify({ sessions: [] }) };
      },
    });
  });
  afterAll(() => server.stop());

  const clientOf = (p: { accessKeyId: string; secretAccessKey: string }) =>
    new DebugTaskClient({ apiUrl: server.url, region: 'xx-test-1', credentials: p });

  it.each([
    ['owner', OWNER],
    ['other', OTHER],
  ])(
    'passes the %s as the caller API Gateway would: its ARN, account and access key',
    async (_, principal) => {
      await clientOf(principal).listSessions();

      expect(seen.at(-1)?.requestContext.authorizer.iam).toMatchObject({
        userArn: principal.arn,
        accountId: '000000000000',
        accessKey: principal.accessKeyId,
      });
    },
  );

  it('refuses (403) a key it does not know, and runs nothing', async () => {
    const before = seen.length;

    await expect(
      clientOf({ accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'x' }).listSessions(),
    ).rejects.toMatchObject({ message: /403/ });
    expect(seen).toHaveLength(before);
  });

  it("refuses one principal's key signed with the other's secret", async () => {
    await expect(
      clientOf({ accessKeyId: OWNER.accessKeyId, secretAccessKey: OTHER.secretAccessKey }).listSessions(),
    ).rejects.toMatchObject({ message: /403/ });
  });
});
