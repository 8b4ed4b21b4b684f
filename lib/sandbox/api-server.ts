import { ROUTES, routeKey, type RouteName } from '../domain/routes';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { readBody } from './http-body';

/**
 * The HTTP API in front of the api function, on loopback: API Gateway's payload format 2.0 and its
 * IAM authorizer. Like API Gateway, it authenticates each request by its SigV4 signature (service
 * execute-api, the sandbox's region): the access key id in the Authorization header names the
 * principal, whose secret must give the same signature. An unknown key or a bad signature is a 403,
 * and nothing runs; otherwise the handler sees that principal as `requestContext.authorizer.iam`
 * (`userArn`, `accountId`, `accessKey`), as API Gateway passes the caller, so the authorization code
 * of the deployed API runs unchanged. So the CLI's signing is exercised for real, with several
 * principals (`debug-task sandbox`'s owner and other).
 */
export type ApiHandler = (
  event: APIGatewayProxyEventV2WithIAMAuthorizer,
) => Promise<APIGatewayProxyStructuredResultV2>;

export interface ApiServerOptions {
  /** The handler of every route, unless `routes` names another for it. */
  handler: ApiHandler;
  /** Route keys served (`METHOD /path/{param}`); default DEFAULT_ROUTE_KEYS. */
  routeKeys?: readonly string[];
  /** Handlers of routes integrated with another function than `handler` (the stack's preview, doctor). */
  routes?: Readonly<Record<string, ApiHandler>>;
  region: string;
  /** One principal, `arn:aws:iam::<accountId>:user/sandbox`; ignored when `principals` is given. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** The principals the API knows, each by its own access key. */
  principals?: readonly ApiPrincipal[];
  accountId: string;
}

/** An IAM principal as the sandbox API authenticates it: its ARN and its one access key. */
export interface ApiPrincipal {
  arn: string;
  accessKeyId: string;
  secretAccessKey: string;
}

interface KnownPrincipal extends ApiPrincipal {
  signer: SignatureV4;
}

/**
 * The routes of the stack's HTTP API (`apiRouteKeys` of the synthesized template gives the same
 * list; the sandbox passes that one): the default when `routeKeys` is not given.
 */
export const DEFAULT_ROUTE_KEYS: readonly string[] = (Object.keys(ROUTES) as RouteName[]).map(routeKey);

interface Route {
  method: string;
  pattern: RegExp;
  routeKey: string;
  /** Names of the path parameters, in the order of the pattern's groups. */
  params: string[];
}

/** `GET /sessions/{id}` -> a matcher of `/sessions/<one segment>` (a trailing slash allowed), as API Gateway matches it. */
export function routeOf(routeKey: string): Route {
  const [method, path] = routeKey.split(' ');
  const params: string[] = [];
  const source = path
    .split('/')
    .map((segment) => {
      const param = /^\{([A-Za-z0-9_]+)\}$/.exec(segment);
      if (param) {
        params.push(param[1]);
        return '([^/]+)';
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { method, pattern: new RegExp(`^${source}/?$`), routeKey, params };
}

export async function startApiServer(
  options: ApiServerOptions,
): Promise<{ url: string; stop(): Promise<void> }> {
  const routes = (options.routeKeys ?? DEFAULT_ROUTE_KEYS).map(routeOf);
  const given =
    options.principals ??
    (options.credentials
      ? [{ arn: `arn:aws:iam::${options.accountId}:user/sandbox`, ...options.credentials }]
      : []);
  if (given.length === 0) throw new Error('The sandbox API needs at least one principal.');
  const principals = new Map<string, KnownPrincipal>(
    given.map((p) => [
      p.accessKeyId,
      {
        ...p,
        signer: new SignatureV4({
          service: 'execute-api',
          region: options.region,
          sha256: Sha256,
          credentials: { accessKeyId: p.accessKeyId, secretAccessKey: p.secretAccessKey },
        }),
      },
    ]),
  );
  const server: Server = createServer((req, res) => {
    handle(req, options, routes, principals)
      .then((result) => {
        res.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>);
        res.end(result.body ?? '');
      })
      .catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: `sandbox api: ${(error as Error).message}` }));
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(
  req: IncomingMessage,
  options: ApiServerOptions,
  routes: Route[],
  principals: ReadonlyMap<string, KnownPrincipal>,
): Promise<APIGatewayProxyStructuredResultV2> {
  const body = await readBody(
    req,
    10 * 1024 * 1024,
    () => new Error('The request body is over 10 MB, the HTTP API limit.'),
  );
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const principal = principalOf(req, principals);
  if (!principal) {
    // API Gateway's answer to a key IAM does not know.
    return {
      statusCode: 403,
      body: JSON.stringify({ message: 'The security token included in the request is invalid.' }),
    };
  }
  if (!(await signatureVerifies(req, url, body, principal.signer))) {
    return { statusCode: 403, body: JSON.stringify({ message: 'Forbidden' }) };
  }
  const route = routes.find((r) => r.method === req.method && r.pattern.test(url.pathname));
  if (!route) return { statusCode: 404, body: JSON.stringify({ message: 'Not Found' }) };
  const groups = route.pattern.exec(url.pathname) ?? [];
  const pathParameters = Object.fromEntries(
    route.params.map((name, i) => [name, decodeURIComponent(groups[i + 1] ?? '')]),
  );
  const query = Object.fromEntries(url.searchParams);
  const event = {
    version: '2.0',
    routeKey: route.routeKey,
    rawPath: url.pathname,
    rawQueryString: url.searchParams.toString(),
    headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
    ...(Object.keys(query).length > 0 && { queryStringParameters: query }),
    ...(route.params.length > 0 && { pathParameters }),
    body: body.length > 0 ? body : undefined,
    isBase64Encoded: false,
    requestContext: {
      accountId: options.accountId,
      apiId: 'sandbox',
      domainName: url.host,
      domainPrefix: 'sandbox',
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: '',
      },
      requestId: `sandbox-${Date.now()}`,
      routeKey: route.routeKey,
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
      authorizer: {
        iam: {
          accessKey: principal.accessKeyId,
          accountId: options.accountId,
          callerId: principal.accessKeyId,
          cognitoIdentity: null,
          principalOrgId: '',
          userArn: principal.arn,
          userId: principal.accessKeyId,
        },
      },
    },
  } as unknown as APIGatewayProxyEventV2WithIAMAuthorizer;
  return (options.routes?.[route.routeKey] ?? options.handler)(event);
}

/** The principal whose access key signed the request (`Credential=<key>/<scope>`), if the API knows it. */
function principalOf(
  req: IncomingMessage,
  principals: ReadonlyMap<string, KnownPrincipal>,
): KnownPrincipal | undefined {
  const authorization = req.headers.authorization;
  if (typeof authorization !== 'string') return undefined;
  const key = /Credential=([^/,\s]+)\//.exec(authorization)?.[1];
  return key === undefined ? undefined : principals.get(key);
}

/** Re-signs the request as received, at the time it claims, and compares the signatures. */
async function signatureVerifies(
  req: IncomingMessage,
  url: URL,
  body: string,
  signer: SignatureV4,
): Promise<boolean> {
  const authorization = req.headers.authorization;
  const amzDate = req.headers['x-amz-date'];
  if (typeof authorization !== 'string' || typeof amzDate !== 'string') return false;
  const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(';') ?? [];
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = req.headers[name];
    if (value !== undefined) headers[name] = String(value);
  }
  const signingDate = new Date(
    amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
  );
  const expected = await signer.sign(
    {
      method: req.method ?? 'GET',
      protocol: 'http:',
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body: body.length > 0 ? body : undefined,
    },
    { signingDate },
  );
  return expected.headers.authorization === authorization;
}
