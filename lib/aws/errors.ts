import { DebugTaskError } from '../domain/errors';

/**
 * Translation of SDK exceptions into our error vocabulary, at the boundary where a call is made.
 *
 * Every translated error names the call (`ecs:DescribeTasks failed: ThrottlingException: ...`),
 * keeps the SDK error as `cause` (logs show it; the caller only sees code, message and hint), and
 * carries a hint for the failures an operator can act on: permissions, throttling, a region that
 * does not match, an endpoint that cannot be reached.
 */

/** The parts of an SDK v3 exception (or a Node network error) we look at. */
export interface SdkErrorInfo {
  name: string;
  message: string;
  httpStatus?: number;
  requestId?: string;
  attempts?: number;
  throttling: boolean;
  networkCode?: string;
}

/** A call site's own mapping of specific SDK errors (e.g. ssm InvalidInstanceId) to our codes. */
export type ErrorOverride = (info: SdkErrorInfo) => DebugTaskError | undefined;

const ACCESS_DENIED = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnauthorizedOperation',
  'Forbidden',
]);
const BAD_CREDENTIALS = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidAccessKeyId',
  'ExpiredToken',
  'ExpiredTokenException',
  'SignatureDoesNotMatch',
  'InvalidSignatureException',
]);
const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'SlowDown',
]);
const NETWORK = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);

/** Runs one SDK call; any failure comes out as a DebugTaskError that names the call. */
export async function awsCall<T>(call: string, send: () => Promise<T>, override?: ErrorOverride): Promise<T> {
  try {
    return await send();
  } catch (error) {
    throw translateAwsError(call, error, override);
  }
}

export function sdkErrorInfo(error: unknown): SdkErrorInfo {
  const e = (error ?? {}) as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    $metadata?: { httpStatusCode?: number; requestId?: string; attempts?: number };
    $retryable?: { throttling?: boolean };
  };
  const name = typeof e.name === 'string' && e.name !== '' ? e.name : 'Error';
  const code = typeof e.code === 'string' ? e.code : undefined;
  return {
    name,
    message: typeof e.message === 'string' ? e.message : String(error),
    httpStatus: e.$metadata?.httpStatusCode,
    requestId: e.$metadata?.requestId,
    attempts: e.$metadata?.attempts,
    throttling:
      THROTTLING.has(name) || e.$retryable?.throttling === true || e.$metadata?.httpStatusCode === 429,
    networkCode: code && NETWORK.has(code) ? code : undefined,
  };
}

/** True for S3's HeadObject "no such key" (the SDK names it NotFound; the status is what is reliable). */
export function isNotFound(error: unknown): boolean {
  const info = sdkErrorInfo(error);
  return info.name === 'NotFound' || info.name === 'NoSuchKey' || info.httpStatus === 404;
}

export function translateAwsError(call: string, error: unknown, override?: ErrorOverride): DebugTaskError {
  if (error instanceof DebugTaskError) return error;
  const info = sdkErrorInfo(error);
  const specific = override?.(info);
  if (specific) return specific;
  const shown = info.message.length > 300 ? `${info.message.slice(0, 300)}…` : info.message;
  return new DebugTaskError('AWS_ERROR', `${call} failed: ${info.name}: ${shown}`, {
    hint: hintFor(call, info),
    cause: error,
    details: {
      call,
      awsError: info.name,
      ...(info.httpStatus !== undefined && { httpStatus: info.httpStatus }),
      ...(info.requestId && { requestId: info.requestId }),
    },
  });
}

function hintFor(call: string, info: SdkErrorInfo): string | undefined {
  const service = call.split(':')[0];
  const region = process.env.AWS_REGION ?? '(unset)';
  if (info.throttling) {
    const attempts = info.attempts ? ` after ${info.attempts} attempts` : '';
    return (
      `AWS throttled ${call}${attempts}. Wait a few seconds and try again; sessions started together ` +
      `share the account's ${service} request rate in ${region}.`
    );
  }
  if (ACCESS_DENIED.has(info.name) || (info.httpStatus === 403 && !BAD_CREDENTIALS.has(info.name))) {
    return (
      `The function's role may not call ${call} on this resource. Check its IAM policy in the deployed ` +
      `stack (clusters, document, bucket and KMS key it was granted), and any SCP or permission boundary.`
    );
  }
  if (BAD_CREDENTIALS.has(info.name)) {
    return `The credentials used for ${call} are invalid or expired: check the function's role (or your AWS profile).`;
  }
  if (isRegionMismatch(info)) {
    return (
      `The resource is in another region than ${region}: debug-task must be deployed in the region of ` +
      `the task (or AWS_REGION set to it).`
    );
  }
  if (info.networkCode || info.name === 'TimeoutError') {
    return (
      `Could not reach the ${service} endpoint for region ${region} (${info.networkCode ?? info.name}): check ` +
      `AWS_REGION and AWS_ENDPOINT_URL_${service.toUpperCase()}, and the function's route to AWS (NAT or VPC endpoints).`
    );
  }
  return undefined;
}

// ECS: "Identifier is for us-west-2. Your region is eu-west-1"; S3: PermanentRedirect (301) or
// AuthorizationHeaderMalformed "the region 'us-east-1' is wrong; expecting 'eu-west-1'".
function isRegionMismatch(info: SdkErrorInfo): boolean {
  if (info.name === 'PermanentRedirect' || info.httpStatus === 301) return true;
  return (
    /region/i.test(info.message) && /InvalidParameter|AuthorizationHeaderMalformed|Redirect/.test(info.name)
  );
}
