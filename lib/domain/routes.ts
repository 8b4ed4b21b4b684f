import { clusterNameOf } from './arn';

/**
 * The HTTP API's routes, in one table: the stack creates them (lib/infra/sessions-api.ts), the api,
 * plan and doctor functions dispatch on them (lib/api), the typed client builds its paths from them
 * (lib/client), and the README's IAM examples are tested against them (test/infra/iam-examples).
 *
 * The cluster (a name, never an ARN: ARNs hold `/` and `:`) and, to start a session, the tool are
 * in the path, so a plain `execute-api:Invoke` policy can say "tcpdump and ngrep on cluster prod,
 * nothing else": `arn:aws:execute-api:REGION:ACCOUNT:API/$default/POST/clusters/prod/tools/tcpdump/sessions`.
 * What IAM cannot see (services, tags, containers, limits) is the deployment policy's (lib/authz).
 */
export const ROUTES = {
  /** Start a session on a task or a service of the cluster, with that tool. */
  start: { method: 'POST', path: '/clusters/{cluster}/tools/{tool}/sessions', handler: 'api' },
  /** What the request would capture now (tasks, hosts, skipped); nothing is started. */
  preview: { method: 'POST', path: '/clusters/{cluster}/tools/{tool}/preview', handler: 'checks' },
  /** Every precondition of a session on a task, checked; nothing is started. */
  doctor: { method: 'POST', path: '/clusters/{cluster}/doctor', handler: 'doctor' },
  /**
   * The deployment itself (document, image, bucket, hosts, policy), checked; nothing is started.
   * Not under a cluster: it is about the whole deployment (`--cluster` goes in the body).
   */
  stackDoctor: { method: 'POST', path: '/doctor', handler: 'doctor' },
  /** The sessions of the cluster the caller may read, newest first. */
  listCluster: { method: 'GET', path: '/clusters/{cluster}/sessions', handler: 'api' },
  /** A session's (or one child's) status, result and download URLs. */
  get: { method: 'GET', path: '/clusters/{cluster}/sessions/{id}', handler: 'api' },
  /** --follow: a followed child's chunks after `?after=N`, each with a presigned GET (lib/api/chunks.ts). */
  chunks: { method: 'GET', path: '/clusters/{cluster}/sessions/{id}/chunks', handler: 'api' },
  /** Stop now and keep: the captures end early and are collected as at the end of their duration. */
  stop: { method: 'POST', path: '/clusters/{cluster}/sessions/{id}/stop', handler: 'api' },
  /** Cancel: stop and discard. */
  cancel: { method: 'DELETE', path: '/clusters/{cluster}/sessions/{id}', handler: 'api' },
  /** Upload again what a failed upload left on the hosts (`debug-task fetch`). */
  reupload: { method: 'POST', path: '/clusters/{cluster}/sessions/{id}/reupload', handler: 'api' },
  getReupload: {
    method: 'GET',
    path: '/clusters/{cluster}/sessions/{id}/reupload/{reuploadId}',
    handler: 'api',
  },
  /**
   * Every session the caller may read, across clusters; `?id=` answers one session's row (how the
   * client finds the cluster of a session id it did not start itself).
   */
  list: { method: 'GET', path: '/sessions', handler: 'api' },
} as const satisfies Record<string, RouteSpec>;

export interface RouteSpec {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  /**
   * Which function answers: `api` (sessions), `checks` (the plan function: resolves, starts
   * nothing) or `doctor` (the doctor function: checks, starts nothing).
   */
  handler: 'api' | 'checks' | 'doctor';
}

export type RouteName = keyof typeof ROUTES;

/** API Gateway's route key of a route: `POST /clusters/{cluster}/tools/{tool}/sessions`. */
export const routeKey = (name: RouteName): string => `${ROUTES[name].method} ${ROUTES[name].path}`;

/** The route a route key names, if it is one of ours. */
export function routeOf(key: string): RouteName | undefined {
  return (Object.keys(ROUTES) as RouteName[]).find((name) => routeKey(name) === key);
}

/**
 * A route's path with its parameters filled in, each percent-encoded (the cluster as a name). The
 * client's paths and the routes the stack creates cannot drift: both come from ROUTES.
 */
export function routePath(
  name: RouteName,
  params: Partial<Record<'cluster' | 'tool' | 'id' | 'reuploadId', string>>,
): string {
  return ROUTES[name].path.replace(/\{(\w+)\}/g, (_, key: string) => {
    const raw = params[key as keyof typeof params];
    if (raw === undefined || raw === '') throw new Error(`route ${name} needs {${key}}`);
    return encodeURIComponent(key === 'cluster' ? clusterNameOf(raw) : raw);
  });
}

/** The cluster a request names, as a name: `--cluster` (name or ARN), else the task ARN's, else ECS's `default`. */
export function clusterOfRequest(target: { cluster?: string; task?: string }): string {
  if (target.cluster) return clusterNameOf(target.cluster);
  const fromArn =
    target.task && /^arn:aws[a-z-]*:ecs:[^:]*:[0-9]*:task\/([^/]+)\/[^/]+$/.exec(target.task)?.[1];
  return fromArn || 'default';
}
