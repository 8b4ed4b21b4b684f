import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Bytes of a ring buffer's files (`ring-*`) in a capture's /out on the host, now (0 while there is
 * none): what the ring costs the host's disk. Files come and go as it turns: one gone between the
 * listing and its stat counts 0. Used by the bench suite `ring` and the ring's host test.
 */
export async function ringFilesBytes(out: string): Promise<number> {
  const names = await readdir(out).catch(() => [] as string[]);
  let total = 0;
  for (const name of names.filter((n) => n.startsWith('ring-'))) {
    total += await stat(join(out, name)).then(
      (s) => s.size,
      () => 0,
    );
  }
  return total;
}
