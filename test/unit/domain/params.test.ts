import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { DebugTaskError } from '../../../lib/domain/errors';
import {
  HOST_PARAMS,
  deploymentImagePattern,
  deploymentUrlPattern,
  hostParamRegExp,
  regexLiteral,
  isValidHostParam,
  presignedUrlFitting,
  type HostParam,
  type HostParamName,
} from '../../../lib/domain/params';

const NAMES = Object.keys(HOST_PARAMS) as HostParamName[];
const SHELL_ACTIVE_CHARS = ['$', '`', "'", '"', '\\', ';', '\n', '\r', String.fromCharCode(0)];
const hasShellActive = (value: string) => SHELL_ACTIVE_CHARS.some((ch) => value.includes(ch));

/** Values that must never pass any pattern: shell metacharacters in every position. */
const HOSTILE = [
  '$(touch /tmp/pwned)',
  '`touch /tmp/pwned`',
  "'; rm -rf / #",
  '"$HOME"',
  'a;b',
  'tcp\nport 80',
  'x\u0000y',
  '\\x41',
  '${IFS}',
];

describe('HOST_PARAMS patterns', () => {
  it('are anchored and use only constructs shared by ECMAScript, Java, RE2 and POSIX ERE', () => {
    for (const name of NAMES) {
      const param: HostParam = HOST_PARAMS[name];
      for (const pattern of [param.pattern, param.valuePattern ?? param.pattern]) {
        expect(pattern.startsWith('^') && pattern.endsWith('$')).toBe(true);
        expect(pattern).not.toMatch(/\\[dwsDWSbB]|\(\?|\\[1-9]/);
        expect(pattern).not.toContain("'");
      }
    }
  });

  // SSM requires every parameter without a default: the session's own parameters default to ''
  // and admit it, so cleanup and sweep can leave them out; a value given must still be a real one.
  it.each(NAMES.filter((name) => (HOST_PARAMS[name] as HostParam).valuePattern !== undefined))(
    '%s is optional for SSM (default and pattern admit ""), but a given value must match its value pattern',
    (name) => {
      const param: HostParam = HOST_PARAMS[name];
      expect(param.default).toBe('');
      expect(isValidHostParam(name, '')).toBe(true);
      expect(hostParamRegExp(name).test('')).toBe(false);
      expect(hostParamRegExp(name).source).toBe(param.valuePattern);
      fc.assert(
        fc.property(
          fc.string({ unit: fc.constantFrom(...'adt09-.:/@_fxA'.split('')), minLength: 1, maxLength: 70 }),
          (value) => {
            expect(isValidHostParam(name, value)).toBe(
              value.length <= param.maxChars && hostParamRegExp(name).test(value),
            );
          },
        ),
        { numRuns: 300 },
      );
    },
  );

  it('leaves only executionTimeout required by SSM: a sweep sends just the action and it', () => {
    const required = NAMES.filter((name) => !('default' in HOST_PARAMS[name]));
    expect(required).toEqual(['executionTimeout']);
    expect(isValidHostParam('action', 'sweep')).toBe(true);
  });

  it.each(NAMES)('%s rejects every hostile shell string', (name) => {
    for (const value of HOSTILE) expect(isValidHostParam(name, value)).toBe(false);
  });

  it('never accepts a value containing a shell-active character, whatever the parameter', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...NAMES),
        fc.string({ unit: 'grapheme-ascii', maxLength: 60 }),
        (name, value) => {
          if (hasShellActive(value)) expect(isValidHostParam(name, value)).toBe(false);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('mean the same to bash [[ =~ ]] (the runner’s check) as to JavaScript', () => {
    const samples: Array<[HostParamName, string]> = [];
    fc.assert(
      fc.property(
        fc.constantFrom(...NAMES),
        fc.string({
          unit: fc.constantFrom(...'abz09AZ .:/()!<>=&|*+[]-_@%?~$;`\'"'.split('')),
          maxLength: 24,
        }),
        (name, value) => {
          samples.push([name, value]);
        },
      ),
      { numRuns: 300 },
    );
    samples.push(
      ['sessionId', 'dt-20261125123456-a1b2c3'],
      ['containerId', 'a'.repeat(64)],
      ['filter', 'tcp[13] & 2 != 0 and port 80'],
      ['filter', 'a\\]b'],
      ['iface', ''],
    );
    // One bash process checks every sample; values arrive as arguments, never as code.
    const script = 'while [ $# -gt 0 ]; do if [[ $2 =~ $1 ]]; then echo 1; else echo 0; fi; shift 2; done';
    const args = samples.flatMap(([name, value]) => [HOST_PARAMS[name].pattern, value]);
    const bash = execFileSync('bash', ['-c', script, 'bash', ...args], { encoding: 'utf8' })
      .trim()
      .split('\n');
    const disagreements = samples.filter(
      ([name, value], i) => (new RegExp(HOST_PARAMS[name].pattern).test(value) ? '1' : '0') !== bash[i],
    );
    expect(disagreements).toEqual([]);
  });

  it('accept the values debug-task itself produces', () => {
    expect(isValidHostParam('sessionId', 'dt-20261125123456-a1b2c3')).toBe(true);
    expect(isValidHostParam('containerId', 'f'.repeat(64))).toBe(true);
    expect(isValidHostParam('filter', 'tcp port 443 and not (host 10.0.0.1 or port 22)')).toBe(true);
    expect(isValidHostParam('match', 'GET /api|POST')).toBe(true);
    expect(isValidHostParam('match', '^HTTP/1.[01] 5.. (Bad|Service)')).toBe(true);
    expect(isValidHostParam('syscalls', 'connect,sendto,%file,%%stat')).toBe(true);
    expect(isValidHostParam('pid', '4194304')).toBe(true);
    expect(
      isValidHostParam(
        'image',
        '123456789012.dkr.ecr.eu-west-1.amazonaws.com/toolbox@sha256:' + 'a'.repeat(64),
      ),
    ).toBe(true);
    expect(
      isValidHostParam(
        'uploadUrl',
        'https://bucket.s3.eu-west-1.amazonaws.com/sessions/dt-1/artifact.pcap.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20261125%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Signature=abc',
      ),
    ).toBe(true);
  });
});

describe('the tool arguments a tool could misread as options', () => {
  it.each(['match', 'syscalls', 'pid'] as const)('%s never admits a value that starts with "-"', (name) => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-ascii', maxLength: 40 }), (rest) => {
        expect(isValidHostParam(name, `-${rest}`)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe('patterns are safe to substitute as text, single-quoted (issue 17: agents without ENV_VAR)', () => {
  /** Every pattern params.ts makes: the runner's, and a deployment's narrowed ones. */
  const deployment = {
    image: deploymentImagePattern({
      repository: regexLiteral('123456789012.dkr.ecr.xx-test-1.amazonaws.com/toolbox'),
      digest: `sha256:${'ab'.repeat(32)}`,
    }),
    sandboxImage: deploymentImagePattern({ exactImage: regexLiteral('debug-task-toolbox:local') }),
    url: deploymentUrlPattern([`https://${regexLiteral('bucket.s3.xx-test-1.amazonaws.com')}/`]),
    sandboxUrl: deploymentUrlPattern([regexLiteral('http://127.0.0.1:4566/debug-task-sandbox/')]),
  };
  const PATTERNS: Array<[string, string]> = [
    ...NAMES.flatMap((name): Array<[string, string]> => {
      const param: HostParam = HOST_PARAMS[name];
      return [
        [name, param.pattern],
        ...(param.valuePattern ? [[`${name} (value)`, param.valuePattern] as [string, string]] : []),
      ];
    }),
    ...Object.entries(deployment),
  ];
  /** What would end the quoted word, escape, start a new line, or be substituted again. */
  const BREAKERS = ["'", '\\', '\n', '\r', '{{', '}}', '{', '}'];
  const unit = fc.constantFrom(
    ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .:/@_-=&%?+()[]!<>|*#,~'.split(''),
  );

  it.each(PATTERNS)(
    '%s matches no value that holds a quote, backslash, line break or brace',
    (_name, pattern) => {
      const re = new RegExp(pattern);
      fc.assert(
        fc.property(
          fc.string({ unit, maxLength: 60 }),
          fc.constantFrom(...BREAKERS),
          fc.string({ unit, maxLength: 60 }),
          (before, breaker, after) => {
            expect(re.test(before + breaker + after)).toBe(false);
          },
        ),
        { numRuns: 400 },
      );
      // Nor does the pattern itself admit them by construction: none is in any of its character sets.
      for (const breaker of ["'", '\\\\', '\\n', '\\r', '{', '}']) {
        expect(pattern.replace(/\{[0-9]+(,[0-9]*)?\}/g, '')).not.toContain(
          breaker === '\\\\' ? '\\\\\\\\' : breaker,
        );
      }
    },
  );

  it("a deployment's URL pattern admits only HTTPS to its own endpoint; the sandbox's only its loopback one", () => {
    const url = new RegExp(deployment.url);
    expect(url.test('https://bucket.s3.xx-test-1.amazonaws.com/sessions/k?X-Amz-Signature=ab')).toBe(true);
    expect(url.test('')).toBe(true);
    expect(url.test('http://bucket.s3.xx-test-1.amazonaws.com/sessions/k')).toBe(false);
    expect(url.test('https://other.s3.xx-test-1.amazonaws.com/sessions/k')).toBe(false);
    expect(url.test('https://bucketXs3.xx-test-1.amazonaws.com/k')).toBe(false);
    expect(url.test('https://bucket.s3.xx-test-1.amazonaws.com.evil.example/k')).toBe(false);
    const sandbox = new RegExp(deployment.sandboxUrl);
    expect(sandbox.test('http://127.0.0.1:4566/debug-task-sandbox/k?x=1')).toBe(true);
    expect(sandbox.test('http://127.0.0.1:4567/debug-task-sandbox/k')).toBe(false);
    expect(sandbox.test('https://bucket.s3.xx-test-1.amazonaws.com/k')).toBe(false);
  });

  it("a deployment's image pattern admits only its image by digest", () => {
    const image = new RegExp(deployment.image);
    const repo = '123456789012.dkr.ecr.xx-test-1.amazonaws.com/toolbox';
    expect(image.test(`${repo}@sha256:${'ab'.repeat(32)}`)).toBe(true);
    expect(image.test('')).toBe(true);
    expect(image.test(`${repo}:latest`)).toBe(false);
    expect(image.test(`${repo}@sha256:${'cd'.repeat(32)}`)).toBe(false);
    expect(image.test(`docker.io/library/busybox@sha256:${'ab'.repeat(32)}`)).toBe(false);
    expect(image.test(`123456789012XdkrXecr.xx-test-1.amazonaws.com/toolbox@sha256:${'ab'.repeat(32)}`)).toBe(
      false,
    );
  });
});

describe('presignedUrlFitting (a URL we presigned, checked against its parameter before SendCommand)', () => {
  const URL_BASE = 'https://bucket.s3.xx-test-1.amazonaws.com/sessions/dt-1/plan/0.tsv?X-Amz-Signature=';

  it('returns a URL that fits the parameter', () => {
    const url = `${URL_BASE}abc`;

    expect(presignedUrlFitting('planUrl', url, 'plan URL', 'BUCKET_NAME')).toBe(url);
  });

  it('throws AWS_ERROR naming the parameter, its limit, the length and host, never the URL itself', () => {
    const url = `${URL_BASE}${'a'.repeat(HOST_PARAMS.planUrl.maxChars)}`;

    let error: unknown;
    try {
      presignedUrlFitting('planUrl', url, 'plan URL', 'BUCKET_NAME and AWS_ENDPOINT_URL_S3');
    } catch (e) {
      error = e;
    }

    expect(error).toBeInstanceOf(DebugTaskError);
    const typed = error as DebugTaskError;
    expect(typed.code).toBe('AWS_ERROR');
    expect(typed.message).toBe(
      `The presigned plan URL (${url.length} characters) does not fit the planUrl parameter of the SSM document.`,
    );
    expect(typed.hint).toBe(
      `Check BUCKET_NAME and AWS_ENDPOINT_URL_S3; it may have at most ${HOST_PARAMS.planUrl.maxChars} characters.`,
    );
    expect(typed.details).toEqual({ length: url.length, host: 'bucket.s3.xx-test-1.amazonaws.com' });
    expect(JSON.stringify(typed.toJSON())).not.toContain('X-Amz-Signature');
  });
});
