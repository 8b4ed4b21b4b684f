import { DebugTaskError } from './errors';

/**
 * The upload role: who signs the host's presigned PUT, for how long, and what it may write.
 *
 * A presigned URL acts with its signer's credentials and dies with them (DESIGN.md section 6), so
 * Launch does not sign with the function's own credentials (remaining lifetime unknown, rights on
 * all of sessions/*). It assumes the stack's upload role once per session, for the session's
 * length, with a session policy that narrows it to the one artifact key, and signs with that.
 * Shared by the stack (the role's MaxSessionDuration) and Launch (the AssumeRole parameters).
 */

/** The presigned URL outlives the session: an image pull can delay the start of the capture. */
export const URL_EXTRA_SECONDS = 900;

/** Shortest session STS issues (AssumeRole's DurationSeconds minimum). */
export const MIN_ROLE_SESSION_SECONDS = 900;

/**
 * Longest session Launch asks for. Launch calls AssumeRole with the Lambda execution role's own
 * temporary credentials: that is role chaining, which STS caps at one hour whatever the role's
 * MaxSessionDuration ("if you assume a role using role chaining and provide a DurationSeconds
 * parameter value greater than one hour, the operation fails", AssumeRole API reference). The stack
 * gives the role at least this much (`uploadRoleMaxSessionSeconds`), so it is also within the role's
 * maximum.
 */
export const ROLE_CHAINING_MAX_SECONDS = 3600;

/** IAM's bounds of a role's MaxSessionDuration: 1 to 12 hours. */
export const ROLE_MAX_SESSION_BOUNDS = { min: 3600, max: 43_200 } as const;

/**
 * The upload role's MaxSessionDuration: the longest session a deployment can run
 * (maxDurationSeconds + graceSeconds + URL_EXTRA_SECONDS), within IAM's 1 to 12 hours.
 */
export function uploadRoleMaxSessionSeconds(maxDurationSeconds: number, graceSeconds: number): number {
  const longest = maxDurationSeconds + graceSeconds + URL_EXTRA_SECONDS;
  return Math.min(ROLE_MAX_SESSION_BOUNDS.max, Math.max(ROLE_MAX_SESSION_BOUNDS.min, longest));
}

/**
 * AssumeRole's DurationSeconds for a session of `durationSeconds + graceSeconds`: the URL's own
 * lifetime (+ URL_EXTRA_SECONDS), at least STS's 15 minutes, at most the role-chaining hour.
 */
export function uploadSessionSeconds(durationSeconds: number, graceSeconds: number): number {
  const wanted = Math.max(MIN_ROLE_SESSION_SECONDS, durationSeconds + graceSeconds + URL_EXTRA_SECONDS);
  return Math.min(ROLE_CHAINING_MAX_SECONDS, wanted);
}

/** STS's rule for RoleSessionName: 2 to 64 of `[\w+=,.@-]`. */
const ROLE_SESSION_NAME = /^[A-Za-z0-9_+=,.@-]{2,64}$/;

/** The session id names the role session, so CloudTrail ties the upload to the session. */
export function roleSessionName(sessionId: string): string {
  if (!ROLE_SESSION_NAME.test(sessionId)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `The session id ${JSON.stringify(sessionId.slice(0, 80))} cannot name an STS role session (2 to 64 of A-Z a-z 0-9 _+=,.@-).`,
      { details: { field: 'sessionId' } },
    );
  }
  return sessionId;
}

/** `arn:<partition>:iam::<account>:role/<path/name>` */
const ROLE_ARN = /^arn:(aws[a-z-]*):iam::[0-9]{12}:role\/[A-Za-z0-9_+=,.@/-]{1,512}$/;

/** The partition of the upload role's ARN (the bucket's too: one stack, one partition). */
export function partitionOfRoleArn(roleArn: string, variable = 'UPLOAD_ROLE_ARN'): string {
  const partition = ROLE_ARN.exec(roleArn)?.[1];
  if (!partition) {
    throw new DebugTaskError(
      'AWS_ERROR',
      `The environment variable ${variable}="${roleArn.slice(0, 200)}" is not an IAM role ARN.`,
      { hint: `Set ${variable} to the ARN of the stack's upload role (the stack sets it for launch).` },
    );
  }
  return partition;
}

/** AssumeRole's limit on a session policy (plain text, before AWS packs it). */
export const SESSION_POLICY_MAX_CHARS = 2048;

/**
 * The session policy of the uploads signed for one batch of a session: s3:PutObject on exactly the
 * objects its children write (`<prefix>*` each: the artifact and the manifest). The effective
 * permissions of the session are the intersection of this and the role's own policy (PutObject on
 * sessions/*), so a URL signed with it can write those children's objects and nothing else.
 * Session ids never hold `*` or `?`, which IAM would read as wildcards. When the list would not fit
 * AssumeRole's 2,048 characters (a batch of many children), `fallback` (the session's children/
 * prefix) is used instead.
 *
 * With `keyArn` (the bucket's KMS key, ARTIFACT_KEY_ARN), a second statement allows
 * kms:GenerateDataKey on that key: S3 asks for a data key with the signer's rights when it encrypts
 * the upload under the bucket's default SSE-KMS, and a session policy limits what the key policy
 * grants the role as much as what IAM does. Only GenerateDataKey: a single PUT never decrypts.
 */
export function uploadSessionPolicy(
  partition: string,
  bucket: string,
  keys: readonly string[],
  fallback: string,
  keyArn?: string,
): string {
  const policy = (resources: readonly string[]) =>
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 's3:PutObject',
          Resource: resources.length === 1 ? resources[0] : resources,
        },
        ...(keyArn ? [{ Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: keyArn }] : []),
      ],
    });
  const arn = (key: string) => `arn:${partition}:s3:::${bucket}/${key}`;
  const exact = policy(keys.map(arn));
  return exact.length <= SESSION_POLICY_MAX_CHARS ? exact : policy([arn(fallback)]);
}
