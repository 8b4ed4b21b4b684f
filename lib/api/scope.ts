import { clusterNameOf } from '../domain/arn';
import { DebugTaskError } from '../domain/errors';
import { isPlainObject } from '../domain/plain-object';
import type { HttpEvent } from './http';

/**
 * The cluster (and tool) a route's path names are what IAM allowed: the request body may repeat
 * them, never contradict them. The body gets the path's values, so everything after this (the
 * schema, the resolver, the policy) sees one cluster and one tool: the ones IAM checked. A task
 * ARN naming another cluster is then refused by parseTaskRef, and DescribeTasks looks in this
 * cluster only.
 */
export function scopedBody(event: HttpEvent, body: unknown, scope: { tool?: boolean } = {}): unknown {
  const cluster = pathParam(event, 'cluster');
  const fields = isPlainObject(body) ? { ...body } : {};
  const target = isPlainObject(fields.target) ? { ...fields.target } : {};
  if (
    typeof target.cluster === 'string' &&
    target.cluster !== '' &&
    clusterNameOf(target.cluster) !== cluster
  ) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `The request names cluster ${JSON.stringify(clusterNameOf(target.cluster).slice(0, 120))} but its route is for cluster "${cluster}".`,
      { hint: 'Send it to /clusters/<its cluster>/... (the debug-task client and CLI do).' },
    );
  }
  target.cluster = cluster;
  fields.target = target;
  if (scope.tool) {
    const tool = pathParam(event, 'tool');
    if (fields.tool !== undefined && fields.tool !== tool) {
      throw new DebugTaskError(
        'INVALID_ARGUMENT',
        `The request names tool ${shown(fields.tool)} but its route is for tool ${JSON.stringify(tool.slice(0, 40))}.`,
        { hint: 'Send it to /clusters/<cluster>/tools/<its tool>/... (the debug-task client and CLI do).' },
      );
    }
    fields.tool = tool;
  }
  return fields;
}

/** ECS cluster names: what a route's {cluster} may be (the client sends names, never ARNs). */
const CLUSTER_NAME = /^[A-Za-z0-9_-]{1,255}$/;

/**
 * A path parameter API Gateway matched (decoded); a route without it is a deployment bug. A
 * {cluster} that is not a cluster name is refused here, before any call.
 */
export function pathParam(event: HttpEvent, name: string): string {
  const value = event.pathParameters?.[name];
  if (!value) throw new DebugTaskError('INVALID_ARGUMENT', `The request has no {${name}} in its path.`);
  if (name === 'cluster' && !CLUSTER_NAME.test(value)) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `${JSON.stringify(value.slice(0, 60))} is not an ECS cluster name.`,
      {
        hint: 'Cluster names are letters, digits, - and _ (1 to 255).',
      },
    );
  }
  return value;
}

/** A value from a request body, shown safely whatever it is (an object's toString may be anything). */
function shown(value: unknown): string {
  return typeof value === 'string'
    ? JSON.stringify(value.slice(0, 40))
    : `a ${value === null ? 'null' : typeof value}`;
}
