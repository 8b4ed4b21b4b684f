import type { APIGatewayProxyEventV2WithIAMAuthorizer } from 'aws-lambda';
import { ROUTES, routeKey, type RouteName } from '../../lib/domain/routes';

/** The caller of the events below unless a test names another. */
export const API_CALLER = 'arn:aws:iam::123456789012:user/alice';
/** The cluster in the events' paths unless a test names another. */
export const API_CLUSTER = 'prod';

export interface ApiEventInit {
  body?: unknown;
  id?: string;
  reuploadId?: string;
  /** Default API_CLUSTER. */
  cluster?: string;
  /** The start and preview routes' tool; default: the body's tool, else tcpdump. */
  tool?: string;
  caller?: string;
  query?: Record<string, string>;
}

/**
 * An HTTP API (payload 2.0) event of one of our routes, as API Gateway hands it to the function
 * after its IAM authorizer: the route key, the path parameters the route has, the caller's ARN.
 */
export function apiEvent(route: RouteName, init: ApiEventInit = {}): APIGatewayProxyEventV2WithIAMAuthorizer {
  const path = ROUTES[route].path;
  const bodyTool =
    init.body !== null && typeof init.body === 'object' ? (init.body as { tool?: unknown }).tool : undefined;
  const params: Record<string, string> = {};
  if (path.includes('{cluster}')) params.cluster = init.cluster ?? API_CLUSTER;
  if (path.includes('{tool}'))
    params.tool = init.tool ?? (typeof bodyTool === 'string' ? bodyTool : 'tcpdump');
  if (path.includes('{id}') && init.id !== undefined) params.id = init.id;
  if (path.includes('{reuploadId}') && init.reuploadId !== undefined) params.reuploadId = init.reuploadId;
  const caller = init.caller ?? API_CALLER;
  return {
    routeKey: routeKey(route),
    body:
      init.body === undefined
        ? undefined
        : typeof init.body === 'string'
          ? init.body
          : JSON.stringify(init.body),
    isBase64Encoded: false,
    pathParameters: Object.keys(params).length > 0 ? params : undefined,
    queryStringParameters: init.query,
    requestContext: {
      authorizer: { iam: { userArn: caller, accountId: /::([0-9]{12}):/.exec(caller)?.[1] ?? '' } },
    },
  } as unknown as APIGatewayProxyEventV2WithIAMAuthorizer;
}
