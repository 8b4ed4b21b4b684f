import type { DescribeExecutionCommandOutput } from '@aws-sdk/client-sfn';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { audit } from '../audit/audit';
import { DebugTaskError } from '../domain/errors';
import { CHUNK_SEQ_DIGITS, chunkKey, chunkSeqOf, type ChunkList, type ChunkRef } from '../domain/follow';
import { childSessionId, parseChildId, sessionKeys } from '../domain/session';
import { isServiceTarget } from '../domain/session-spec';
import { awsCall } from '../aws/errors';
import { s3Client } from '../aws/s3';
import { presignGet } from '../aws/s3-presign';
import { mapLimit } from '../domain/map-limit';
import { parseInput, statusOf, type ApiConfig } from './sessions';

/** Chunks per answer: ~1 s of polling each, so a flood's backlog drains in a few calls. */
export const CHUNKS_PER_LIST = 50;

/** A chunk's GET is used within a second of the list: a minute is ample, and short for a credential. */
export const CHUNK_URL_SECONDS = 60;

/**
 * GET /clusters/{cluster}/sessions/{id}/chunks?after=N: a followed child's chunks after sequence N
 * (all from 0 when absent), with a presigned GET each, and the session's status, so the CLI stops
 * listing once a session that ended has no more. The caller may read the session (sessionAccess
 * 'read', as for its status and download); a one-task session's id names its only child.
 */
export async function listChunks(
  id: string,
  afterText: string | undefined,
  config: ApiConfig,
  caller: string,
  execution: DescribeExecutionCommandOutput,
): Promise<ChunkList> {
  const after = parseAfter(afterText);
  const child = parseChildId(id);
  const sessionId = child?.sessionId ?? id;
  if (!child && isServiceTarget(parseInput(execution.input)?.spec.target ?? { task: '' })) {
    throw new DebugTaskError('INVALID_ARGUMENT', `Session ${id} covers a service: its chunks are per task.`, {
      hint: `Name one of its children (${id}-0000, ...): \`debug-task status ${id}\` lists them.`,
    });
  }
  const childId = child ? id : childSessionId(sessionId, 0);
  const prefix = sessionKeys.childChunks(childId);
  const listed = await awsCall('s3:ListObjectsV2', () =>
    s3Client().send(
      new ListObjectsV2Command({
        Bucket: config.bucket,
        Prefix: prefix,
        MaxKeys: CHUNKS_PER_LIST,
        ...(after !== undefined && { StartAfter: chunkKey(prefix, after) }),
      }),
    ),
  );
  const found = (listed.Contents ?? []).flatMap((object) => {
    const seq = object.Key === undefined ? undefined : chunkSeqOf(prefix, object.Key);
    return seq === undefined ? [] : [{ seq, key: object.Key as string, bytes: object.Size ?? 0 }];
  });
  const chunks: ChunkRef[] = await mapLimit(found, 8, async (chunk) => ({
    seq: chunk.seq,
    bytes: chunk.bytes,
    url: await presignGet(config.bucket, chunk.key, CHUNK_URL_SECONDS),
  }));
  if (chunks.length > 0) {
    audit.session({
      type: 'artifact.chunk-urls',
      sessionId,
      childId,
      caller,
      firstSeq: chunks[0].seq,
      lastSeq: chunks[chunks.length - 1].seq,
      count: chunks.length,
      expiresInSeconds: CHUNK_URL_SECONDS,
    });
  }
  return {
    sessionId: id,
    childId,
    status: statusOf(execution),
    chunks,
    more: listed.IsTruncated === true,
  };
}

function parseAfter(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (!new RegExp(`^[0-9]{1,${CHUNK_SEQ_DIGITS}}$`).test(text)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `after=${JSON.stringify(text.slice(0, 20))} is not a chunk number.`,
      {
        hint: `Give the last chunk's sequence number (0 to ${'9'.repeat(CHUNK_SEQ_DIGITS)}), or leave after out.`,
      },
    );
  }
  return Number(text);
}
