import type { BenchResults, TargetRow } from './targets';

/**
 * The generated part of BENCHMARKS.md: between the two markers below, rewritten by every full run;
 * everything outside them (how it is measured, what the misses mean) is written by hand.
 */
export const START = '<!-- bench:generated:start (npm run bench rewrites this part) -->';
export const END = '<!-- bench:generated:end -->';

const mark = (met: boolean | null) => (met === null ? '—' : met ? 'met' : '**missed**');

export function renderTable(rows: readonly TargetRow[]): string {
  const lines = ['| figure | measured | target | |', '|---|---|---|---|'];
  for (const row of rows) {
    const measured = row.note ? `${row.measured}; ${row.note}` : row.measured;
    lines.push(`| ${esc(row.figure)} | ${esc(measured)} | ${esc(row.target)} | ${mark(row.met)} |`);
  }
  return lines.join('\n');
}

function esc(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function kv(record: Record<string, unknown> | undefined | null): string {
  if (!record) return 'n/a';
  return Object.entries(record)
    .map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(', ');
}

function section(results: BenchResults, key: keyof BenchResults): Record<string, unknown> | undefined {
  const value = results[key] as Record<string, unknown> | undefined | null;
  return (value?.raw as Record<string, unknown> | undefined) ?? value ?? undefined;
}

export function renderGenerated(results: BenchResults): string {
  const rows = results.targets ?? [];
  const machine = Object.entries(results.machine)
    .map(([k, v]) => `${k}: ${v}`)
    .join('; ');
  const hs = section(results, 'hostStart');
  const se = section(results, 'session');
  const la = section(results, 'lambda');
  const cl = section(results, 'cli');
  const ca = section(results, 'capture');
  const footprint = results.footprint;
  const details = [
    `- Host start, ms from the runner's start (median of ${hs?.reps ?? '?'}): ${kv(hs?.runnerPhasesMs as Record<string, unknown>)}; ` +
      `bash to the runner's first timestamp ${hs?.bashStartMs ?? 'n/a'} ms; a \`docker run -d\` with every flag the runner adds: ${hs?.runnerFlagsDockerRunMs ?? 'n/a'} ms. ` +
      `One traced run (bash xtrace), ms per command up to the toolbox's start: ${kv(hs?.runnerTraceMs as Record<string, unknown>)}.`,
    `- Session, ms per stretch (median of ${se?.reps ?? '?'}, ${se?.durationSeconds ?? '?'} s captures): ${kv(se?.phasesMs as Record<string, unknown>)}. ` +
      `The CLI's own --json overheadSeconds (from its session start, not its process start): ${se?.cliReportedOverheadSeconds ?? 'n/a'} s. ` +
      `Step Functions calls per session (API + the CLI's polling): ${kv(se?.sfnCallsPerSession as Record<string, unknown>)}.`,
    `- Fan-out: ${kv(results.calls?.fleet as Record<string, unknown>)}.`,
    `- Lambda bundles, KB by package (esbuild metafile; ${la?.breakdownOptions ?? 'n/a'}): ` +
      Object.entries((la?.topPackagesKB as Record<string, Record<string, number>>) ?? {})
        .map(([fn, top]) => `\`${fn}\` ${kv(top)}`)
        .join('; ') +
      `. \`node -e 0\`: ${la?.nodeBaselineMs ?? 'n/a'} ms; time inside require(), ms: ${kv(la?.requireInProcessMs as Record<string, unknown>)}.`,
    `- CLI \`--help\` self time by origin, ms (node --cpu-prof): ${kv((cl?.profile as { byOrigin?: Record<string, unknown> })?.byOrigin)}.`,
    `- Capture ladder (${ca?.reps ?? '?'} tries per rate and side, ${ca?.floodSeconds ?? '?'} s floods of 64-byte UDP): ` +
      ((ca?.perRate as Array<Record<string, unknown>>) ?? []).map((r) => kv(r)).join('; ') +
      `; fastest the generator sent: ${ca?.generatorMaxPps ?? 'n/a'} pps${ca?.generatorCeilingReached ? ' (the ladder stopped at its ceiling)' : ''}.`,
    `- Footprint: ${kv(footprint)}.`,
  ];
  const errors = Object.entries(results.errors).map(
    ([suite, message]) => `- harness error in ${suite}: ${message.split('\n')[0]}`,
  );
  return [
    START,
    '',
    `Run: ${results.generatedAt}, ${results.mode} mode, ${results.durationSeconds} s. Machine: ${machine}.`,
    '',
    renderTable(rows),
    '',
    'Raw medians behind the figures (all of them are in `bench/results.json`):',
    '',
    ...details,
    ...(errors.length ? ['', ...errors] : []),
    '',
    END,
  ].join('\n');
}

/** Replaces the generated part of `markdown` (or appends it when the markers are missing). */
export function replaceGenerated(markdown: string, generated: string): string {
  const start = markdown.indexOf(START);
  const end = markdown.indexOf(END);
  if (start === -1 || end === -1 || end < start) return `${markdown.trimEnd()}\n\n${generated}\n`;
  return `${markdown.slice(0, start)}${generated}${markdown.slice(end + END.length)}`;
}
