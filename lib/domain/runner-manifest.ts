import { TOOL_NAMES } from './tools';
import * as z from './zod';

// A bash runner may print null where a value is unknown: read null as absent.
const optional = <T extends z.ZodMiniType>(schema: T) =>
  z.pipe(
    z.nullish(schema),
    z.transform((v: z.output<T> | null | undefined) => v ?? undefined),
  );
const count = z.number().check(z.int(), z.nonnegative());
const sha256 = z.string().check(z.regex(/^[a-f0-9]{64}$/));

/**
 * The schema of the host runner's manifest (RunnerManifest in ./session.ts): what one capture on a
 * host reports. Read by every place that decides a verdict from a manifest; lib/host/runner/
 * writes it. Unknown keys are kept, not checked: a newer runner's extra fields do not break an older
 * reader, and a cleanup's own fields (`action`, `cleanup`) stay readable on its line.
 */
export const RunnerManifestSchema = z.looseObject({
  v: z.literal(1),
  sessionId: z.string(),
  status: z.enum(['OK', 'FAILED', 'UPLOAD_FAILED']),
  error: optional(z.object({ code: z.string(), message: z.string() })),
  tool: z.object({
    // null when the runner refused its input before it knew the tool (e.g. an unknown action).
    name: optional(z.enum(TOOL_NAMES)),
    exitCode: z.nullable(z.number().check(z.int())),
    packets: z.nullish(count),
    dropped: z.nullish(count),
  }),
  // What a result that is not a failure should not be taken for (e.g. 0 packets captured).
  warnings: optional(z.array(z.string())),
  artifact: optional(
    z.object({
      format: z.enum(['pcap', 'text']),
      compression: z.literal('gzip'),
      bytes: count,
      sha256,
      objectBytes: count,
      objectSha256: sha256,
      linkType: optional(z.string()),
      truncated: z.boolean(),
      uploaded: z.boolean(),
      hostPath: optional(z.string()),
    }),
  ),
  timings: z.object({
    startedAt: z.number(),
    captureStartedAt: optional(z.number()),
    captureEndedAt: optional(z.number()),
    // When a stop (action=stop) reached the host, for a capture it ended before its duration.
    stoppedAt: optional(z.number()),
    endedAt: z.number(),
  }),
  // The capture was stopped early (debug-task stop, a first Ctrl-C) and kept.
  stoppedEarly: optional(z.literal(true)),
  // A ring buffer's capture: its window, whether it went round, the first packet kept.
  ring: optional(
    z.object({
      windowSeconds: optional(count),
      windowBytes: optional(count),
      wrapped: z.boolean(),
      rotatedOut: optional(count),
      firstPacketAt: optional(z.number()),
      capturedPackets: optional(count),
    }),
  ),
  // A followed capture (chunkUrl): the chunks uploaded while it ran, and those that failed.
  follow: optional(
    z.object({
      chunks: count,
      failedChunks: count,
      bytes: count,
      intervalSeconds: count,
    }),
  ),
  // What the host labelled the toolbox with (runner since action=run has audit labels).
  audit: optional(z.object({ caller: z.string(), reason: z.string() })),
  // The host's instance id (AWS_SSM_INSTANCE_ID), when the SSM agent ran the runner.
  instanceId: optional(z.string()),
  // How the parameters reached the runner: env (SSM_<name> set by the agent, ENV_VAR) or text
  // (substituted by an older agent into the document's bootstrap); absent when run without it.
  paramMode: optional(z.enum(['env', 'text'])),
  // Printed only, when a manifestUrl was given: whether this manifest also reached S3 there.
  manifestUploaded: optional(z.boolean()),
});
