import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  canonicalTemplate,
  readSnapshot,
  snapshotDifferences,
  withoutSalts,
  writeSnapshot,
} from '../../../scripts/integ';

const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);

function template(memory: number) {
  return {
    Resources: {
      Fn: {
        Type: 'AWS::Lambda::Function',
        Properties: { Code: { S3Key: `${HASH_B}.zip` }, MemorySize: memory },
      },
      Other: { Type: 'AWS::Lambda::Function', Properties: { Code: { S3Key: `${HASH_A}.zip` } } },
      Check: { Type: 'Custom::DeployAssert@SdkCallLambdainvoke', Properties: { salt: String(Date.now()) } },
    },
  };
}

describe('the integration test snapshot', () => {
  it('numbers asset hashes in order of appearance, so code changes alone change no snapshot', () => {
    const canonical = canonicalTemplate(template(256), [HASH_A, HASH_B]);

    expect(JSON.stringify(canonical)).not.toMatch(/a{64}|b{64}/);
    expect(canonical).toMatchObject({
      Resources: {
        Fn: { Properties: { Code: { S3Key: 'ASSET1.zip' } } },
        Other: { Properties: { Code: { S3Key: 'ASSET2.zip' } } },
      },
    });
  });

  it("makes integ-tests-alpha's per-synth salt neutral", () => {
    expect(withoutSalts(template(256))).toMatchObject({
      Resources: { Check: { Properties: { salt: 'SALT' } } },
    });
  });

  it('finds no difference between equal templates', () => {
    const same = withoutSalts(template(256));

    expect(snapshotDifferences({ Stack: same }, { Stack: structuredClone(same) })).toEqual([]);
  });

  it('reports a changed property with its resource, as integ-runner does', () => {
    const [difference] = snapshotDifferences(
      { Stack: withoutSalts(template(256)) },
      { Stack: withoutSalts(template(512)) },
    );

    expect(difference).toContain('Stack - Snapshot changed!');
    expect(difference).toMatch(/AWS::Lambda::Function Fn[\s\S]*MemorySize[\s\S]*256[\s\S]*512/);
  });

  it('reports a stack added or removed', () => {
    expect(snapshotDifferences({ Old: {} }, { New: {} })).toEqual([
      'Old exists in snapshot, but not in actual',
      'New does not exist in snapshot, but does in actual',
    ]);
  });

  it('reads back what it writes', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'integ-snapshot-')), 'x.snapshot');
    const templates = { Stack: withoutSalts(template(256)) };

    writeSnapshot(templates, dir);

    expect(readSnapshot(dir)).toEqual(templates);
  });
});
