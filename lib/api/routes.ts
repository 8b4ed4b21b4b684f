import { numberEnv, optionalEnv, requireEnv } from '../config';
import { logger } from '../log';
import {
  callerOf,
  json,
  notFound,
  parseBody as parseJson,
  respond,
  type HttpEvent,
  type HttpResult,
} from './http';
import { getReupload, startReupload } from './reupload';
import { cancelSession, getSession, listSessions, startSession, type ApiConfig } from './sessions';

let config: ApiConfig | undefined;

/** Read once per container; a missing variable is a deployment error, reported by name. */
function apiConfig(): ApiConfig {
  config ??= {
    stateMachineArn: requireEnv('STATE_MACHINE_ARN'),
    bucket: requireEnv('BUCKET_NAME'),
    limits: {
      maxDurationSeconds: numberEnv('MAX_DURATION_SECONDS', 900),
      maxBytes: numberEnv('MAX_BYTES', 1e9),
    },
    requireReason: optionalEnv('REQUIRE_REASON', 'false') === 'true',
  };
  return config;
}

/**
 * The api function's routes: sessions (start, read, list, cancel) and re-uploads. It starts and reads
 * executions and S3 objects only: everything that resolves a target or reaches a host runs in the
 * state machine's steps (preview and doctor in the plan function, lib/api/checks.ts).
 */
export async function handleApiRequest(event: HttpEvent): Promise<HttpResult> {
  const caller = callerOf(event);
  const id = event.pathParameters?.id ?? '';
  return respond(event, async () => {
    const cfg = apiConfig();
    switch (event.routeKey) {
      case 'POST /sessions': {
        const started = await startSession(parseJson(event), caller, cfg);
        logger.info('session started', { sessionId: started.sessionId, caller });
        return json(202, started);
      }
      case 'GET /sessions':
        return json(200, {
          sessions: await listSessions(cfg, {
            active: event.queryStringParameters?.active === 'true',
            limit: clampLimit(event.queryStringParameters?.limit),
          }),
        });
      case 'GET /sessions/{id}':
        return json(200, await getSession(id, cfg, caller));
      case 'DELETE /sessions/{id}': {
        const cancelled = await cancelSession(id, caller, cfg);
        logger.info('session cancel requested', { sessionId: id, caller });
        return json(202, cancelled);
      }
      case 'POST /sessions/{id}/reupload': {
        const started = await startReupload(id, caller, cfg);
        logger.info('re-upload requested', { sessionId: id, caller, status: started.status });
        return json(started.status === 'RUNNING' ? 202 : 200, started);
      }
      case 'GET /sessions/{id}/reupload/{reuploadId}':
        return json(200, await getReupload(id, event.pathParameters?.reuploadId ?? '', cfg, caller));
      default:
        return notFound(event);
    }
  });
}

function clampLimit(raw: string | undefined): number {
  const value = Number(raw ?? 50);
  return Number.isInteger(value) ? Math.min(Math.max(value, 1), 100) : 50;
}
