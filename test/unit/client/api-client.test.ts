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
        if (event.routeKey === 'GET /sessions/{id}') {
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

    const started = await client.startSession({ target: { task: 'x' }, tool: 'tcpdump' });

    expect(started.sessionId).toBe('dt-20261125123456-a1b2c3');
    expect(seen.at(-1)?.routeKey).toBe('POST /sessions');
    expect(JSON.parse(seen.at(-1)?.body ?? '')).toEqual({ target: { task: 'x' }, tool: 'tcpdump' });
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
    await expect(client.cancelSession('dt-20261125123456-a1b2c3')).rejects.toMatchObject({ message: /403/ });
  });

  it('turns an error body into the typed error it describes', async () => {
    const client = new DebugTaskClient({ apiUrl: server.url, region: 'xx-test-1', credentials: CREDENTIALS });
    await expect(client.getSession('dt-20261125123456-a1b2c3')).rejects.toMatchObject({
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
