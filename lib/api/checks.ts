import type { TargetsPreview } from '../domain/session';
import { parseSessionRequest, type SessionLimits } from '../domain/session-spec';
import { hostBatches } from '../session/plan';
import { routeOf } from '../domain/routes';
import { authorizeCapture, type AuthorizeDeps } from '../session/authorize';
import { resolveTargets } from '../session/targets';
import { callerOf, json, notFound, parseBody, respond, type HttpEvent, type HttpResult } from './http';
import { scopedBody } from './scope';
import { sessionLimitsFromEnv } from './limits';

/**
 * The route that resolves a target and starts nothing: POST .../preview. It is answered by the plan
 * function, because it runs Plan's own code (the same resolver, the same checks, the same calls):
 * what a preview shows is what a session would capture. (The doctors have a function of their own:
 * lib/api/doctor-routes.ts.)
 */
export async function handleChecksRequest(event: HttpEvent): Promise<HttpResult> {
  return respond(event, async () => {
    const limits = sessionLimitsFromEnv();
    switch (routeOf(event.routeKey)) {
      case 'preview':
        return json(
          200,
          await previewTargets(scopedBody(event, parseBody(event), { tool: true }), limits, callerOf(event)),
        );
      default:
        return notFound(event);
    }
  });
}

/**
 * What a request's target resolves to now, and what the deployment's policy lets the caller capture
 * of it (denied tasks are skipped, as a session would skip them); nothing is started.
 */
export async function previewTargets(
  body: unknown,
  limits: SessionLimits,
  caller: string,
  deps: AuthorizeDeps = {},
): Promise<TargetsPreview> {
  const spec = parseSessionRequest(body, limits);
  const resolution = await authorizeCapture(spec, caller, await resolveTargets(spec), deps);
  const target = spec.target;
  return {
    target: {
      cluster: target.cluster ?? resolution.clusterArn,
      ...(resolution.service !== undefined && { service: resolution.service }),
      ...('task' in target && { task: target.task }),
    },
    targets: resolution.targets.map((t) => ({
      taskArn: t.taskArn,
      container: t.container.name,
      instanceId: t.instanceId,
    })),
    skipped: resolution.skipped,
    listed: resolution.listed,
    maxTasks: resolution.maxTasks,
    leftOut: resolution.leftOut,
    instances: new Set(hostBatches(resolution.targets).flatMap((b) => b.instanceIds)).size,
  };
}
