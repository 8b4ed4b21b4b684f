import { optionalEnv, requireEnv } from '../config';
import type { TargetsPreview } from '../domain/session';
import { parseSessionRequest, type SessionLimits } from '../domain/session-spec';
import { logger } from '../log';
import { hostBatches } from '../session/plan';
import { routeOf } from '../domain/routes';
import { authorizeCapture, type AuthorizeDeps } from '../session/authorize';
import { resolveTargets } from '../session/targets';
import { runDoctor, type DoctorConfig } from './doctor';
import { runStackDoctor } from './stack-doctor';
import { callerOf, json, notFound, parseBody, respond, type HttpEvent, type HttpResult } from './http';
import { scopedBody } from './scope';
import { sessionLimitsFromEnv } from './limits';

/**
 * The routes that resolve a target and start nothing: POST /sessions/preview and POST /doctor. They
 * are answered by the plan function, because they run Plan's own code (the same resolver, the same
 * checks, the same calls): what a preview shows is what a session would capture.
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
      case 'doctor': {
        const config: DoctorConfig = {
          bucket: requireEnv('BUCKET_NAME'),
          limits,
          // Its absence is a failed check of the report, not a 502.
          toolboxImage: optionalEnv('TOOLBOX_IMAGE', '') || undefined,
        };
        const report = await runDoctor(scopedBody(event, parseBody(event)), config, callerOf(event));
        const failed = report.checks.find((check) => check.status === 'failed');
        logger.info('doctor ran', {
          caller: callerOf(event),
          ok: report.ok,
          failed: failed?.name,
          code: failed?.code,
        });
        return json(200, report);
      }
      case 'stackDoctor': {
        const report = await runStackDoctor(parseBody(event), {
          bucket: requireEnv('BUCKET_NAME'),
          toolboxImage: optionalEnv('TOOLBOX_IMAGE', '') || undefined,
          allowedClusters: allowedClusters(),
          // The API's account; the caller's when the event has none (same account: IAM auth).
          account: event.requestContext.accountId || (event.requestContext.authorizer?.iam?.accountId ?? ''),
          region: requireEnv('AWS_REGION'),
        });
        const failed = report.checks.find((check) => check.status === 'failed');
        logger.info('doctor --stack ran', {
          caller: callerOf(event),
          ok: report.ok,
          failed: failed?.name,
          code: failed?.code,
        });
        return json(200, report);
      }
      default:
        return notFound(event);
    }
  });
}

/** ALLOWED_CLUSTERS: comma-separated names, empty (any cluster) when unset. */
function allowedClusters(): string[] {
  return optionalEnv('ALLOWED_CLUSTERS', '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
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
