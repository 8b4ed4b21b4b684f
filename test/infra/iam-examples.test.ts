import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROUTES, routeKey, type RouteName } from '../../lib/domain/routes';
import { PROJECT_ROOT } from '../../lib/infra/paths';

/**
 * The README's example IAM policies (examples/iam/*.json) against the API's routes: IAM matches a
 * request's `execute-api` ARN (`API/STAGE/METHOD/path`) with `*` and `?` wildcards, so each
 * example's resources are tried against every route, for two clusters and every tool, and must
 * allow exactly the requests the example is meant to allow.
 */

const API = 'arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/$default';
const CLUSTERS = ['prod', 'staging'];
const TOOLS = ['tcpdump', 'ngrep', 'strace', 'snapshot'];
const ID = 'dt-20261125123456-a1b2c3';

interface Request {
  route: RouteName;
  cluster?: string;
  tool?: string;
  arn: string;
}

/** One request of every route, for each cluster and tool its path takes. */
function requests(): Request[] {
  const all: Request[] = [];
  for (const route of Object.keys(ROUTES) as RouteName[]) {
    const { method, path } = ROUTES[route];
    const clusters = path.includes('{cluster}') ? CLUSTERS : [undefined];
    const tools = path.includes('{tool}') ? TOOLS : [undefined];
    for (const cluster of clusters) {
      for (const tool of tools) {
        const concrete = path
          .replace('{cluster}', cluster ?? '')
          .replace('{tool}', tool ?? '')
          .replace('{id}', ID)
          .replace('{reuploadId}', 'r1');
        all.push({ route, cluster, tool, arn: `${API}/${method}${concrete}` });
      }
    }
  }
  return all;
}

/** IAM's ARN matching: `*` any run of characters (slashes included), `?` one character. */
function iamMatches(pattern: string, arn: string): boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`).test(arn);
}

function allowedBy(file: string): string[] {
  const policy = JSON.parse(readFileSync(join(PROJECT_ROOT, 'examples', 'iam', file), 'utf8')) as {
    Statement: { Effect: string; Action: string | string[]; Resource: string[] }[];
  };
  const resources = policy.Statement.filter(
    (s) => s.Effect === 'Allow' && [s.Action].flat().includes('execute-api:Invoke'),
  ).flatMap((s) => s.Resource);
  return requests()
    .filter((r) => resources.some((resource) => iamMatches(resource, r.arn)))
    .map((r) => r.arn);
}

const expected = (keep: (r: Request) => boolean) =>
  requests()
    .filter(keep)
    .map((r) => r.arn);

describe('the README’s example IAM policies', () => {
  it('on-call on prod: tcpdump and ngrep sessions (and their preview), doctor, following, stopping, cancelling and fetching sessions of prod; nothing on staging, no strace', () => {
    const onProd = (r: Request) => r.cluster === 'prod';
    expect(allowedBy('oncall-prod.json')).toEqual(
      expected(
        (r) =>
          (onProd(r) &&
            (r.route === 'start' || r.route === 'preview') &&
            ['tcpdump', 'ngrep'].includes(r.tool!)) ||
          (onProd(r) &&
            ['doctor', 'get', 'chunks', 'stop', 'cancel', 'reupload', 'getReupload', 'listCluster'].includes(
              r.route,
            )) ||
          r.route === 'list',
      ),
    );
  });

  it('auditors: every GET of every cluster (status, list, a re-upload’s status), and nothing that starts, cancels or uploads', () => {
    expect(allowedBy('auditors.json')).toEqual(expected((r) => ROUTES[r.route].method === 'GET'));
  });

  it('are shown in the README as they are tested', () => {
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
    for (const file of ['oncall-prod.json', 'auditors.json']) {
      expect(readme).toContain(readFileSync(join(PROJECT_ROOT, 'examples', 'iam', file), 'utf8').trim());
    }
    expect(readme).toContain(readFileSync(join(PROJECT_ROOT, 'examples', 'policy.cedar'), 'utf8').trim());
  });

  it('cover every route of the API (a new route needs an example decision)', () => {
    expect(new Set(requests().map((r) => r.route))).toEqual(new Set(Object.keys(ROUTES)));
    expect(requests().map((r) => routeKey(r.route)).length).toBeGreaterThan(Object.keys(ROUTES).length);
  });
});
