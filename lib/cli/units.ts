// The units are read and shown in one place, lib/domain/units.ts (also used by the API's messages).
export { formatBytes, formatDuration, formatSize, parseDuration, parseSize } from '../domain/units';
