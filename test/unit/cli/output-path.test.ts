import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkOutput, outputFlag } from '../../../lib/cli/output-path';

/** Every -o a user can get wrong is refused here, before a session starts, with exit 2 and a fix. */
describe('checkOutput', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'debug-task-output-path-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const refused = (output: string | undefined, expect_: 'file' | 'folder' | 'file-or-folder', json = false) =>
    checkOutput(output, { expect: expect_, json }).then(
      () => {
        throw new Error('accepted');
      },
      (error) => error,
    );

  it.each(['json', 'text', 'table', 'JSON', 'yaml'])(
    'refuses -o %s (the AWS CLI habit) and points to --json',
    async (word) => {
      const error = await refused(word, 'file');
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', exitCode: 2 });
      expect(error.message).toContain('not an output format');
      expect(error.hint).toContain('--json');
      expect(error.hint).toContain(`-o ./${word}`);
    },
  );

  it('accepts ./json, a file that happens to be named json', async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      await expect(checkOutput('./json', { expect: 'file', json: false })).resolves.toEqual({
        kind: 'file',
        path: join(dir, 'json'),
      });
    } finally {
      process.chdir(cwd);
    }
  });

  it('refuses an existing folder for one task, naming a file in it', async () => {
    const error = await refused(dir, 'file');
    expect(error.message).toContain('is a folder');
    expect(error.hint).toContain(join(dir, 'capture.pcap'));
  });

  it('refuses a path ending in / for one task', async () => {
    expect((await refused(join(dir, 'new') + '/', 'file')).message).toContain('is a folder');
  });

  it('refuses a file under a folder that does not exist, with the mkdir that fixes it', async () => {
    const error = await refused(join(dir, 'missing', 'x.pcap'), 'file');
    expect(error.message).toContain('does not exist');
    expect(error.hint).toContain(`mkdir -p ${join(dir, 'missing')}`);
  });

  it('refuses a file under a parent that is a file', async () => {
    writeFileSync(join(dir, 'plain'), '');
    expect((await refused(join(dir, 'plain', 'x.pcap'), 'file')).message).toContain('is not a folder');
  });

  it('accepts a new file in an existing folder, and an existing file (overwritten, as tcpdump -w does)', async () => {
    await expect(checkOutput(join(dir, 'a.pcap'), { expect: 'file', json: false })).resolves.toMatchObject({
      kind: 'file',
    });
    writeFileSync(join(dir, 'b.pcap'), 'old');
    await expect(checkOutput(join(dir, 'b.pcap'), { expect: 'file', json: false })).resolves.toMatchObject({
      kind: 'file',
    });
  });

  it('takes -o - as stdout, but not with --json (both write to stdout) nor for a folder of files', async () => {
    await expect(checkOutput('-', { expect: 'file', json: false })).resolves.toEqual({ kind: 'stdout' });
    expect((await refused('-', 'file', true)).message).toContain('--json and -o - both write to stdout');
    expect((await refused('-', 'folder')).message).toContain('one file per task');
  });

  it('takes an existing folder, or a new path, for a service; refuses a file there', async () => {
    await expect(checkOutput(dir, { expect: 'folder', json: false })).resolves.toMatchObject({
      kind: 'folder',
    });
    await expect(checkOutput(join(dir, 'new'), { expect: 'folder', json: false })).resolves.toMatchObject({
      kind: 'folder',
    });
    writeFileSync(join(dir, 'f'), '');
    expect((await refused(join(dir, 'f'), 'folder')).message).toContain('is a file');
  });
});

describe('outputFlag', () => {
  it('reads -w as -o (tcpdump’s name)', () => expect(outputFlag({ write: 'x.pcap' })).toBe('x.pcap'));
  it('refuses -o and -w that disagree', () => {
    expect(() => outputFlag({ output: 'a', write: 'b' })).toThrow(/both say where the artifact goes/);
  });
});
