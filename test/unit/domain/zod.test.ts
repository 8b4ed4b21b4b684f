import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as z from '../../../lib/domain/zod';

const ROOT = join(__dirname, '..', '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('lib/domain/zod (zod/mini with English messages)', () => {
  it('says what classic zod says, not just "Invalid input"', () => {
    const schema = z.object({
      n: z.number().check(z.int(), z.nonnegative()),
      s: z.optional(z.string().check(z.regex(/^[a-f]+$/))),
    });

    const issues = schema.safeParse({ n: -1, s: 'xyz' }).error?.issues.map((i) => i.message);
    expect(issues).toEqual([
      'Too small: expected number to be >=0',
      'Invalid string: must match pattern /^[a-f]+$/',
    ]);
    expect(schema.safeParse({ n: 'x' }).error?.issues[0].message).toBe(
      'Invalid input: expected number, received string',
    );
  });

  // Classic zod does not tree-shake: one import of it adds ~450 KB to every Lambda that reaches it
  // (BENCHMARKS.md, figure 4). Bundled code (lib, lambda) uses zod/mini through lib/domain/zod.ts.
  it('is the only way bundled code reaches zod', () => {
    const importers = [...sources(join(ROOT, 'lib')), ...sources(join(ROOT, 'lambda'))]
      .filter((file) => /^import [^;]* from 'zod(\/v4|\/v3)?';/m.test(readFileSync(file, 'utf8')))
      .map((file) => relative(ROOT, file));
    expect(importers).toEqual([]);
  });
});
