import { readFileSync } from 'node:fs';
import type { Node } from 'constructs';
import type { TriggerDeclaration } from '../triggers/declaration';
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
 *   triggers              captures on an event (README): a JSON array of triggers in cdk.json, or
 *                         `-c triggers=<file.json>` (a file holding that array), or the array as text
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
    ...contextTriggers(node),
  };
}

/**
 * `triggers`: the array itself (cdk.json), or with -c its JSON text or the path of a file holding it.
 * Only JSON is read here; the stack checks every trigger (lib/triggers/declaration.ts).
 */
function contextTriggers(node: Node): { triggers?: TriggerDeclaration[] } {
  const value = contextValue(node, 'triggers');
  if (value === undefined) return {};
  if (Array.isArray(value)) return { triggers: value as TriggerDeclaration[] };
  if (typeof value !== 'string') {
    throw new Error(
      `Context triggers must be a JSON array of triggers, or the path of a file holding one (got ${JSON.stringify(value).slice(0, 80)}).`,
    );
  }
  let text = value.trim();
  if (!text.startsWith('[')) {
    try {
      text = readFileSync(text, 'utf8');
    } catch (cause) {
      throw new Error(
        `Context triggers: cannot read ${value} (${(cause as Error).message}); give a JSON file of triggers, e.g. -c triggers=triggers.json.`,
        { cause },
      );
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new Error(`Context triggers: ${value.slice(0, 80)} is not JSON (${(cause as Error).message}).`, {
      cause,
    });
  }
  if (!Array.isArray(parsed)) throw new Error('Context triggers must be a JSON array of triggers.');
  return { triggers: parsed as TriggerDeclaration[] };
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
