import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { DebugTaskError, EXIT } from '../domain/errors';
import { numberEnv, optionalEnv, requireEnv } from '../config';
import { logger } from '../log';
import { runDoctor, type DoctorConfig } from './doctor';
import { previewFleet } from './fleet';
import { getReupload, startReupload } from './reupload';
import { cancelSession, getSession, listSessions, startSession, type ApiConfig } from './sessions';

let config: (ApiConfig & DoctorConfig) | undefined;

/** Read once per container; a missing variable is a deployment error, reported by name. */
function apiConfig(): ApiConfig & DoctorConfig {
  config ??= {
    stateMachineArn: requireEnv('STATE_MACHINE_ARN'),
    bucket: requireEnv('BUCKET_NAME'),
    limits: {
      maxDurationSeconds: numberEnv('MAX_DURATION_SECONDS', 900),
      maxBytes: numberEnv('MAX_BYTES', 1e9),
    },
    requireReason: optionalEnv('REQUIRE_REASON', 'false') === 'true',
    // Only POST /doctor reads it, and reports its absence as a failed check rather than a 502.
    toolboxImage: optionalEnv('TOOLBOX_IMAGE', '') || undefined,
  };
  return config;
}

/** Parse the route, call the domain, map typed errors to HTTP statuses. */
export async function handleApiRequest(
  event: APIGatewayProxyEventV2WithIAMAuthorizer,
): Promise<APIGatewayProxyStructuredResultV2> {
  const caller = event.requestContext?.authorizer?.iam?.userArn ?? 'unknown';
  const id = event.pathParameters?.id;
  try {
    const cfg = apiConfig();
    switch (event.routeKey) {
      case 'POST /sessions': {
        const started = await startSession(parseBody(event), caller, cfg);
        logger.info('session started', { sessionId: started.sessionId, caller });
        return json(202, started);
      }
      case 'POST /sessions/preview':
        return json(200, await previewFleet(parseBody(event), cfg.limits));
      case 'GET /sessions':
        return json(200, {
          sessions: await listSessions(cfg, {
            active: event.queryStringParameters?.active === 'true',
            limit: clampLimit(event.queryStringParameters?.limit),
          }),
        });
      case 'GET /sessions/{id}':
        return json(200, await getSession(id ?? '', cfg));
      case 'POST /sessions/{id}/reupload': {
        const started = await startReupload(id ?? '', caller, cfg);
        logger.info('re-upload requested', { sessionId: id, caller, status: started.status });
        return json(started.status === 'RUNNING' ? 202 : 200, started);
      }
      case 'GET /sessions/{id}/reupload/{commandId}':
        return json(200, await getReupload(id ?? '', event.pathParameters?.commandId ?? '', caller, cfg));
      case 'POST /doctor': {
        const report = await runDoctor(parseBody(event), cfg);
        const failed = report.checks.find((check) => check.status === 'failed');
        logger.info('doctor ran', { caller, ok: report.ok, failed: failed?.name, code: failed?.code });
        return json(200, report);
      }
      case 'DELETE /sessions/{id}': {
        const cancelled = await cancelSession(id ?? '', caller, cfg);
        logger.info('session cancel requested', { sessionId: id, caller });
        return json(202, cancelled);
      }
      default:
        return json(404, {
          error: { code: 'INVALID_ARGUMENT', message: `No route ${event.routeKey}.`, hint: '' },
        });
    }
  } catch (error) {
    const typed =
      error instanceof DebugTaskError
        ? error
        : new DebugTaskError('AWS_ERROR', 'The request failed inside the API.', { cause: error });
    // Internals go to the log, never to the caller.
    logger.error('request failed', {
      routeKey: event.routeKey,
      sessionId: id,
      error: typed,
      cause: typed.cause,
    });
    return json(httpStatusOf(typed), { error: typed.toJSON() });
  }
}

function parseBody(event: APIGatewayProxyEventV2WithIAMAuthorizer): unknown {
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

function clampLimit(raw: string | undefined): number {
  const value = Number(raw ?? 50);
  return Number.isInteger(value) ? Math.min(Math.max(value, 1), 100) : 50;
}

function httpStatusOf(error: DebugTaskError): number {
  if (error.code === 'SESSION_NOT_FOUND') return 404;
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

function json(statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}
