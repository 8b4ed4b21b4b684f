import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { audit } from '../audit/audit';
import { DebugTaskError, EXIT } from '../domain/errors';
import { logger } from '../log';

/**
 * The HTTP side of every route (the api function's, the plan function's preview, the doctor
 * function's): body parsing, the caller's identity, typed errors to HTTP statuses. Internals go to
 * the log, never to the caller.
 */
export type HttpEvent = APIGatewayProxyEventV2WithIAMAuthorizer;
export type HttpResult = APIGatewayProxyStructuredResultV2;

/** True for an API Gateway (HTTP API, payload 2.0) event rather than a Step Functions state. */
export function isHttpEvent(event: unknown): event is HttpEvent {
  return typeof event === 'object' && event !== null && 'routeKey' in event && 'requestContext' in event;
}

/** The caller's IAM ARN, as API Gateway's IAM authorizer saw it. */
export function callerOf(event: HttpEvent): string {
  return event.requestContext?.authorizer?.iam?.userArn ?? 'unknown';
}

/**
 * Runs a route's handler and maps whatever it throws to the error contract. The audit events the
 * route queued (its decisions, allows and denials alike) are written before the answer leaves: a
 * write that fails turns a success into AWS_ERROR, and is logged with the events after a failure.
 */
export async function respond(event: HttpEvent, route: () => Promise<HttpResult>): Promise<HttpResult> {
  try {
    const result = await route();
    await audit.flush();
    return result;
  } catch (error) {
    await audit.flush().catch(() => undefined);
    const typed =
      error instanceof DebugTaskError
        ? error
        : new DebugTaskError('AWS_ERROR', 'The request failed inside the API.', { cause: error });
    logger.error('request failed', {
      routeKey: event.routeKey,
      sessionId: event.pathParameters?.id,
      error: typed,
      cause: typed.cause,
    });
    return json(httpStatusOf(typed), { error: typed.toJSON() });
  }
}

export function parseBody(event: HttpEvent): unknown {
  const raw = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(raw ?? '');
  } catch (cause) {
    throw new DebugTaskError('INVALID_ARGUMENT', 'The request body is not JSON.', {
      hint: 'Send a JSON object such as {"target": {"task": "arn:aws:ecs:..."}, "tool": "tcpdump"}.',
      cause,
    });
  }
}

export function notFound(event: HttpEvent): HttpResult {
  return json(404, { error: { code: 'INVALID_ARGUMENT', message: `No route ${event.routeKey}.`, hint: '' } });
}

export function httpStatusOf(error: DebugTaskError): number {
  if (error.code === 'SESSION_NOT_FOUND') return 404;
  if (error.code === 'NOT_AUTHORIZED') return 403;
  // The host has nothing left to re-upload: gone for good.
  if (error.code === 'ARTIFACT_NOT_ON_HOST') return 410;
  switch (error.exitCode) {
    case EXIT.BAD_INPUT:
      return 400;
    case EXIT.TARGET:
      return 422;
    default:
      return 502;
  }
}

export function json(statusCode: number, body: unknown): HttpResult {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}
