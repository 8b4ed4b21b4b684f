import { DebugTaskError, quoted } from '../domain/errors';

const DURATION_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600 };
const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** "90", "90s", "5m", "1h" -> seconds. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$/i.exec(text);
  const seconds = match ? Number(match[1]) * DURATION_UNITS[match[2].toLowerCase()] : NaN;
  if (!Number.isFinite(seconds) || seconds < 1 || !Number.isInteger(seconds)) {
    throw new DebugTaskError(
      'DURATION_OUT_OF_RANGE',
      `--duration ${quoted(text)} is not a whole number of seconds.`,
      {
        hint: 'Write it as 30s, 5m or 90 (seconds).',
        details: { received: text.slice(0, 200) },
      },
    );
  }
  return seconds;
}

/** "100MB", "1GB", "512KiB", "2000000" -> bytes (decimal units are powers of 1000, as on disks). */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const factor = match ? SIZE_UNITS[match[2].toLowerCase()] : undefined;
  const bytes = match && factor ? Math.round(Number(match[1]) * factor) : NaN;
  if (!Number.isFinite(bytes) || bytes < 1) {
    throw new DebugTaskError('SIZE_OUT_OF_RANGE', `--max-size ${quoted(text)} is not a size.`, {
      hint: 'Write it as 500kB, 100MB, 1GB or a number of bytes.',
      details: { received: text.slice(0, 200) },
    });
  }
  return bytes;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1e3) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}
