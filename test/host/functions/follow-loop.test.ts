import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FOLLOW_CHUNK_MAX_BYTES, decodeChunkForm, encodeChunkForm } from '../../../lib/domain/follow';
import { childSessionId, sessionKeys } from '../../../lib/domain/session';
import { useFollowChunks } from '../../support/follow-chunks';
import { requireBash, RunnerShell } from './runner-shell';

/**
 * The runner's follow loop (lib/host/runner/lib/follow.sh) without a container: a writer appends to
 * the file the loop follows, the loop POSTs what was appended to the sandbox's S3 (s3rver) with the
 * form Launch signs; the chunks joined are what was written, a flood is cut at FOLLOW_CHUNK_MAX_BYTES,
 * and the chunk form is checked field by field before anything is started.
 */

jest.setTimeout(60_000);

let shell: RunnerShell;

beforeAll(() => {
  requireBash();
  shell = new RunnerShell();
});

afterAll(() => {
  shell?.remove();
});

const store = useFollowChunks('follow-loop');

/** Sources the runner in bash (asynchronously: s3rver answers in this process) and runs `snippet`. */
function runAsync(
  snippet: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `source "$RUNNER"\n${snippet}`], {
      env: {
        PATH: process.env.PATH,
        DEBUG_TASK_HOME: shell.home,
        RUNNER: join(shell.dir, 'runner.sh'),
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

it('uploads what is appended, in order, cutting a flood at the chunk bound; the chunks joined are the file', async () => {
  const childId = childSessionId('dt-20261206130000-flwlp1', 0);
  const small = [randomBytes(1000), randomBytes(3000)];
  const flood = randomBytes(FOLLOW_CHUNK_MAX_BYTES + 12_345);
  const parts = join(shell.dir, 'parts');
  writeFileSync(`${parts}0`, small[0]);
  writeFileSync(`${parts}1`, small[1]);
  writeFileSync(`${parts}2`, flood);

  const run = await runAsync(
    `load_params
read_chunk_form
mkdir -p "$OUT"
start_follow
cat "$PARTS"0 >>"$OUT/artifact"; sleep 1.5
cat "$PARTS"1 >>"$OUT/artifact"; sleep 1.5
dd if="$PARTS"2 of="$OUT/artifact" bs=9000000 count=1 oflag=append conv=notrunc status=none
finish_follow
printf '%s %s %s\\n' "$FOLLOW_CHUNKS" "$FOLLOW_FAILED" "$FOLLOW_BYTES"
follow_json`,
    {
      SSM_action: 'run',
      SSM_sessionId: childId,
      SSM_chunkUrl: await store.chunkForm(childId),
      SSM_followSeconds: '1',
      PARTS: parts,
    },
  );

  expect(run.stderr).not.toMatch(/could not be uploaded/);
  const written = Buffer.concat([...small, flood]);
  const chunks = await store.read(childId);
  expect(chunks.bytes.equals(written)).toBe(true);
  expect(chunks.seqs).toEqual(chunks.seqs.map((_, i) => i));
  // The first two parts in chunks of their own (a second apart), the flood (one write, then the
  // last chunks at once) in two: the bound, then the rest.
  expect(chunks.sizes.slice(0, 2)).toEqual([1000, 3000]);
  expect(chunks.sizes.slice(-2)).toEqual([FOLLOW_CHUNK_MAX_BYTES, 12_345]);
  const [counts, json] = run.stdout.trim().split('\n');
  expect(counts).toBe(`${chunks.seqs.length} 0 ${written.length}`);
  expect(JSON.parse(`{${json.slice(1)}}`)).toEqual({
    follow: { chunks: chunks.seqs.length, failedChunks: 0, bytes: written.length, intervalSeconds: 1 },
  });
  expect(createHash('sha256').update(chunks.bytes).digest('hex')).toBe(
    createHash('sha256')
      .update(readFileSync(`${parts}0`))
      .update(readFileSync(`${parts}1`))
      .update(flood)
      .digest('hex'),
  );
});

describe('read_chunk_form refuses, before anything starts', () => {
  const CHILD = childSessionId('dt-20261206130000-flwlp2', 0);

  it.each([
    [
      'a field the form does not have',
      (url: string) => `${url}&acl=public-read`,
      /field the chunk form does not have: "acl"/,
    ],
    [
      "another child's chunks prefix",
      (url: string) =>
        encodeChunkForm(
          decodeChunkForm(url),
          sessionKeys.childChunks(childSessionId('dt-20261206130000-flwlp2', 1)),
        ),
      /is not the chunks prefix of/,
    ],
    ['a form without fields', (url: string) => url.split('?')[0], /holds no form fields/],
  ])('%s (INVALID_ARGUMENT)', async (_what, change, message) => {
    const chunkUrl = change(await store.chunkForm(CHILD));
    const run = shell.run(`load_params\nread_chunk_form`, {
      env: { SSM_action: 'run', SSM_sessionId: CHILD, SSM_chunkUrl: chunkUrl },
    });
    expect(run.error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) });
  });

  it('a ring buffer (its files are rewritten as it turns)', async () => {
    const run = shell.run(`load_params\nread_chunk_form`, {
      env: {
        SSM_action: 'run',
        SSM_sessionId: CHILD,
        SSM_chunkUrl: await store.chunkForm(CHILD),
        SSM_ringSeconds: '60',
        SSM_tool: 'tcpdump',
      },
    });
    expect(run.error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/ring buffer cannot be followed/),
    });
  });
});
