import { optionalEnv, requireEnv } from '../config';
import { routeOf } from '../domain/routes';
import { logger } from '../log';
import { mayRead, sessionAccess } from './access';
import { sessionLimitsFromEnv } from './limits';
import {
  callerOf,
  json,
  notFound,
  parseBody as parseJson,
  respond,
  type HttpEvent,
  type HttpResult,
} from './http';
import { listChunks } from './chunks';
import { assertReuploadId, getReupload, startReupload } from './reupload';
import { pathParam, scopedBody } from './scope';
import {
  cancelSession,
  getSession,
  listSessions,
  startSession,
  stopSession,
  type ApiConfig,
} from './sessions';

let config: ApiConfig | undefined;

/** Read once per container; a missing variable is a deployment error, reported by name. */
export function apiConfig(): ApiConfig {
  config ??= {
    stateMachineArn: requireEnv('STATE_MACHINE_ARN'),
    bucket: requireEnv('BUCKET_NAME'),
    limits: sessionLimitsFromEnv(),
    requireReason: optionalEnv('REQUIRE_REASON', 'false') === 'true',
  };
  return config;
}

/**
 * The api function's routes (lib/domain/routes.ts): start, read, list, stop, cancel, re-upload. It starts
 * and reads executions and S3 objects only: everything that resolves a target or reaches a host runs
 * in the state machine's steps (preview in the plan function, lib/api/checks.ts) or in the doctor
 * function (lib/api/doctor-routes.ts).
 *
 * IAM has allowed the route (its cluster, its tool) before this runs; a session's routes then check
 * that the session is of that cluster and that the caller owns it or the deployment's policy lets
 * them act on it (lib/api/access.ts). A capture's policy decision is Plan's, on resolved targets.
 */
export async function handleApiRequest(event: HttpEvent): Promise<HttpResult> {
  const caller = callerOf(event);
  return respond(event, async () => {
    const cfg = apiConfig();
    const route = routeOf(event.routeKey);
    const session = () => ({ id: pathParam(event, 'id'), cluster: pathParam(event, 'cluster'), caller });
    switch (route) {
      case 'start': {
        const started = await startSession(scopedBody(event, parseJson(event), { tool: true }), caller, cfg);
        logger.info('session started', { sessionId: started.sessionId, caller });
        return json(202, started);
      }
      case 'list':
      case 'listCluster':
        return json(200, {
          sessions: await listSessions(cfg, {
            active: event.queryStringParameters?.active === 'true',
            limit: clampLimit(event.queryStringParameters?.limit),
            ...(route === 'listCluster' && { cluster: pathParam(event, 'cluster') }),
            ...(event.queryStringParameters?.id !== undefined && { id: event.queryStringParameters.id }),
            mayRead: (input, sessionId) => mayRead(input, sessionId, caller, cfg),
          }),
        });
      case 'get': {
        const { id, ...scope } = session();
        const access = await sessionAccess('read', id, scope, cfg);
        return json(200, await getSession(id, cfg, caller, access.execution));
      }
      case 'chunks': {
        const { id, ...scope } = session();
        const access = await sessionAccess('read', id, scope, cfg);
        return json(
          200,
          await listChunks(id, event.queryStringParameters?.after, cfg, caller, access.execution),
        );
      }
      case 'cancel': {
        const { id, ...scope } = session();
        const access = await sessionAccess('cancel', id, scope, cfg);
        const cancelled = await cancelSession(id, caller, cfg, access.execution);
        logger.info('session cancel requested', { sessionId: id, caller, owner: access.owner });
        return json(202, cancelled);
      }
      case 'stop': {
        const { id, ...scope } = session();
        const access = await sessionAccess('stop', id, scope, cfg);
        const stopping = await stopSession(id, caller, cfg, access.execution);
        logger.info('session stop requested', { sessionId: id, caller, owner: access.owner });
        return json(202, stopping);
      }
      case 'reupload': {
        const { id, ...scope } = session();
        const access = await sessionAccess('fetch', id, scope, cfg);
        const started = await startReupload(id, caller, cfg, access.execution);
        logger.info('re-upload requested', { sessionId: id, caller, status: started.status });
        return json(started.status === 'RUNNING' ? 202 : 200, started);
      }
      case 'getReupload': {
        const { id, ...scope } = session();
        const reuploadId = assertReuploadId(pathParam(event, 'reuploadId'));
        await sessionAccess('fetch', id, scope, cfg);
        return json(200, await getReupload(id, reuploadId, cfg, caller));
      }
      default:
        return notFound(event);
    }
  });
}

function clampLimit(raw: string | undefined): number {
  const value = Number(raw ?? 50);
  return Number.isInteger(value) ? Math.min(Math.max(value, 1), 100) : 50;
}
