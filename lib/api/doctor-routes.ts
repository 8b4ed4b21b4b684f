import { allowedClustersFromEnv, optionalEnv, requireEnv } from '../config';
import type { DoctorReport } from '../domain/doctor';
import { routeOf } from '../domain/routes';
import { logger } from '../log';
import { runDoctor, type DoctorConfig } from './doctor';
import { callerOf, json, notFound, parseBody, respond, type HttpEvent, type HttpResult } from './http';
import { sessionLimitsFromEnv } from './limits';
import { scopedBody } from './scope';
import { runStackDoctor } from './stack-doctor';

/**
 * The doctors' routes, answered by the doctor function: POST /clusters/{cluster}/doctor (a task's
 * preconditions, by Plan's own target checks: lib/api/doctor.ts) and POST /doctor (the deployment
 * itself: lib/api/stack-doctor.ts). A function of their own, so that the plan function carries
 * neither ECR's client nor the deployment's checks (each bundle stays under 400 KB), and its role
 * none of their reads. Nothing is started.
 */
export async function handleDoctorRequest(event: HttpEvent): Promise<HttpResult> {
  return respond(event, async () => {
    switch (routeOf(event.routeKey)) {
      case 'doctor': {
        const config: DoctorConfig = {
          bucket: requireEnv('BUCKET_NAME'),
          limits: sessionLimitsFromEnv(),
          // Its absence is a failed check of the report, not a 502.
          toolboxImage: optionalEnv('TOOLBOX_IMAGE', '') || undefined,
        };
        const report = await runDoctor(scopedBody(event, parseBody(event)), config, callerOf(event));
        logReport('doctor ran', report, event);
        return json(200, report);
      }
      case 'stackDoctor': {
        const report = await runStackDoctor(parseBody(event), {
          bucket: requireEnv('BUCKET_NAME'),
          toolboxImage: optionalEnv('TOOLBOX_IMAGE', '') || undefined,
          allowedClusters: allowedClustersFromEnv(),
          // The API's account; the caller's when the event has none (same account: IAM auth).
          account: event.requestContext.accountId || (event.requestContext.authorizer?.iam?.accountId ?? ''),
          region: requireEnv('AWS_REGION'),
        });
        logReport('doctor --stack ran', report, event);
        return json(200, report);
      }
      default:
        return notFound(event);
    }
  });
}

/** One log line per report: who asked, whether it passed, and the first failed check (name and code). */
function logReport(message: string, report: DoctorReport, event: HttpEvent): void {
  const failed = report.checks.find((check) => check.status === 'failed');
  logger.info(message, { caller: callerOf(event), ok: report.ok, failed: failed?.name, code: failed?.code });
}
