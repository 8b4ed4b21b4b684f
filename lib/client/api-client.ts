import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { DoctorReport, DoctorRequest, StackDoctorRequest } from '../domain/doctor';
import { DebugTaskError, errorFromBody, isErrorBody } from '../domain/errors';
import type { ChunkList } from '../domain/follow';
import { clusterOfRequest, routePath } from '../domain/routes';
import { parseChildId } from '../domain/session';
import type { SessionRequest } from '../domain/session-spec';
import type {
  ReuploadStarted,
  ReuploadView,
  SessionStatus,
  SessionSummary,
  SessionView,
  TargetsPreview,
} from '../domain/session';
import { chainCredentials } from './env-credentials';
import { httpRequest, isOk, readBody, type HttpResponse } from './http';

export type { SessionSummary };

/** Where a session's routes are: its cluster (name or ARN); found through the API when omitted. */
export interface SessionScope {
  cluster?: string;
}

/**
 * Typed client of the deployment API (HTTP API with IAM auth): what the CLI uses, and what a
 * deployment pipeline can import to start a capture around a rollout.
 *
 *   const client = new DebugTaskClient({ apiUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com' });
 *   const { sessionId } = await client.startSession({ target: { task: arn }, tool: 'tcpdump' });
 */
export interface DebugTaskClientOptions {
  /** Base URL of the HTTP API (the stack's ApiUrl output). */
  apiUrl: string;
  /** Region to sign for; default: taken from an execute-api URL, else AWS_REGION. */
  region?: string;
  /** Credentials; default: the standard provider chain (env, profile, SSO, instance role, ...). */
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Per-request timeout in ms. */
  timeoutMs?: number;
}

export class DebugTaskClient {
  private readonly base: URL;
  private readonly signer: SignatureV4;
  private readonly timeoutMs: number;
  /** Session id -> its cluster, for the sessions this client started or looked up. */
  private readonly clusters = new Map<string, string>();

  constructor(options: DebugTaskClientOptions) {
    this.base = new URL(options.apiUrl.endsWith('/') ? options.apiUrl : `${options.apiUrl}/`);
    const region = options.region ?? regionOfApiUrl(this.base) ?? process.env.AWS_REGION ?? 'us-east-1';
    this.signer = new SignatureV4({
      service: 'execute-api',
      region,
      sha256: Sha256,
      credentials: options.credentials ?? defaultCredentials(),
    });
    this.timeoutMs = options.timeoutMs ?? 15_000;
  }

  /** Base URL of the API, as requests are sent to it. */
  get apiUrl(): string {
    return this.base.href;
  }

  /**
   * Starts a session. Its route carries the cluster (the request's, or its task ARN's, or ECS's
   * `default`) and the tool, which is what the caller's IAM policy is written against.
   */
  async startSession(request: SessionRequest): Promise<{ sessionId: string; status: SessionStatus }> {
    const cluster = clusterOfRequest(request.target);
    const started = await this.request<{ sessionId: string; status: SessionStatus }>(
      'POST',
      routePath('start', { cluster, tool: request.tool }),
      request,
    );
    this.clusters.set(started.sessionId, cluster);
    return started;
  }

  /** What a target resolves to now (tasks, hosts, skipped); nothing is started. */
  previewTargets(request: SessionRequest): Promise<TargetsPreview> {
    return this.request(
      'POST',
      routePath('preview', { cluster: clusterOfRequest(request.target), tool: request.tool }),
      request,
    );
  }

  /**
   * A session's (or one child's) status, result and download URLs. `cluster` names its cluster;
   * without it the client asks the API which cluster the session is of (`GET /sessions?id=`).
   */
  async getSession(sessionId: string, options: SessionScope = {}): Promise<SessionView> {
    const cluster = await this.clusterOf(sessionId, options);
    return this.request('GET', routePath('get', { cluster, id: sessionId }));
  }

  /**
   * --follow: a followed session's (or child's) chunks after sequence `after` (all when absent), each
   * with a presigned GET of a minute, and the session's status (lib/domain/follow.ts).
   */
  async listChunks(sessionId: string, after?: number, options: SessionScope = {}): Promise<ChunkList> {
    const cluster = await this.clusterOf(sessionId, options);
    return this.request(
      'GET',
      routePath('chunks', { cluster, id: sessionId }),
      undefined,
      after === undefined ? {} : { after: String(after) },
    );
  }

  /** Ends the session's captures now and keeps them (the session then ends as at its duration). */
  async stopSession(
    sessionId: string,
    options: SessionScope = {},
  ): Promise<{ sessionId: string; status: string }> {
    const cluster = await this.clusterOf(sessionId, options);
    return this.request('POST', routePath('stop', { cluster, id: sessionId }));
  }

  async cancelSession(
    sessionId: string,
    options: SessionScope = {},
  ): Promise<{ sessionId: string; status: string }> {
    const cluster = await this.clusterOf(sessionId, options);
    return this.request('DELETE', routePath('cancel', { cluster, id: sessionId }));
  }

  /**
   * Uploads again the artifacts a failed upload left on the hosts (a session's, or one child's,
   * whose error is UPLOAD_FAILED): answers RUNNING with the re-upload to follow (`getReupload`), or
   * SUCCEEDED at once when they were already uploaded again.
   */
  async startReupload(
    sessionId: string,
    options: SessionScope = {},
  ): Promise<ReuploadStarted | ReuploadView> {
    const cluster = await this.clusterOf(sessionId, options);
    return this.request('POST', routePath('reupload', { cluster, id: sessionId }));
  }

  /** Where a re-upload stands; SUCCEEDED carries the result and download URLs, a failure throws. */
  async getReupload(
    sessionId: string,
    reuploadId: string,
    options: SessionScope = {},
  ): Promise<ReuploadView> {
    const cluster = await this.clusterOf(sessionId, options);
    return this.request('GET', routePath('getReupload', { cluster, id: sessionId, reuploadId }));
  }

  /** The sessions the caller may read (their own, and what the deployment's policy lets them read). */
  async listSessions(
    options: { active?: boolean; limit?: number; cluster?: string } = {},
  ): Promise<SessionSummary[]> {
    const query: Record<string, string> = {};
    if (options.active) query.active = 'true';
    if (options.limit) query.limit = String(options.limit);
    const path = options.cluster
      ? routePath('listCluster', { cluster: options.cluster })
      : routePath('list', {});
    const body = await this.request<{ sessions: SessionSummary[] }>('GET', path, undefined, query);
    return body.sessions;
  }

  /** Every precondition of a session on this target, checked by the API; nothing is started. */
  doctor(request: DoctorRequest): Promise<DoctorReport> {
    return this.request('POST', routePath('doctor', { cluster: clusterOfRequest(request.target) }), request);
  }

  /** The deployment itself (document, image, bucket, hosts, policy), checked by the API; nothing is started. */
  stackDoctor(request: StackDoctorRequest = {}): Promise<DoctorReport> {
    return this.request('POST', routePath('stackDoctor', {}), request);
  }

  /** Tells the client a session's cluster (`--cluster`), so it need not ask the API. */
  setSessionCluster(sessionId: string, cluster: string): void {
    this.clusters.set(parseChildId(sessionId)?.sessionId ?? sessionId, cluster);
  }

  /**
   * The cluster of a session: given, learned when this client started it, or asked of the API
   * (`GET /sessions?id=`, which answers only for a session the caller may read).
   */
  private async clusterOf(sessionId: string, options: SessionScope): Promise<string> {
    const parent = parseChildId(sessionId)?.sessionId ?? sessionId;
    const known = options.cluster ?? this.clusters.get(parent);
    if (known) return known;
    const body = await this.request<{ sessions: SessionSummary[] }>('GET', routePath('list', {}), undefined, {
      id: sessionId,
    });
    const cluster = body.sessions[0]?.cluster;
    if (!cluster) {
      throw new DebugTaskError('SESSION_NOT_FOUND', `There is no session ${sessionId} that you may read.`, {
        hint: '`debug-task list` shows the sessions you may read; pass --cluster if you know its cluster.',
      });
    }
    this.clusters.set(parent, cluster);
    return cluster;
  }

  private async request<T>(
    method: string,
    path: string,
    body?: unknown,
    query: Record<string, string> = {},
  ): Promise<T> {
    // Paths of ROUTES are absolute; the API may sit under a base path (a custom domain's mapping).
    const url = new URL(path.replace(/^\//, ''), this.base);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const signed = await this.signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: url.pathname,
      query,
      headers: {
        host: url.host,
        ...(payload !== undefined && { 'content-type': 'application/json' }),
      },
      body: payload,
    });
    let response: HttpResponse;
    let text: string;
    try {
      response = await httpRequest(url, {
        method,
        headers: signed.headers,
        ...(payload !== undefined && { body: payload }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = (await readBody(response)).toString('utf8');
    } catch (cause) {
      throw new DebugTaskError('AWS_ERROR', `Could not reach the debug-task API at ${this.base.origin}.`, {
        hint: 'Check the API URL (DEBUG_TASK_API_URL or the stack output ApiUrl) and your network.',
        cause,
      });
    }
    const parsed = parseJson(text);
    if (!isOk(response)) {
      const error = (parsed as { error?: unknown } | undefined)?.error;
      if (isErrorBody(error)) throw errorFromBody(error);
      throw new DebugTaskError('AWS_ERROR', `The API answered ${response.status}: ${text.slice(0, 200)}`, {
        hint:
          response.status === 403
            ? 'Your credentials may lack execute-api:Invoke on this API, or belong to another account/region.'
            : 'Run `debug-task doctor` to check the deployment.',
      });
    }
    return parsed as T;
  }
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** https://ID.execute-api.REGION.amazonaws.com -> REGION */
function regionOfApiUrl(url: URL): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(url.hostname)?.[1];
}

/**
 * The SDK's default chain, loaded only when a request is signed (keeps CLI start fast); its
 * failure is a typed AWS_ERROR. `debug-task doctor` resolves this same chain as its first check.
 */
export function defaultCredentials(): AwsCredentialIdentityProvider {
  return chainCredentials(
    undefined,
    (cause) =>
      new DebugTaskError('AWS_ERROR', 'No AWS credentials were found to sign the API request.', {
        hint: 'Configure credentials (aws configure, aws sso login, or AWS_PROFILE).',
        cause,
      }),
  );
}
