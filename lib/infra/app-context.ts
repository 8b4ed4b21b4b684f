import type { Node } from 'constructs';
import type { DebugTaskStackProps, ToolboxPlatform } from './stack-props';

/**
 * The stack's props from CDK context (`cdk.json` or `cdk synth -c key=value`):
 *
 *   toolboxImage          image pinned by digest (default: build toolbox/Dockerfile)
 *   toolboxPlatform       linux/amd64 | linux/arm64, for the built image
 *   allowedClusters       comma-separated cluster names, or a JSON array in cdk.json (default: any)
 *   maxDurationSeconds, maxRingSeconds, maxBytes, maxSessionsPerHost, graceSeconds, artifactRetentionDays,
 *   auditLogRetentionDays,
 *   hostCpus, hostMemoryMb, hostPidsLimit, sweepIntervalMinutes, fleetConcurrency,
 *   fleetStartLeadSeconds
 *   requireReason         true | false: every session must give --reason (default false)
 *   policy                path of a Cedar policy file (README, "Who may debug what")
 *
 * Only the shape is checked here (a number is a number); the stack checks the values.
 */
export const NUMBER_KEYS = [
  'maxDurationSeconds',
  'maxRingSeconds',
  'maxBytes',
  'maxSessionsPerHost',
  'graceSeconds',
  'artifactRetentionDays',
  'auditLogRetentionDays',
  'hostCpus',
  'hostMemoryMb',
  'hostPidsLimit',
  'sweepIntervalMinutes',
  'fleetConcurrency',
  'fleetStartLeadSeconds',
] as const;

type NumberKey = (typeof NUMBER_KEYS)[number];

export function stackPropsFromContext(node: Node): DebugTaskStackProps {
  const numbers: Partial<Record<NumberKey, number>> = {};
  for (const key of NUMBER_KEYS) {
    const value = contextNumber(node, key);
    if (value !== undefined) numbers[key] = value;
  }
  return {
    toolboxImage: contextString(node, 'toolboxImage'),
    toolboxPlatform: contextString(node, 'toolboxPlatform') as ToolboxPlatform | undefined,
    allowedClusters: contextList(node, 'allowedClusters'),
    requireReason: contextBoolean(node, 'requireReason'),
    policyFile: contextString(node, 'policy'),
    ...numbers,
  };
}

/** `-c requireReason=true` gives a string, cdk.json a JSON boolean: both are accepted. */
function contextBoolean(node: Node, key: string): boolean | undefined {
  const value = contextValue(node, key);
  if (value === undefined || typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new Error(
    `Context ${key} must be true or false (got ${JSON.stringify(value)}); e.g. -c ${key}=true.`,
  );
}

/** `-c key=` (an empty string) means unset, like an absent key. */
function contextValue(node: Node, key: string): unknown {
  const value: unknown = node.tryGetContext(key);
  return value === '' ? undefined : value;
}

function contextString(node: Node, key: string): string | undefined {
  const value = contextValue(node, key);
  if (value === undefined || typeof value === 'string') return value;
  throw new Error(`Context ${key} must be a string (got ${JSON.stringify(value)}); e.g. -c ${key}=<value>.`);
}

/** `-c` gives strings, cdk.json gives JSON numbers: both are accepted. */
function contextNumber(node: Node, key: NumberKey): number | undefined {
  const value = contextValue(node, key);
  if (value === undefined) return undefined;
  const parsed = typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim()) : NaN;
  if (!Number.isFinite(parsed) || (typeof value === 'string' && value.trim() === '')) {
    throw new Error(`Context ${key} must be a number (got ${JSON.stringify(value)}); e.g. -c ${key}=900.`);
  }
  return parsed;
}

function contextList(node: Node, key: string): string[] | undefined {
  const value = contextValue(node, key);
  if (value === undefined) return undefined;
  const items = typeof value === 'string' ? value.split(',') : value;
  if (!Array.isArray(items) || !items.every((item) => typeof item === 'string')) {
    throw new Error(
      `Context ${key} must be a comma-separated list of names, or a JSON array of strings in cdk.json ` +
        `(got ${JSON.stringify(value)}).`,
    );
  }
  return items.map((item) => item.trim()).filter((item) => item !== '');
}
