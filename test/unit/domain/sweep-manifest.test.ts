import { parseSweepManifest, type SweepManifest } from '../../../lib/domain/sweep-manifest';

const SWEPT: SweepManifest = {
  v: 1,
  action: 'sweep',
  status: 'OK',
  sweep: {
    containersRemoved: 2,
    containersFailed: 0,
    containersKept: 1,
    watchdogsStopped: 1,
    workDirsRemoved: 3,
    workDirsFailed: 0,
    workDirsKept: 4,
    sessions: ['dt-20261125120000-abc123'],
  },
  timings: { startedAt: 1795600000000, endedAt: 1795600000123 },
};

describe('parseSweepManifest', () => {
  it('reads the last line of the runner’s stdout', () => {
    expect(parseSweepManifest(`noise\n${JSON.stringify(SWEPT)}\n\n`)).toEqual(SWEPT);
  });

  it('reads a failed sweep, which has an error and no report', () => {
    const failed = {
      v: 1,
      action: 'sweep',
      status: 'FAILED',
      error: { code: 'CAPTURE_FAILED', message: 'The Docker engine does not answer.' },
      timings: { startedAt: 1, endedAt: 2 },
    };

    expect(parseSweepManifest(JSON.stringify(failed))).toEqual(failed);
  });

  it('ignores keys it does not know, so the runner may add facts', () => {
    const line = JSON.stringify({ ...SWEPT, host: 'i-0abc', sweep: { ...SWEPT.sweep, extra: 1 } });

    expect(parseSweepManifest(line)).toEqual(SWEPT);
  });

  it.each([
    ['no output', ''],
    ['a runner that died first', 'bash: line 1: docker: command not found\n'],
    [
      'a session manifest (an older document without action=sweep ran a session)',
      '{"v":1,"sessionId":"","status":"FAILED","error":{"code":"INVALID_ARGUMENT","message":"x"},"tool":{"name":null,"exitCode":null},"timings":{"startedAt":1,"endedAt":2}}',
    ],
    ['a negative count', JSON.stringify({ ...SWEPT, sweep: { ...SWEPT.sweep, containersRemoved: -1 } })],
  ])('returns undefined for %s', (_label, stdout) => {
    expect(parseSweepManifest(stdout)).toBeUndefined();
  });
});
