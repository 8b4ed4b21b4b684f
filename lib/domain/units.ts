import { DebugTaskError, quoted } from './errors';
import { MIN_RING_BYTES } from './params';
import type { SessionRequest } from './session-spec';

/**
 * The one reading of durations and sizes, for every flag that takes one (--duration, --max-size,
 * and whatever comes next) and for every message that shows one, so `1m30s`, `90s` and `90` mean
 * the same wherever they are typed, and a range is shown as a human would write it.
 *
 * Written here rather than taken from a library because none reads exactly this: `ms` refuses
 * `1m30s`; `parse-duration` also takes months, years and negative values; `bytes` reads MB as
 * 1024² and refuses `10M`. Sizes follow the disks' (and tcpdump -C's) decimal convention: k, M, G
 * are powers of 1000; KiB, MiB, GiB powers of 1024.
 */

/** Duration units, case-sensitive as in Go's time.ParseDuration: `M` would read as months to some. */
const DURATION_UNITS = { h: 3600, m: 60, s: 1 } as const;
const DURATION = /^((?:\d+(?:\.\d+)?)(?:h|m|s))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(h|m|s)/g;
const NUMBER = /^\d+(?:\.\d+)?$/;

/**
 * "90", "90s", "1m30s", "1.5m", "2h" -> seconds (whole). Checks the syntax only: each tool's range
 * is checked with the request (session-spec.ts), where the tool and the deployment's limits are known.
 */
export function parseDuration(text: string, flag = '--duration'): number {
  const value = text.trim();
  let seconds = NaN;
  if (NUMBER.test(value)) seconds = Number(value);
  else if (DURATION.test(value) && unitsInOrder(value)) {
    seconds = 0;
    for (const [, amount, unit] of value.matchAll(DURATION_PART)) {
      seconds += Number(amount) * DURATION_UNITS[unit as keyof typeof DURATION_UNITS];
    }
  }
  if (!Number.isFinite(seconds)) {
    const lower = value.toLowerCase();
    const suggestion = lower !== value && DURATION.test(lower) ? ` (did you mean ${lower}?)` : '';
    throw new DebugTaskError(
      'DURATION_OUT_OF_RANGE',
      `${flag} ${quoted(text)} is not a duration${suggestion}.`,
      {
        hint: 'Write it as 90 (seconds), 90s, 1m30s, 1.5m or 2h: units s, m, h, in lowercase.',
        details: { received: text.slice(0, 200) },
      },
    );
  }
  const whole = Math.round(seconds);
  if (Math.abs(whole - seconds) > 1e-9) {
    throw new DebugTaskError(
      'DURATION_OUT_OF_RANGE',
      `${flag} ${quoted(text)} is ${seconds} seconds: a duration is a whole number of seconds.`,
      {
        hint: `Round it, e.g. ${formatDuration(Math.max(1, whole))}.`,
        details: { received: text.slice(0, 200) },
      },
    );
  }
  return whole;
}

/** h before m before s, each at most once: `30s1m` is more likely a typo than a duration. */
function unitsInOrder(value: string): boolean {
  const units = [...value.matchAll(DURATION_PART)].map((m) => m[2]);
  const order = units.map((u) => 'hms'.indexOf(u));
  return order.every((rank, i) => i === 0 || rank > order[i - 1]);
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(?:([kKmMgG])(i?)[bB]?|[bB])?$/;
const SIZE_POWER: Record<string, number> = { k: 1, m: 2, g: 3 };

/** "100MB", "10M", "512k", "10MiB", "2000" -> bytes. */
export function parseSize(text: string, flag = '--max-size'): number {
  const match = SIZE.exec(text.trim());
  let bytes = NaN;
  if (match) {
    const [, amount, prefix, binary] = match;
    const base = binary ? 1024 : 1000;
    bytes = Number(amount) * (prefix ? base ** SIZE_POWER[prefix.toLowerCase()] : 1);
  }
  if (!Number.isFinite(bytes)) {
    throw new DebugTaskError('SIZE_OUT_OF_RANGE', `${flag} ${quoted(text)} is not a size.`, {
      hint: 'Write it as 512k, 10M, 10MB, 10MiB, 1G or a number of bytes (k, M, G: powers of 1000; KiB, MiB, GiB: of 1024).',
      details: { received: text.slice(0, 200) },
    });
  }
  return Math.round(bytes);
}

/**
 * --ring (and a trigger's `ring`, lib/triggers/declaration.ts): a time (10m, 1h30m: the most recent ten minutes) or a size written with its B (200MB,
 * 1GiB: the most recent 200 MB). `10m` is a time and `10MB` a size, so the B decides: a bare `10M`
 * is refused rather than guessed.
 */
export function parseRingFlag(text: string): NonNullable<SessionRequest['ring']> {
  const value = text.trim();
  if (/[bB]$/.test(value)) {
    const bytes = parseSize(value, '--ring');
    if (bytes < MIN_RING_BYTES) {
      throw new DebugTaskError(
        'SIZE_OUT_OF_RANGE',
        `--ring ${quoted(text, 40)} is smaller than a ring can be (${MIN_RING_BYTES / 1e6} MB: it rotates files of whole megabytes).`,
        { hint: 'Write e.g. --ring 50MB, or a time such as --ring 5m.', details: { field: 'ring' } },
      );
    }
    return { bytes };
  }
  if (/^\d+(\.\d+)?\s*[kKMgGi]/.test(value)) {
    throw new DebugTaskError('INVALID_ARGUMENT', `--ring ${quoted(text, 40)} is neither a time nor a size.`, {
      hint: 'A time is written 90s, 10m, 1h; a size with its B: 200MB, 1GB, 512MiB.',
      details: { field: 'ring' },
    });
  }
  const seconds = parseDuration(value, '--ring');
  if (seconds < 1) {
    throw new DebugTaskError('DURATION_OUT_OF_RANGE', '--ring keeps at least one second.', {
      details: { field: 'ring' },
    });
  }
  return { seconds };
}

/** Seconds as they are typed: 90 -> 1m30s, 900 -> 15m, 3600 -> 1h. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return `${seconds}s`;
  const whole = Math.round(seconds);
  if (whole === 0) return '0s';
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}

/** An exact size in the largest decimal unit that divides it (1 kB, 100 MB, 1 GB), else bytes. */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [
    ['GB', 1e9],
    ['MB', 1e6],
    ['kB', 1e3],
  ] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor} ${unit}`;
  }
  return bytes === 1 ? '1 byte' : `${bytes} bytes`;
}

/** A measured size, rounded for reading: 11.6 kB. */
export function formatBytes(bytes: number): string {
  if (bytes < 1e3) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}
