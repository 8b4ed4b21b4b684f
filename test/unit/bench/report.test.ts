import { END, START, renderGenerated, renderTable, replaceGenerated } from '../../../bench/lib/report';
import { interleave, median, ratio, round } from '../../../bench/lib/stats';
import { evaluateTargets, exitCode, type BenchResults } from '../../../bench/lib/targets';

function results(overrides: Partial<BenchResults> = {}): BenchResults {
  return {
    generatedAt: '2026-11-25T00:00:00.000Z',
    mode: 'full',
    durationSeconds: 1,
    machine: { cores: 2 },
    hostStartRatio: 1.2,
    sessionOverheadSeconds: 1.5,
    callsSingleSession: 3,
    callsFleet1000: null,
    bundleBytes: { resolve: 400_000, api: 1_000_000 },
    coldInitMs: { resolve: 60, api: 200 },
    cliHelpRatio: 1.8,
    dropFreePpsRatio: 0.95,
    uploadThroughputRatio: 1,
    session: { raw: { endDetectionMs: 400, endDetectionMaxMs: 900 } },
    hostStart: {
      raw: { bareDockerRunMs: 200, bootstrapCachedMs: 300, bootstrapFirstFetchMs: 450, runnerBytes: 100_352 },
    },
    footprint: { cpuCores: 0.4, cpuLimitCores: 0.5, capsHold: true },
    errors: {},
    ...overrides,
  };
}

describe('bench statistics', () => {
  it('takes the median of odd and even samples and ignores NaN', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([1, Number.NaN, 3])).toBe(2);
    expect(median([])).toBeNaN();
  });

  it('gives NaN ratios for missing values and rounds them to null', () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(1, 0)).toBeNaN();
    expect(round(ratio(1, 0))).toBeNull();
    expect(round(1.23456, 2)).toBe(1.23);
  });

  it('alternates which side of a comparison runs first', async () => {
    const order: string[] = [];
    await interleave(
      3,
      async () => void order.push('a'),
      async () => void order.push('b'),
    );
    expect(order).toEqual(['a', 'b', 'b', 'a', 'a', 'b']);
  });
});

describe('bench targets', () => {
  it('marks each figure met or missed against the issue’s targets', () => {
    const rows = evaluateTargets(results());
    const byFigure = (prefix: string) => rows.filter((r) => r.figure.startsWith(prefix));

    expect(byFigure('1.')[0].met).toBe(true);
    expect(byFigure('1b.')[0]).toMatchObject({ measured: '1.50x (300 ms vs 200 ms)', met: false });
    expect(byFigure('1c.')[0]).toMatchObject({
      measured: '450 ms, 150 ms over the cached start (runner 98 KiB, loopback HTTP)',
      met: true,
    });
    expect(byFigure('2b.')[0].met).toBe(true);
    expect(byFigure('4. Lambda `api`: bundle')[0].met).toBe(false);
    expect(byFigure('4. Lambda `resolve`: bundle')[0].met).toBe(true);
    expect(byFigure('4. Lambda `api`: module init')[0].met).toBe(false);
    expect(byFigure('6. ')[0].met).toBe(true);
    expect(byFigure('7.')[0].met).toBe(true);
  });

  it('tells how much of the session overhead Node and Docker take by themselves, when it was measured', () => {
    const session = (floorMs?: Record<string, number>) =>
      evaluateTargets(
        results({
          session: { raw: { wallSeconds: 4.5, captureSeconds: 3, reps: 5, ...(floorMs && { floorMs }) } },
        }),
      ).find((r) => r.figure.startsWith('2. '));
    expect(
      session({ nodeStart: 80, dockerRunToListening: 330, exitToDockerWait: 140, total: 550 })?.measured,
    ).toBe(
      '1.50 s (wall 4.50 s, capture 3.00 s; median of n=5); of it Node and Docker alone: 0.55 s (`node -e 0` 80 ms, `docker run -d` to listening 330 ms, exit to `docker wait` 140 ms)',
    );
    expect(session()?.measured).toBe('1.50 s (wall 4.50 s, capture 3.00 s; median of n=5)');
  });

  it("checks the ring buffer's disk under a flood against its bound plus one file (and a time ring's second of flood)", () => {
    const flood = { pps: 1000, sent: 10_000, seconds: 10, errors: 0 };
    const trial = (kind: string, mostOnDiskBytes: number) => ({
      kind,
      boundBytes: 16_000_000,
      fileBytes: 2_000_000,
      mostOnDiskBytes,
      memoryPeakMiB: 12.5,
      keptSeconds: kind === 'time' ? 5.4 : null,
      flood,
    });
    const rows = (size: number, time: number) =>
      evaluateTargets({ ...results(), ring: { trials: [trial('size', size), trial('time', time)] } }).filter(
        (r) => r.figure.startsWith('8'),
      );

    // size: 9 files of 2 MB, each a packet over; time: 16 MB + a file + a packet + 1 s of the flood.
    expect(rows(18_011_700, 19_243_300).map((r) => r.met)).toEqual([true, true]);
    expect(rows(18_011_701, 19_243_301).map((r) => r.met)).toEqual([false, false]);
    expect(rows(18_001_000, 19_000_000)[1].measured).toBe(
      '19.0 MB (memory peak 12.5 MiB; flood 1000 pps x 1200 B; kept 5.40 s)',
    );
    expect(
      evaluateTargets(results())
        .filter((r) => r.figure.startsWith('8'))
        .map((r) => r.met),
    ).toEqual([null, null]);
  });

  it('reports a fan-out that is not built as not built, neither met nor missed', () => {
    const row = evaluateTargets(results()).find((r) => r.figure.startsWith('3b.'));

    expect(row).toMatchObject({ measured: 'not built', met: null });
  });

  it('exits 0 on a missed target, non-zero when a harness broke or when asked to fail on a miss', () => {
    const missed = results({ hostStartRatio: 2 });

    expect(exitCode(missed, false)).toBe(0);
    expect(exitCode(missed, true)).toBe(3);
    expect(exitCode(results({ errors: { capture: 'nsenter: not found' } }), false)).toBe(1);
  });
});

describe('BENCHMARKS.md generation', () => {
  it('renders one table row per target with its verdict', () => {
    const table = renderTable(evaluateTargets(results()));

    expect(table.split('\n')[0]).toBe('| figure | measured | target | |');
    expect(table).toContain('| **missed** |');
    expect(table).toContain('| met |');
  });

  it('replaces only the generated part and keeps the hand-written text around it', () => {
    const markdown = `# Benchmarks\n\nintro\n\n${START}\nold table\n${END}\n\n## Notes\nkept\n`;
    const generated = renderGenerated({ ...results(), targets: evaluateTargets(results()) });

    const next = replaceGenerated(markdown, generated);

    expect(next).toContain('intro');
    expect(next).toContain('## Notes\nkept');
    expect(next).not.toContain('old table');
    expect(next.split(START)).toHaveLength(2);
  });

  it('appends the generated part when the markers are missing', () => {
    expect(replaceGenerated('# Benchmarks\n', `${START}\nx\n${END}`)).toBe(
      `# Benchmarks\n\n${START}\nx\n${END}\n`,
    );
  });
});
