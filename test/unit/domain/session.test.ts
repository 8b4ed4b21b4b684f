import { INSTANCE_ID_PATTERN, PLAN_HEADER, renderPlan } from '../../../lib/domain/host-plan';
import { isValidHostParam } from '../../../lib/domain/params';
import {
  MAX_CHILDREN,
  childSessionId,
  newSessionId,
  parseChildId,
  runKeys,
  sessionKeys,
} from '../../../lib/domain/session';

const ID = 'dt-20250101120000-abc123';

describe('child session ids', () => {
  it('names the child at index i <session>-NNNN, a session id the SSM document accepts', () => {
    expect(childSessionId(ID, 0)).toBe(`${ID}-0000`);
    expect(childSessionId(ID, MAX_CHILDREN - 1)).toBe(`${ID}-0999`);
    expect(isValidHostParam('sessionId', childSessionId(ID, 42))).toBe(true);
  });

  it.each([-1, 1.5, MAX_CHILDREN])('refuses index %p', (index) => {
    expect(() => childSessionId(ID, index)).toThrow(RangeError);
  });

  it("reads a child's session and index back, and nothing from a session's own id", () => {
    expect(parseChildId(`${ID}-0042`)).toEqual({ sessionId: ID, index: 42 });
    expect(parseChildId(ID)).toBeUndefined();
    expect(parseChildId(`${ID}-r1a2b`)).toBeUndefined();
  });

  it('makes new session ids that sort by time and fit the SSM document', () => {
    const id = newSessionId(new Date('2026-11-25T12:34:56Z'));

    expect(id).toMatch(/^dt-20261125123456-[a-z0-9]{6}$/);
    expect(isValidHostParam('sessionId', id)).toBe(true);
  });
});

describe('the S3 layout of a session', () => {
  it("puts a child's objects under children/<child id>/ of its session", () => {
    expect(sessionKeys.childArtifact(`${ID}-0003`, 'pcap')).toBe(
      `sessions/${ID}/children/${ID}-0003/artifact.pcap.gz`,
    );
    expect(sessionKeys.childManifest(`${ID}-0003`)).toBe(`sessions/${ID}/children/${ID}-0003/manifest.json`);
    expect(sessionKeys.childReuploadManifest(`${ID}-0003`, 'r1a2b')).toBe(
      `sessions/${ID}/children/${ID}-0003/r1a2b.json`,
    );
    expect(() => sessionKeys.childManifest(ID)).toThrow(RangeError);
  });

  it("keeps a capture's plan, batches and record at the session's prefix", () => {
    const keys = runKeys({ sessionId: ID });

    expect([keys.plan, keys.hostPlan(2), keys.batch(2), keys.record]).toEqual([
      `sessions/${ID}/plan.json`,
      `sessions/${ID}/plan/2.tsv`,
      `sessions/${ID}/batches/2.json`,
      `sessions/${ID}/manifest.json`,
    ]);
  });

  it("keeps a re-upload's under reuploads/<id>/, never over the session's own", () => {
    const keys = runKeys({ sessionId: ID, reupload: { id: 'r1a2b', children: [] } });

    expect([keys.plan, keys.hostPlan(0), keys.batch(0), keys.record]).toEqual([
      `sessions/${ID}/reuploads/r1a2b/plan.json`,
      `sessions/${ID}/reuploads/r1a2b/plan/0.tsv`,
      `sessions/${ID}/reuploads/r1a2b/batches/0.json`,
      `sessions/${ID}/reuploads/r1a2b/record.json`,
    ]);
  });
});

describe('renderPlan (plan v2)', () => {
  it('writes the header, then one line of five TAB-separated fields per child, LF-terminated', () => {
    const text = renderPlan([
      {
        instanceId: 'i-0abc123def4567890',
        childSessionId: `${ID}-0000`,
        containerId: 'ab'.repeat(32),
        artifactUrl: 'https://b.s3/a?X-Amz-Signature=1',
        manifestUrl: 'https://b.s3/m?X-Amz-Signature=2',
      },
      {
        instanceId: 'mi-0123456789abcdef0',
        childSessionId: `${ID}-0001`,
        containerId: '-',
        artifactUrl: 'https://b.s3/a2',
        manifestUrl: 'https://b.s3/m2',
      },
    ]);

    expect(text).toBe(
      [
        PLAN_HEADER,
        `i-0abc123def4567890\t${ID}-0000\t${'ab'.repeat(32)}\thttps://b.s3/a?X-Amz-Signature=1\thttps://b.s3/m?X-Amz-Signature=2`,
        `mi-0123456789abcdef0\t${ID}-0001\t-\thttps://b.s3/a2\thttps://b.s3/m2`,
        '',
      ].join('\n'),
    );
  });

  it('writes only the header for no child', () => {
    expect(renderPlan([])).toBe(`${PLAN_HEADER}\n`);
  });

  it('knows EC2 and ECS Anywhere hosts by their ids', () => {
    const pattern = new RegExp(INSTANCE_ID_PATTERN);
    expect(
      ['i-0abc123d', 'i-0abc123def4567890', 'mi-0123456789abcdef0'].every((id) => pattern.test(id)),
    ).toBe(true);
    expect(['i-0ABC123D', 'i-0abc\tx', 'mi-0123'].some((id) => pattern.test(id))).toBe(false);
  });
});
