import { DebugTaskError } from './errors';
import { FOLLOW_SECONDS } from './follow';

/**
 * The one definition of every value that crosses from a user to a host.
 *
 * Each pattern here is used three times, so the three cannot drift apart:
 *  - by the API and the CLI (zod schemas in `session-spec.ts`),
 *  - by the SSM command document (`allowedPattern`, checked by SSM's API in Java and again by the
 *    agent in Go before the script starts),
 *  - by the host runner itself (bash `[[ =~ ]]`, in case it is run some other way).
 * So every pattern must mean the same in ECMAScript, Java, Go RE2 and POSIX ERE: anchored,
 * no look-arounds, no back-references, no `\d`/`\w` shorthands, and no character that a shell
 * would act on when a value is interpolated unquoted by mistake (`$`, backtick, quotes, `;`,
 * newline, backslash). The runner quotes everything anyway; the patterns are the second wall.
 */

export interface HostParam {
  /** Anchored regular expression, valid in ECMAScript, Java, RE2 and POSIX ERE. */
  readonly pattern: string;
  /** What a human should put here; shown in SSM and in error messages. */
  readonly description: string;
  /** Upper bound on length, for SSM's `maxChars` too. */
  readonly maxChars: number;
  /** Value the host runner uses when the parameter is empty or absent. */
  readonly default?: string;
  /**
   * What a value must look like when one is given, for parameters whose `pattern` also admits ''
   * only because some actions need no value (see `neededBySomeActions`). `hostParamRegExp` uses
   * it, so the API and the CLI still refuse an empty session id.
   */
  readonly valuePattern?: string;
}

/**
 * For the parameters only some actions need. SSM requires every parameter without a default, so
 * these get `default: ''` and a pattern that also admits '' (`^(...)?$` means the same in all four
 * dialects); the runner requires them itself where its action needs them (run: all of them;
 * cleanup: sessionId; sweep: none).
 */
function neededBySomeActions(valuePattern: string) {
  return { pattern: `^(${valuePattern.slice(1, -1)})?$`, valuePattern, default: '' } as const;
}

/**
 * Session ids as debug-task makes them (newSessionId in session.ts): dt-<time>-<random>; a fleet's
 * child (one task of a service-wide session) adds -<4 digits> (childSessionId in fleet.ts).
 */
const SESSION_ID_PATTERN = '^dt-[a-z0-9]{8,20}-[a-z0-9]{4,12}(-[0-9]{4})?$';

/**
 * Characters a BPF expression needs; `$`, quotes, backtick, `;`, `\` and newlines are not among them.
 * `[` and `]` (as in `tcp[13] & 2 != 0`) stand outside the bracket expression: inside one, POSIX
 * ERE reads `\]` as a backslash followed by the end of the bracket, unlike the other dialects.
 * Lengths are left to `maxChars` rather than `{0,N}`: RE2 caps counted repetition at 1000 and
 * glibc's ERE compiles large counts slowly.
 */
const BPF_PATTERN = '^([A-Za-z0-9 .:/()!<>=&|*+-]|\\[|\\])*$';

/** Characters of a presigned URL's path and query (S3 keys we make, SigV4 query strings). */
const URL_TAIL = '[A-Za-z0-9._~%/?&=+-]*';

/**
 * The shape of every URL parameter as the runner checks it: any host. The runner is one file for
 * every deployment (the document names its sha256), so it cannot know a deployment's bucket: the
 * document's `allowedPattern` (deploymentUrlPattern), which SSM checks before the runner starts, is
 * the fence that admits only this deployment's endpoints.
 */
const ANY_URL_PATTERN = `^(https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/${URL_TAIL})?$`;

/** A literal string as a regular expression that matches only it (the same in the four dialects). */
export function regexLiteral(text: string): string {
  return text.replace(/[.^$|?*+()[\]{}\\]/g, (ch) => `\\${ch}`);
}

/**
 * A URL parameter's `allowedPattern` in a deployment's document: '' or a URL that starts with one of
 * `prefixes`, each already a regular expression (e.g. `https://bucket\.s3\.region\.amazonaws\.com/`,
 * built with regexLiteral, or with CloudFormation functions where the bucket's name is only known at
 * deploy time), followed by what a presigned URL's path and query hold.
 */
export function deploymentUrlPattern(prefixes: readonly string[]): string {
  if (prefixes.length === 0) throw new Error('deploymentUrlPattern needs at least one endpoint.');
  return `^((${prefixes.join('|')})${URL_TAIL})?$`;
}

/**
 * The `image` parameter's `allowedPattern` in a deployment's document: '' (cleanup and sweep send
 * none) or exactly the deployment's toolbox image: `repository` (a regular expression, see
 * deploymentUrlPattern) at `digest` (`sha256:<64 hex>`). Only the local sandbox, whose image is
 * built on the machine and has no registry digest, gives a whole reference (`exactImage`) instead.
 */
export function deploymentImagePattern(
  image: { repository: string; digest: string } | { exactImage: string },
): string {
  const reference = 'exactImage' in image ? image.exactImage : `${image.repository}@${image.digest}`;
  return `^(${reference})?$`;
}

/**
 * snaplen: bytes kept of each packet, 0 (the whole packet) to tcpdump's own maximum, which is also
 * the default. The API's schema, the CLI's --snaplen and the SSM pattern below all read it here.
 */
export const SNAPLEN = { min: 0, max: 262144 } as const;

/** A ring buffer's smallest size in bytes: tcpdump rotates files of whole megabytes (-C). */
export const MIN_RING_BYTES = 1_000_000;

export const HOST_PARAMS = {
  sessionId: {
    ...neededBySomeActions(SESSION_ID_PATTERN),
    description:
      'Session id made by debug-task (dt-<time>-<random>; a plan child adds -NNNN); names the toolbox container and S3 keys. Required by run, cleanup, plan and reupload.',
    maxChars: 45,
  },
  containerId: {
    ...neededBySomeActions('^[a-f0-9]{12,64}$'),
    description:
      "The target container's Docker id (ECS runtimeId), 12 to 64 hex characters. Required by run.",
    maxChars: 64,
  },
  action: {
    pattern: '^(run|cleanup|sweep|plan|reupload|stop)$',
    description:
      "plan: run this host's share of a session's plan (planUrl), one capture per line; run: one capture (a plan's child, or debug-task local); cleanup: remove whatever is left of a session and its children (container, watchdog, work dir); stop: end the captures of a session and its children now and keep them (each is uploaded as at the end of its duration); reupload: re-upload the artifacts kept after failed uploads (planUrl; one child: uploadUrl); sweep: remove every expired session of the host.",
    maxChars: 8,
    default: 'run',
  },
  tool: {
    // The catalog's names (tools.test.ts checks them), or '': written out, not `^((...))?$`.
    pattern: '^(tcpdump|ngrep|strace|snapshot)?$',
    valuePattern: '^(tcpdump|ngrep|strace|snapshot)$',
    description: 'Which tool of the catalog runs in the toolbox container. Required by run.',
    maxChars: 16,
    default: '',
  },
  durationSeconds: {
    ...neededBySomeActions('^[1-9][0-9]{0,4}$'),
    description:
      'Capture duration in whole seconds; the tool is stopped with SIGINT when it ends. Required by run.',
    maxChars: 5,
  },
  maxBytes: {
    ...neededBySomeActions('^[1-9][0-9]{0,11}$'),
    description:
      'Largest artifact in bytes, before compression; the runner stops the tool there. Required by run.',
    maxChars: 12,
  },
  filter: {
    pattern: BPF_PATTERN,
    description: "A pcap-filter (BPF) expression such as 'tcp port 443'; empty captures everything.",
    maxChars: 1024,
    default: '',
  },
  iface: {
    pattern: '^([A-Za-z0-9_.@-]{1,15})?$',
    description:
      "Interface inside the task's network namespace; empty picks the task's own (first non-loopback).",
    maxChars: 15,
    default: '',
  },
  match: {
    // ngrep's match expression (a POSIX extended regex of payload text), one argv word after `--`.
    // What a regex of request lines and headers needs (`GET /api`, `Host: x`, `HTTP/1.[01] 5..`,
    // `token=|auth`): letters, digits, space and `. _ : / @ % , = + * ? | ( ) [ ] ^ -`; never a
    // quote, backslash, `$`, `;`, `&`, `<`, `>`, `!`, `#`, `~`, braces or a line break, and never a
    // leading '-' or space (ngrep would take a leading '-' for an option).
    // `[` and `]` stand outside the bracket expressions, as in BPF_PATTERN.
    pattern: '^(([A-Za-z0-9_.:/@%,=+*?|()^]|\\[|\\])([A-Za-z0-9 _.:/@%,=+*?|()^-]|\\[|\\])*)?$',
    description:
      "ngrep only: the match expression (a regular expression over the payload), e.g. 'GET /api|POST'; empty matches every packet the filter lets through.",
    maxChars: 256,
    default: '',
  },
  syscalls: {
    // strace's -e trace=LIST: syscall names and %classes (%network, %file, %%stat), comma-separated.
    pattern: '^([a-z0-9_%]+(,[a-z0-9_%]+)*)?$',
    description:
      "strace only: the system calls to trace (strace -e trace=LIST), names and %classes separated by commas, e.g. 'connect,sendto,%file'; empty traces every call.",
    maxChars: 512,
    default: '',
  },
  pid: {
    // A process of the target's pid namespace, as that namespace numbers it (ps in the task shows it).
    pattern: '^([1-9][0-9]{0,6})?$',
    description:
      "strace only: the process to trace, by its pid inside the task's pid namespace; empty traces pid 1, the container's main process.",
    maxChars: 7,
    default: '',
  },
  snaplen: {
    pattern: '^[0-9]{1,6}$',
    description: 'Bytes kept of each packet (0 = whole packet).',
    maxChars: 6,
    default: String(SNAPLEN.max),
  },
  ringSeconds: {
    // tcpdump only: keep the most recent window of this many seconds (the ring buffer); empty: no ring.
    ...neededBySomeActions('^[1-9][0-9]{0,4}$'),
    description:
      'tcpdump only: a ring buffer of the most recent N seconds (the capture runs until it is stopped or its duration ends and keeps only that last window); empty: the whole capture.',
    maxChars: 5,
  },
  ringBytes: {
    // tcpdump only: keep the most recent window of this many bytes (whole packets); empty: no ring.
    ...neededBySomeActions('^[1-9][0-9]{6,11}$'),
    description:
      'tcpdump only: a ring buffer of the most recent N bytes (at least 1000000: the ring rotates files of whole megabytes; whole packets, oldest dropped first); empty: the whole capture.',
    maxChars: 12,
  },
  image: {
    ...neededBySomeActions('^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$'),
    description:
      'Toolbox image reference; production pins it by digest (repo@sha256:...). Required by run; an ECR image missing on the host is pulled with the instance role.',
    maxChars: 255,
  },
  uploadUrl: {
    // A presigned S3 PUT URL; empty means "keep the artifact on the host" (debug-task local).
    pattern: ANY_URL_PATTERN,
    description: 'Presigned S3 PUT URL for the artifact; empty keeps it on the host.',
    maxChars: 4300,
    default: '',
  },
  manifestUrl: {
    // A presigned S3 PUT URL for the run's manifest (JSON), put after the artifact; same shape as uploadUrl.
    pattern: ANY_URL_PATTERN,
    description: "Presigned S3 PUT URL for the run's manifest, put after the artifact; empty puts none.",
    maxChars: 4300,
    default: '',
  },
  chunkUrl: {
    // --follow: a presigned POST of the child's chunks as one URL (lib/domain/follow.ts,
    // encodeChunkForm): the bucket's endpoint, the form's fields percent-encoded in its query. Same
    // shape as uploadUrl, longer (the policy and the session token are both in it). Empty: no follow.
    pattern: ANY_URL_PATTERN,
    description: '--follow: presigned POST of the chunks, fields in the query; empty: none.',
    maxChars: 12000,
    default: '',
  },
  followSeconds: {
    // --follow's chunk interval, 1 to 60 s (lib/domain/follow.ts, FOLLOW_SECONDS).
    pattern: '^([1-9]|[1-5][0-9]|60)$',
    description: '--follow: seconds between chunks.',
    maxChars: 2,
    default: String(FOLLOW_SECONDS.default),
  },
  planUrl: {
    // A presigned S3 GET URL of a session's plan (lib/domain/host-plan.ts); same shape as uploadUrl.
    pattern: ANY_URL_PATTERN,
    description:
      "Presigned S3 GET URL of a session's plan (one line per target). Required by plan and by a session's reupload.",
    maxChars: 4300,
    default: '',
  },
  runnerUrl: {
    // A presigned S3 GET URL of the runner file, made per SendCommand; read by the document's
    // bootstrap only (the runner itself never uses it).
    pattern: ANY_URL_PATTERN,
    description:
      'Presigned S3 GET URL of the runner file whose sha256 the document names; fetched once per host and cached by that hash.',
    maxChars: 4300,
    default: '',
  },
  startAt: {
    ...neededBySomeActions('^[0-9]{10}$'),
    description:
      'Unix time at which the tool starts (a plan starts every capture at once); empty starts at once.',
    maxChars: 10,
  },
  allowHostNetwork: {
    pattern: '^(true|false)$',
    description:
      "true lets a session run next to a container in the host's network mode (the capture then sees the host's traffic); otherwise such a target is refused.",
    maxChars: 5,
    default: 'false',
  },
  allowHostPid: {
    pattern: '^(true|false)$',
    description:
      "true lets a session run next to a container in the host's pid namespace (the toolbox then sees every process of the host); otherwise such a target is refused.",
    maxChars: 5,
    default: 'false',
  },
  expiresAt: {
    ...neededBySomeActions('^[0-9]{10}$'),
    description:
      'Unix time after which any container of this session is removed by the watchdog and the sweeper. Required by run.',
    maxChars: 10,
  },
  cpus: {
    pattern: '^[0-9]{1,2}(\\.[0-9]{1,2})?$',
    description: 'CPU limit of the toolbox container (docker --cpus).',
    maxChars: 5,
    default: '0.5',
  },
  memoryMb: {
    pattern: '^[1-9][0-9]{1,5}$',
    description: 'Memory limit of the toolbox container in MiB.',
    maxChars: 6,
    default: '256',
  },
  pidsLimit: {
    pattern: '^[1-9][0-9]{0,4}$',
    description: 'Process limit of the toolbox container.',
    maxChars: 5,
    default: '64',
  },
  maxSessions: {
    pattern: '^[1-9][0-9]?$',
    description: 'Most debug sessions one host runs at once; the next one is refused with HOST_BUSY.',
    maxChars: 2,
    default: '2',
  },
  caller: {
    // An IAM ARN (arn:aws:sts::123456789012:assumed-role/oncall/alice): IAM names use [\w+=,.@-].
    pattern: '^[A-Za-z0-9:/_+=,.@-]*$',
    description:
      'Who asked for the session (IAM ARN), for audit: label debug-task.caller on the toolbox container.',
    maxChars: 256,
    default: '',
  },
  reason: {
    pattern: '^[A-Za-z0-9 ._:/#@,+=()-]*$',
    description:
      'Why the session was asked for (free text, no quotes), for audit: label debug-task.reason on the toolbox container.',
    maxChars: 200,
    default: '',
  },
  executionTimeout: {
    pattern: '^[1-9][0-9]{1,4}$',
    description: 'SSM execution timeout in seconds (duration + grace); the third time box.',
    maxChars: 5,
  },
} as const satisfies Record<string, HostParam>;

export type HostParamName = keyof typeof HOST_PARAMS;

/** The values one runner invocation receives, all as strings (SSM parameters are strings). */
export type HostParamValues = Partial<Record<HostParamName, string>>;

/** Compiled once: ECMAScript reading of the shared pattern. */
const compiled = Object.fromEntries(
  Object.entries(HOST_PARAMS).map(([name, def]) => [name, new RegExp(def.pattern)]),
) as Record<HostParamName, RegExp>;

/** Compiled once: what a given value must match (`valuePattern`, else `pattern`). */
const compiledValues = Object.fromEntries(
  Object.entries(HOST_PARAMS).map(([name, def]) => [
    name,
    new RegExp((def as HostParam).valuePattern ?? def.pattern),
  ]),
) as Record<HostParamName, RegExp>;

/**
 * What a value given for the parameter must match: the API and the CLI validate user input with
 * it. Stricter than the SSM pattern for parameters only some actions need: it refuses ''.
 */
export function hostParamRegExp(name: HostParamName): RegExp {
  return compiledValues[name];
}

/**
 * True when SSM (and the runner's own check) accepts `value` for the parameter: length and
 * `pattern`, which admits '' where the parameter has that default.
 */
export function isValidHostParam(name: HostParamName, value: string): boolean {
  return value.length <= HOST_PARAMS[name].maxChars && compiled[name].test(value);
}

/**
 * `url`, a URL we presigned for the host parameter `name`, when it fits it. Checked before the
 * command is sent: the SSM document would refuse it anyway, with a less helpful message. Too long
 * or not this deployment's shape is our configuration's fault (AWS_ERROR), never the user's;
 * `check` names what to check (e.g. `BUCKET_NAME and AWS_ENDPOINT_URL_S3`). The URL itself is not
 * shown (it is a credential), only its length and host.
 */
export function presignedUrlFitting(name: HostParamName, url: string, what: string, check: string): string {
  if (isValidHostParam(name, url)) return url;
  let host: string | undefined;
  try {
    host = new URL(url).host;
  } catch {
    host = undefined;
  }
  throw new DebugTaskError(
    'AWS_ERROR',
    `The presigned ${what} (${url.length} characters) does not fit the ${name} parameter of the SSM document.`,
    {
      hint: `Check ${check}; it may have at most ${HOST_PARAMS[name].maxChars} characters.`,
      details: { length: url.length, host },
    },
  );
}

/** Throws INVALID_ARGUMENT naming the first value that SSM's allowedPattern/maxChars would refuse. */
export function assertValidHostParams(values: HostParamValues): void {
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (!(name in HOST_PARAMS)) {
      throw new DebugTaskError('INVALID_ARGUMENT', `There is no host parameter "${name}".`, {
        details: { parameter: name },
      });
    }
    const param = name as HostParamName;
    if (!isValidHostParam(param, value)) {
      const shown = /Url$/.test(param) ? '(a presigned URL, not shown)' : JSON.stringify(value.slice(0, 120));
      throw new DebugTaskError(
        'INVALID_ARGUMENT',
        `Host parameter ${param} is invalid: received ${shown}, expected ${HOST_PARAMS[param].pattern} (at most ${HOST_PARAMS[param].maxChars} characters).`,
        { hint: HOST_PARAMS[param].description, details: { parameter: param } },
      );
    }
  }
}

/**
 * SendCommand's `Parameters`, every value checked first. An empty value of a parameter that has a
 * default is left out: SSM applies the document's default, and some SSM clients refuse empty strings.
 */
export function commandParameters(values: HostParamValues): Record<string, string[]> {
  assertValidHostParams(values);
  const parameters: Record<string, string[]> = {};
  for (const name of Object.keys(HOST_PARAMS) as HostParamName[]) {
    const value = values[name];
    if (value === undefined) continue;
    if (value === '' && 'default' in HOST_PARAMS[name]) continue;
    parameters[name] = [value];
  }
  return parameters;
}
