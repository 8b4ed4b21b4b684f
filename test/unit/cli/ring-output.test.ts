import { ringText } from '../../../lib/cli/output';
import { ringOutcome } from '../../../lib/cli/session-runner';
import { renderSessionView } from '../../../lib/cli/commands/sessions';
import { RunnerManifestSchema } from '../../../lib/domain/runner-manifest';
import type { SessionView } from '../../../lib/domain/session';

const ENDED = Date.parse('2026-12-06T03:22:11.500Z');

describe("a ring buffer's summary", () => {
  it('gives the span kept from the first packet to the end, and what went round', () => {
    const ring = ringOutcome(
      {
        windowSeconds: 600,
        wrapped: true,
        rotatedOut: 23,
        firstPacketAt: ENDED - 604_380,
        capturedPackets: 52_113,
      },
      ENDED,
    );

    expect(ring).toEqual({
      windowSeconds: 600,
      wrapped: true,
      rotatedOut: 23,
      firstPacketAt: '2026-12-06T03:12:07.120Z',
      keptSeconds: 604.38,
      capturedPackets: 52_113,
    });
    expect(ringText(ring)).toBe(
      'the last 10m kept: 604.38s from 03:12:07.120 UTC to the end; 23 older files rotated out, 52113 packets captured in all',
    );
  });

  it('says when a ring never filled its window, and when it kept no packet', () => {
    expect(ringText(ringOutcome({ windowBytes: 200_000_000, wrapped: false }, ENDED))).toBe(
      'the last 200 MB kept: no packet; nothing dropped (the window never filled)',
    );
    expect(
      ringText(ringOutcome({ windowBytes: 2_000_000, wrapped: true, firstPacketAt: ENDED - 2000 }, ENDED)),
    ).toBe('the last 2 MB kept: 2s from 03:22:09.500 UTC to the end; older packets dropped');
  });

  it("reads the runner's ring as the manifest schema has it (a runner without one still reads)", () => {
    const base = {
      v: 1,
      sessionId: 'dt-20261206031200-abcd',
      status: 'OK',
      tool: { name: 'tcpdump', exitCode: 0, packets: null, dropped: 0 },
      timings: { startedAt: 1, endedAt: 2 },
    };
    const ring = { windowSeconds: 5, wrapped: true, rotatedOut: 3, firstPacketAt: 123, capturedPackets: 9 };

    expect(RunnerManifestSchema.parse({ ...base, ring }).ring).toEqual(ring);
    expect(RunnerManifestSchema.parse(base).ring).toBeUndefined();
    expect(RunnerManifestSchema.safeParse({ ...base, ring: { windowSeconds: 5 } }).success).toBe(false);
  });
});

describe('`debug-task status` of a ring buffer', () => {
  it('says what the ring kept under the session line', () => {
    const view = {
      sessionId: 'dt-20261206031200-abcd',
      status: 'SUCCEEDED',
      result: {
        kind: 'task',
        children: [
          {
            status: 'SUCCEEDED',
            timings: { captureEndedAt: ENDED },
            ring: { windowSeconds: 600, wrapped: true, rotatedOut: 2, firstPacketAt: ENDED - 600_500 },
          },
        ],
      },
    } as unknown as SessionView;

    expect(renderSessionView(view)).toContain(
      'ring  the last 10m kept: 600.5s from 03:12:11.000 UTC to the end; 2 older files rotated out\n',
    );
  });
});
