import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { DebugTaskError } from '../domain/errors';
import type { FleetPreview, FleetResult } from '../domain/fleet';
import { isServiceTarget, parseSessionRequest, type SessionLimits } from '../domain/session-spec';
import { fleetPlan } from '../steps/fleet-plan';
import { resolveService } from '../steps/fleet-resolve';
import { translateAwsError } from '../steps/aws-errors';
import type { ApiClients } from './clients';

/**
 * POST /sessions/preview: what a service target resolves to now, with the same resolver (and the
 * same batched calls) FleetPlan uses; nothing is started. The CLI shows it before asking for
 * confirmation, and `--dry-run` stops there.
 */
export async function previewFleet(body: unknown, limits: SessionLimits): Promise<FleetPreview> {
  const spec = parseSessionRequest(body, limits);
  if (!isServiceTarget(spec.target)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      'A preview is for a service target: {"target": {"service", "cluster"}}.',
      {
        hint: 'For one task, `debug-task doctor TASK` checks it without starting anything.',
      },
    );
  }
  const { service, cluster, container, maxTasks } = spec.target;
  const resolution = await resolveService({
    service,
    cluster,
    maxTasks,
    ...(container !== undefined && { container }),
  });
  return {
    target: { cluster, service: resolution.service },
    targets: resolution.targets.map((t) => ({
      taskArn: t.taskArn,
      container: t.container.name,
      instanceId: t.instanceId,
    })),
    skipped: resolution.skipped,
    listed: resolution.listed,
    maxTasks: resolution.maxTasks,
    leftOut: resolution.leftOut,
    instances: fleetPlan(resolution.targets).hosts.length,
  };
}

/**
 * A finished fleet's full result: the execution output holds only the counts (a 1,000-target list
 * is over Step Functions' 256 KiB), the fleet manifest in S3 holds every target; plus a presigned
 * GET per succeeded child.
 */
export async function fleetView(
  output: FleetResult,
  clients: ApiClients,
  expiresIn: number,
): Promise<{ result: FleetResult; downloadUrls: Record<string, string> }> {
  const { bucket, key } = parseS3Uri(output.manifestUri);
  let manifest: FleetResult;
  try {
    const out = await clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    manifest = JSON.parse((await out.Body?.transformToString()) ?? '{}') as FleetResult;
  } catch (error) {
    throw translateAwsError('s3:GetObject', error);
  }
  const result: FleetResult = {
    ...output,
    children: manifest.children ?? [],
    skipped: manifest.skipped ?? [],
  };
  const downloadUrls: Record<string, string> = {};
  for (const child of result.children) {
    if (child.status !== 'SUCCEEDED' || !child.artifact) continue;
    downloadUrls[child.sessionId] = await getSignedUrl(
      clients.s3,
      new GetObjectCommand({ Bucket: child.artifact.bucket, Key: child.artifact.key }),
      { expiresIn },
    );
  }
  return { result, downloadUrls };
}

function parseS3Uri(uri: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!match)
    throw new DebugTaskError(
      'AWS_ERROR',
      `The fleet's manifest URI ${uri.slice(0, 100)} is not an s3:// URI.`,
    );
  return { bucket: match[1], key: match[2] };
}
