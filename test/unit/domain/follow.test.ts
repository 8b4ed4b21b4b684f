import {
  CHUNK_FORM_FIELDS,
  FOLLOW_CHUNK_MAX_BYTES,
  FOLLOW_SECONDS,
  chunkKey,
  chunkPostConditions,
  chunkSeqOf,
  decodeChunkForm,
  encodeChunkForm,
} from '../../../lib/domain/follow';
import {
  HOST_PARAMS,
  deploymentUrlPattern,
  isValidHostParam,
  regexLiteral,
} from '../../../lib/domain/params';
import { parseSessionRequest } from '../../../lib/domain/session-spec';
import { sessionKeys } from '../../../lib/domain/session';
import { uploadPresigner } from '../../../lib/session/upload';
import { uploadSessionPolicy } from '../../../lib/domain/upload';
import { BUCKET, SESSION_ID, caught } from '../../support/fixtures';

const CHILD = `${SESSION_ID}-0000`;
const PREFIX = sessionKeys.childChunks(CHILD);
const session = {
  accessKeyId: 'ASIAUPLOADSESSION001',
  secretAccessKey: 'upload-session-secret-not-real',
  sessionToken: 'token+/=with/some+base64==',
  expiration: new Date(Date.now() + 3600_000),
};

async function signedForm(expiresIn = 990) {
  const presigner = uploadPresigner(session);
  try {
    return await presigner.presignChunks(BUCKET, PREFIX, expiresIn);
  } finally {
    presigner.destroy();
  }
}

/** The POST policy a form carries, decoded. */
function policyOf(url: string): { expiration: string; conditions: unknown[] } {
  return JSON.parse(Buffer.from(decodeChunkForm(url).fields.Policy, 'base64').toString('utf8')) as {
    expiration: string;
    conditions: unknown[];
  };
}

describe('followSeconds and chunkUrl (host parameters)', () => {
  it('admits 1 to 60 seconds, the bounds FOLLOW_SECONDS names, and its default', () => {
    for (const ok of ['1', '2', '9', '10', '59', '60'])
      expect(isValidHostParam('followSeconds', ok)).toBe(true);
    for (const bad of ['0', '61', '100', '', '02', '-1', '2s', '1;id'])
      expect(isValidHostParam('followSeconds', bad)).toBe(false);
    expect(HOST_PARAMS.followSeconds.default).toBe(String(FOLLOW_SECONDS.default));
    expect(isValidHostParam('followSeconds', String(FOLLOW_SECONDS.min))).toBe(true);
    expect(isValidHostParam('followSeconds', String(FOLLOW_SECONDS.max))).toBe(true);
    expect(isValidHostParam('followSeconds', String(FOLLOW_SECONDS.max + 1))).toBe(false);
  });

  it("takes the signed form as one URL that the deployment's bucket pattern admits (and no other bucket's)", async () => {
    const url = await signedForm();
    expect(isValidHostParam('chunkUrl', url)).toBe(true);
    // The test's endpoint (AWS_ENDPOINT_URL_S3 unset: the region's virtual-hosted one).
    const endpoint = `${new URL(url).origin}/`;
    expect(new RegExp(deploymentUrlPattern([regexLiteral(endpoint)])).test(url)).toBe(true);
    expect(
      new RegExp(
        deploymentUrlPattern([regexLiteral('https://other-bucket.s3.xx-test-1.amazonaws.com/')]),
      ).test(url),
    ).toBe(false);
  });

  it('refuses a chunkUrl with a quote, a space or a newline (nothing a shell would act on)', () => {
    for (const bad of [
      "https://b.s3.x.amazonaws.com/?key='a'",
      'https://b.s3.x.amazonaws.com/?key=a b',
      'https://b/?key=a\nb',
    ])
      expect(isValidHostParam('chunkUrl', bad)).toBe(false);
  });
});

describe('the chunk form (presigned POST)', () => {
  it('is signed with the upload role session: its token in the form and in the policy', async () => {
    const { fields } = decodeChunkForm(await signedForm());
    expect(fields['X-Amz-Security-Token']).toBe(session.sessionToken);
    expect(fields['X-Amz-Credential']).toMatch(
      /^ASIAUPLOADSESSION001\/[0-9]{8}\/xx-test-1\/s3\/aws4_request$/,
    );
    expect(fields['X-Amz-Signature']).toMatch(/^[a-f0-9]{64}$/);
    expect(policyOf(await signedForm()).conditions).toContainEqual({
      'X-Amz-Security-Token': session.sessionToken,
    });
  });

  it("admits only keys under the child's chunks/ prefix, and 1 to FOLLOW_CHUNK_MAX_BYTES bytes", async () => {
    const policy = policyOf(await signedForm());
    expect(policy.conditions).toContainEqual(['starts-with', '$key', PREFIX]);
    expect(policy.conditions).toContainEqual(['content-length-range', 1, FOLLOW_CHUNK_MAX_BYTES]);
    expect(policy.conditions).toContainEqual({ bucket: BUCKET });
    // No exact key: the host names each chunk under the prefix.
    expect(policy.conditions.some((c) => typeof c === 'object' && c !== null && 'key' in c)).toBe(false);
    expect(chunkPostConditions(PREFIX)).toEqual([
      ['starts-with', '$key', PREFIX],
      ['content-length-range', 1, FOLLOW_CHUNK_MAX_BYTES],
    ]);
  });

  it('expires with the upload URLs (expiresIn seconds from now)', async () => {
    const before = Date.now();
    const expiration = Date.parse(policyOf(await signedForm(990)).expiration);
    expect(expiration).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 989_000);
    expect(expiration).toBeLessThanOrEqual(Date.now() + 991_000);
  });

  it('carries the chunks prefix as its key and only the fields the runner sends, key first', async () => {
    const url = await signedForm();
    const names = url
      .split('?')[1]
      .split('&')
      .map((pair) => pair.split('=')[0]);
    expect(names[0]).toBe('key');
    expect(names.every((name) => (CHUNK_FORM_FIELDS as readonly string[]).includes(name))).toBe(true);
    expect(decodeChunkForm(url).fields.key).toBe(PREFIX);
  });

  it('round-trips through encodeChunkForm and decodeChunkForm, and refuses a field the runner does not know', async () => {
    const post = {
      url: 'http://127.0.0.1:4569/bucket',
      fields: { Policy: 'a+b/c==', 'X-Amz-Signature': 'ff' },
    };
    const url = encodeChunkForm(post, PREFIX);
    expect(url.startsWith('http://127.0.0.1:4569/bucket/?key=')).toBe(true);
    expect(decodeChunkForm(url)).toEqual({
      url: 'http://127.0.0.1:4569/bucket/',
      fields: { key: PREFIX, Policy: 'a+b/c==', 'X-Amz-Signature': 'ff' },
    });
    await expect(
      caught(async () => encodeChunkForm({ url: post.url, fields: { acl: 'public-read' } }, PREFIX)),
    ).resolves.toMatchObject({
      code: 'AWS_ERROR',
    });
  });

  // Launch's session policy names `<children prefix><child>/*` for each child of the batch.
  it("lies within the upload role's session policy for the child (<child prefix>*)", () => {
    const policy = JSON.parse(
      uploadSessionPolicy('aws', BUCKET, [`${sessionKeys.childrenPrefix(SESSION_ID)}${CHILD}/*`], 'x'),
    ) as {
      Statement: { Resource: string }[];
    };
    const resource = policy.Statement[0].Resource.replace(`arn:aws:s3:::${BUCKET}/`, '');
    expect(resource.endsWith('*')).toBe(true);
    expect(chunkKey(PREFIX, 12).startsWith(resource.slice(0, -1))).toBe(true);
  });
});

describe('chunk keys', () => {
  it('sort as their sequence and read back; anything else under the prefix is not a chunk', () => {
    expect(chunkKey(PREFIX, 7)).toBe(`${PREFIX}000007`);
    expect(chunkKey(PREFIX, 10) > chunkKey(PREFIX, 9)).toBe(true);
    expect(chunkSeqOf(PREFIX, chunkKey(PREFIX, 123))).toBe(123);
    expect(chunkSeqOf(PREFIX, `${PREFIX}12`)).toBeUndefined();
    expect(chunkSeqOf(PREFIX, `${PREFIX}000001.tmp`)).toBeUndefined();
    expect(chunkSeqOf(PREFIX, `sessions/other/000001`)).toBeUndefined();
  });
});

describe('follow in a session request', () => {
  const task = { task: 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef' };

  it('follows one task, every 2 s unless asked otherwise', () => {
    expect(parseSessionRequest({ target: task, tool: 'tcpdump', follow: {} }).follow).toEqual({
      intervalSeconds: 2,
    });
    expect(
      parseSessionRequest({ target: task, tool: 'ngrep', follow: { intervalSeconds: 5 } }).follow,
    ).toEqual({
      intervalSeconds: 5,
    });
    expect(parseSessionRequest({ target: task, tool: 'tcpdump' }).follow).toBeUndefined();
  });

  it('refuses a service (one stream per task), a ring, and an interval out of 1 to 60 s', async () => {
    await expect(
      caught(async () =>
        parseSessionRequest({ target: { service: 'web', cluster: 'prod' }, tool: 'tcpdump', follow: {} }),
      ),
    ).resolves.toMatchObject({
      code: 'INVALID_ARGUMENT',
      hint: expect.stringMatching(/Follow one task of it/),
    });
    await expect(
      caught(async () =>
        parseSessionRequest({ target: task, tool: 'tcpdump', ring: { seconds: 60 }, follow: {} }),
      ),
    ).resolves.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/ring buffer/) });
    for (const intervalSeconds of [0, 61, 1.5])
      await expect(
        caught(async () =>
          parseSessionRequest({ target: task, tool: 'tcpdump', follow: { intervalSeconds } }),
        ),
      ).resolves.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
