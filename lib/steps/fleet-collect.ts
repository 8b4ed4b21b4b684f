import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  DebugTaskError,
  fromStepFunctionsFailure,
  isErrorCode,
  type ErrorBody,
  type ErrorCode,
} from '../domain/errors';
import {
  fleetKeys,
  type BatchOutcome,
  type FleetChild,
  type FleetHostManifest,
  type FleetResolutionRecord,
  type FleetResult,
  type FleetTargetRecord,
  type HostOutcome,
} from '../domain/fleet';
import { sessionKeys, type ExecutionInput, type RunnerManifest } from '../domain/session';
import * as z from '../domain/zod';
import { awsCall, isNotFound, translateAwsError } from './aws-errors';
import { s3Client } from './clients';
import { RunnerManifestSchema, artifactResult, parseLastLine } from './collect';
import type { FleetLaunchInfo } from '../domain/fleet';

/** State after the Map: the execution input, the plan summary, and each batch's outcome. */
export type FleetCollectState = ExecutionInput & { fleet: FleetLaunchInfo; batchResults: BatchOutcome[] };

/** `action=fleet`'s last line (FleetHostManifest); its children are single runs' manifests. */
const FleetHostManifestSchema = z.object({
  v: z.literal(1),
  action: z.literal('fleet'),
  sessionId: z.string(),
  instanceId: z.string(),
  status: z.enum(['OK', 'FAILED']),
  error: z.nullish(z.object({ code: z.string(), message: z.string() })),
  children: z.array(z.unknown()),
});

/**
 * CollectFleet: one status per target, from the hosts' manifests (stored per batch by PollBatch),
 * checked against S3 (one ListObjectsV2 page per 1,000 children, not one HeadObject each), written
 * as the fleet manifest (`sessions/<id>/manifest.json`, FleetResult in full, plus the audit
 * record). The execution output is the same FleetResult without `children` and `skipped` (a
 * 1,000-target list is over Step Functions' 256 KiB output limit): GET /sessions/{id} reads them
 * from the manifest. Fails (after writing the manifest) only when not one target succeeded.
 */
export async function collectFleet(
  state: FleetCollectState,
  deps: { now?: () => number } = {},
): Promise<FleetResult> {
  const { sessionId, fleet } = state;
  const bucket = fleet.bucket;
  const resolution = await getJson<FleetResolutionRecord>(bucket, fleetKeys.resolution(sessionId));
  const hosts = await hostOutcomes(state);
  const objects = await listChildObjects(bucket, sessionId);

  const children = resolution.targets.map((target) => childOf(target, hosts, objects, state));
  const succeeded = children.filter((c) => c.status === 'SUCCEEDED').length;
  const result: FleetResult = {
    kind: 'fleet',
    sessionId,
    status: 'SUCCEEDED',
    target: { cluster: fleet.cluster, service: fleet.service },
    counts: {
      listed: resolution.listed,
      targets: children.length,
      succeeded,
      failed: children.length - succeeded,
      skipped: resolution.skipped.length,
      leftOut: resolution.leftOut,
    },
    startAt: fleet.startAt,
    children,
    skipped: resolution.skipped,
    manifestUri: `s3://${bucket}/${sessionKeys.manifest(sessionId)}`,
  };
  const collectedAt = new Date((deps.now ?? Date.now)()).toISOString();
  await awsCall('s3:PutObject', () =>
    s3Client().send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: sessionKeys.manifest(sessionId),
        Body: JSON.stringify(
          {
            ...result,
            ...(succeeded === 0 && { status: 'FAILED' }),
            audit: {
              caller: state.caller,
              reason: state.spec.reason ?? null,
              requestedAt: state.requestedAt,
              spec: state.spec,
            },
            calls: resolution.calls,
            collectedAt,
          },
          null,
          2,
        ),
        ContentType: 'application/json',
      }),
    ),
  );
  if (succeeded === 0) throw noneSucceeded(children, result);
  return { ...result, children: [], skipped: [] };
}

/** Each host's outcome; a batch whose SendCommand failed gives its hosts that error. */
async function hostOutcomes(state: FleetCollectState): Promise<Map<string, HostOutcome | ErrorBody>> {
  const out = new Map<string, HostOutcome | ErrorBody>();
  const failed = new Map(state.batchResults.filter((b) => b.error).map((b) => [b.batch, b.error]));
  for (const batch of state.fleet.batches) {
    const error = failed.get(batch.batch);
    if (error) {
      const body = fromStepFunctionsFailure(error.Error, error.Cause).toJSON();
      for (const id of batch.instanceIds) out.set(id, body);
      continue;
    }
    const outcomes = await getJson<HostOutcome[]>(
      state.fleet.bucket,
      fleetKeys.batchResult(state.sessionId, batch.batch),
      () => [],
    );
    for (const o of outcomes) out.set(o.instanceId, o);
  }
  return out;
}

async function listChildObjects(bucket: string, sessionId: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await awsCall('s3:ListObjectsV2', () =>
      s3Client().send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: fleetKeys.childrenPrefix(sessionId),
          ContinuationToken: token,
        }),
      ),
    );
    for (const o of page.Contents ?? []) if (o.Key) sizes.set(o.Key, o.Size ?? 0);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return sizes;
}

function childOf(
  target: FleetTargetRecord,
  hosts: Map<string, HostOutcome | ErrorBody>,
  objects: Map<string, number>,
  state: FleetCollectState,
): FleetChild {
  const base = {
    index: target.index,
    sessionId: target.sessionId,
    taskArn: target.taskArn,
    container: target.container,
    instanceId: target.instanceId,
  };
  const failed = (error: ErrorBody, manifest?: RunnerManifest): FleetChild => ({
    ...base,
    status: 'FAILED',
    error,
    ...(manifest && { tool: manifest.tool, timings: manifest.timings }),
  });
  const host = hosts.get(target.instanceId);
  if (!host)
    return failed(errorBody('CAPTURE_FAILED', `No outcome was recorded for host ${target.instanceId}.`));
  if ('code' in host) return failed(host);

  let manifest: RunnerManifest;
  try {
    manifest = childManifest(host, state.sessionId, target.sessionId);
  } catch (error) {
    return failed((error as DebugTaskError).toJSON());
  }
  if (manifest.status !== 'OK' || !manifest.artifact?.uploaded) {
    const code: ErrorCode = isErrorCode(manifest.error?.code)
      ? manifest.error.code
      : manifest.status === 'UPLOAD_FAILED'
        ? 'UPLOAD_FAILED'
        : 'CAPTURE_FAILED';
    const where = manifest.artifact?.hostPath
      ? ` (kept on ${target.instanceId} at ${manifest.artifact.hostPath})`
      : '';
    return failed(
      errorBody(
        code,
        `${manifest.error?.message ?? `The ${manifest.tool.name} child failed on the host.`}${where}`,
      ),
      manifest,
    );
  }
  const size = objects.get(target.key);
  if (size !== manifest.artifact.objectBytes) {
    return failed(
      errorBody(
        'UPLOAD_FAILED',
        size === undefined
          ? `The runner reported an upload, but s3://${state.fleet.bucket}/${target.key} does not exist.`
          : `s3://${state.fleet.bucket}/${target.key} has ${size} bytes, but the runner uploaded ${manifest.artifact.objectBytes}.`,
      ),
      manifest,
    );
  }
  return {
    ...base,
    status: 'SUCCEEDED',
    tool: manifest.tool,
    artifact: artifactResult(state.fleet.bucket, target.key, manifest.artifact),
    timings: manifest.timings,
  };
}

/** The child's manifest inside its host's FleetHostManifest; a host that could not run its share fails its children. */
function childManifest(host: HostOutcome, fleetId: string, childId: string): RunnerManifest {
  const hostManifest = parseLastLine(host, FleetHostManifestSchema, fleetId) as FleetHostManifest;
  for (const raw of hostManifest.children) {
    const parsed = RunnerManifestSchema.safeParse(raw);
    if (parsed.success && parsed.data.sessionId === childId) return parsed.data;
  }
  if (hostManifest.status === 'FAILED' && hostManifest.error) {
    const code = isErrorCode(hostManifest.error.code) ? hostManifest.error.code : 'CAPTURE_FAILED';
    throw new DebugTaskError(code, `${host.instanceId}: ${hostManifest.error.message}`.slice(0, 1000));
  }
  throw new DebugTaskError(
    'CAPTURE_FAILED',
    `The runner on ${host.instanceId} reported no result for ${childId} (its output may have been cut at SSM's 24,000 characters).`,
  );
}

function noneSucceeded(children: FleetChild[], result: FleetResult): DebugTaskError {
  const counts = new Map<ErrorCode, number>();
  for (const c of children)
    if (c.error) counts.set(c.error.code as ErrorCode, (counts.get(c.error.code as ErrorCode) ?? 0) + 1);
  const [code] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0] ?? ['CAPTURE_FAILED'];
  const first = children.find((c) => c.error?.code === code);
  return new DebugTaskError(
    code,
    `None of the ${children.length} targets of ${result.target.service} succeeded; most failed with ${code}: ${first?.error?.message ?? ''}`.slice(
      0,
      1000,
    ),
    {
      hint: `The fleet manifest ${result.manifestUri} has every target's error.`,
      details: { reasons: Object.fromEntries(counts), manifestUri: result.manifestUri },
    },
  );
}

function errorBody(code: ErrorCode, message: string): ErrorBody {
  return new DebugTaskError(code, message.slice(0, 1000)).toJSON();
}

async function getJson<T>(bucket: string, key: string, orElse?: () => T): Promise<T> {
  try {
    const out = await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return JSON.parse(await (out.Body?.transformToString() ?? Promise.resolve('null'))) as T;
  } catch (error) {
    if (orElse && isNotFound(error)) return orElse();
    throw translateAwsError('s3:GetObject', error);
  }
}
