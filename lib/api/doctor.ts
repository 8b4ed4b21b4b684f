import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { parseTaskRef } from '../domain/arn';
import {
  DOCTOR_PROBE_PREFIX,
  POLICY_CHECKS,
  TARGET_CHECKS,
  doctorReport,
  failedCheck,
  skippedAfter,
  type DoctorCheck,
  type DoctorReport,
  type TargetCheckName,
} from '../domain/doctor';
import { isValidHostParam } from '../domain/params';
import {
  parseSessionRequest,
  taskTargetOf,
  type SessionLimits,
  type SessionSpec,
} from '../domain/session-spec';
import { awsCall } from '../aws/errors';
import { s3Client } from '../aws/s3';
import { deploymentAuthorizer } from '../authz/load';
import type { ResolvedTarget } from '../domain/session';
import { authorizeCapture, type AuthorizeDeps } from '../session/authorize';
import { resolveTarget } from '../session/resolve-task';
import type { Resolution } from '../session/targets';

export interface DoctorConfig {
  bucket: string;
  /** TOOLBOX_IMAGE of the deployment; undefined when the function has none. */
  toolboxImage?: string;
  limits: SessionLimits;
}

/** The tool checked when the request names none: any tool of the catalog needs the same target. */
const DEFAULT_TOOL = 'tcpdump';

const PINNED = /@sha256:[a-f0-9]{64}$/;

/**
 * POST /doctor: the target checks of a one-task Plan, run by Plan's own code (same three calls, same
 * errors), then the deployment's own: is the toolbox image pinned, is the bucket writable.
 * Nothing is started. Bad input is refused (400) exactly as POST /sessions refuses it.
 */
export async function runDoctor(
  body: unknown,
  config: DoctorConfig,
  caller: string,
  deps: AuthorizeDeps = {},
): Promise<DoctorReport> {
  const spec = parseDoctorRequest(body, config.limits);
  const { checks, target, failedAt } = await targetChecks(spec);
  if (target) checks.push(await policyCheck(spec, caller, target, deps));
  else checks.push(...skippedAfter(failedAt, POLICY_CHECKS));
  checks.push(imagePinnedCheck(config.toolboxImage));
  checks.push(await bucketWritableCheck(config.bucket));
  return doctorReport(checks);
}

/** The body of POST /doctor, validated with the schema of POST /sessions. */
export function parseDoctorRequest(body: unknown, limits: SessionLimits): SessionSpec {
  const fields = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  const spec = parseSessionRequest({ target: fields.target, tool: fields.tool ?? DEFAULT_TOOL }, limits);
  const target = taskTargetOf(spec); // doctor checks one task
  parseTaskRef(target.task, target.cluster);
  return spec;
}

/** Resolve's checks as it passes them; after the first failure, the later ones are skipped. */
async function targetChecks(
  spec: SessionSpec,
): Promise<
  | { checks: DoctorCheck[]; target: ResolvedTarget; failedAt?: undefined }
  | { checks: DoctorCheck[]; target?: undefined; failedAt: TargetCheckName }
> {
  const checks: DoctorCheck[] = [];
  let failedAt: TargetCheckName | undefined;
  try {
    const target = await resolveTarget(taskTargetOf(spec), {
      passed: (name, detail) => checks.push({ name, status: 'ok', detail }),
      failed: (name) => (failedAt = name),
    });
    return { checks, target };
  } catch (error) {
    // Outside every check (a bug, not a finding): the route answers 502 and logs it.
    if (failedAt === undefined) throw error;
    checks.push(failedCheck(failedAt, error));
    checks.push(...skippedAfter(failedAt, TARGET_CHECKS.slice(TARGET_CHECKS.indexOf(failedAt) + 1)));
    return { checks, failedAt };
  }
}

/** Would the deployment's policy let this caller capture on the target with the tool? */
async function policyCheck(
  spec: SessionSpec,
  caller: string,
  target: ResolvedTarget,
  deps: AuthorizeDeps,
): Promise<DoctorCheck> {
  const name = 'policy-allows';
  const resolution: Resolution = {
    kind: 'task',
    clusterArn: target.clusterArn,
    targets: [target],
    skipped: [],
    listed: 1,
    maxTasks: 1,
    leftOut: 0,
    calls: {},
  };
  try {
    await authorizeCapture(spec, caller, resolution, deps);
  } catch (error) {
    return failedCheck(name, error);
  }
  const configured = deps.authorizer === undefined ? deploymentAuthorizer() : deps.authorizer;
  return {
    name,
    status: 'ok',
    detail: configured
      ? `the deployment's policy lets ${caller} capture with ${spec.tool} here`
      : 'this deployment has no policy file: IAM on the routes decides alone',
  };
}

/**
 * A tag is a warning, not a failure: a session still runs with it, but hosts then run whatever the
 * tag points to when they pull (DESIGN.md: "pin it by digest"). The local sandbox's image is a tag.
 */
export function imagePinnedCheck(image: string | undefined): DoctorCheck {
  const name = 'image-pinned';
  if (!image) {
    return {
      name,
      status: 'failed',
      code: 'AWS_ERROR',
      detail: 'The doctor function has no TOOLBOX_IMAGE.',
      hint: 'Deploy the stack again (`npx cdk deploy`): it sets TOOLBOX_IMAGE on the doctor and launch functions.',
    };
  }
  if (!isValidHostParam('image', image)) {
    return {
      name,
      status: 'failed',
      code: 'TOOLBOX_IMAGE_UNAVAILABLE',
      detail: `TOOLBOX_IMAGE ${JSON.stringify(image.slice(0, 120))} is not an image reference the SSM document accepts.`,
      hint: 'Deploy with -c toolboxImage=REPO@sha256:DIGEST.',
    };
  }
  if (PINNED.test(image)) return { name, status: 'ok', detail: `${image} (pinned by digest)` };
  return {
    name,
    status: 'warning',
    detail: `${image} is referenced by a tag, not a digest: hosts run whatever the tag points to when they pull it.`,
    hint: 'Pin it: npx cdk deploy -c toolboxImage=REPO@sha256:DIGEST (the digest `docker push` printed).',
  };
}

/** PutObject then DeleteObject of a probe under doctor/: what the api's role may do there, nothing more. */
export async function bucketWritableCheck(bucket: string): Promise<DoctorCheck> {
  const name = 'bucket-writable';
  const key = `${DOCTOR_PROBE_PREFIX}probe-${Date.now()}-${randomBytes(4).toString('hex')}`;
  try {
    await awsCall('s3:PutObject', () =>
      s3Client().send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: 'debug-task doctor probe\n',
          ContentType: 'text/plain',
        }),
      ),
    );
    await awsCall('s3:DeleteObject', () =>
      s3Client().send(new DeleteObjectCommand({ Bucket: bucket, Key: key })),
    );
  } catch (error) {
    return failedCheck(name, error);
  }
  return {
    name,
    status: 'ok',
    detail: `s3://${bucket}/${DOCTOR_PROBE_PREFIX} took a probe object and let it be deleted`,
  };
}
