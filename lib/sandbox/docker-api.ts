import { request, type RequestOptions } from 'node:http';
import { DebugTaskError } from '../domain/errors';

/**
 * The few Docker Engine API reads the ECS stand-in needs, over the engine's socket.
 *
 * Why the Engine API and not `docker ps`/`docker inspect`: one list request returns every
 * labelled container with its labels and state as JSON, where the CLI would cost one process
 * spawn per call (tens of milliseconds each, and the benchmarks count and time these calls) plus
 * a format string to parse. Nothing is cached: every ECS call asks the engine again.
 */

/** Subset of `GET /containers/json` items. */
export interface DockerContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Created: number;
  State: string;
  Labels: Record<string, string> | null;
}

/** Subset of `GET /containers/{id}/json`. */
export interface DockerContainerDetails {
  Id: string;
  Created: string;
  Image: string;
  Config: { Image: string; Labels: Record<string, string> | null };
  /** `host`, `bridge`, `container:<id>` (a network shared with another container), a network name. */
  HostConfig?: { NetworkMode?: string };
  State: {
    Status: string;
    Running: boolean;
    ExitCode: number;
    StartedAt: string;
    FinishedAt: string;
  };
  NetworkSettings: { Networks: Record<string, { IPAddress: string; MacAddress: string }> | null };
}

export interface DockerEngine {
  ping(): Promise<void>;
  /** All containers (running or not) that carry `label` (a key, or key=value). */
  listContainers(label: string): Promise<DockerContainerSummary[]>;
  /** undefined when the container no longer exists. */
  inspectContainer(id: string): Promise<DockerContainerDetails | undefined>;
  version(): Promise<{ Version: string; ApiVersion: string }>;
}

type Target = Pick<RequestOptions, 'socketPath' | 'host' | 'port'>;

/** Where the engine listens: DOCKER_HOST (unix:// or tcp:// without TLS) or the default socket. */
export function dockerTarget(dockerHost = process.env.DOCKER_HOST): Target {
  if (!dockerHost) return { socketPath: '/var/run/docker.sock' };
  if (dockerHost.startsWith('unix://')) return { socketPath: dockerHost.slice('unix://'.length) };
  const tcp = /^tcp:\/\/([^:/]+):([0-9]+)\/?$/.exec(dockerHost);
  if (tcp && process.env.DOCKER_TLS_VERIFY !== '1') return { host: tcp[1], port: Number(tcp[2]) };
  throw new DebugTaskError(
    'SANDBOX_UNAVAILABLE',
    `DOCKER_HOST="${dockerHost}" is not supported by the sandbox.`,
    {
      hint: 'Use the local engine socket (unset DOCKER_HOST, or unix:///path/to/docker.sock).',
      details: { dockerHost },
    },
  );
}

export function dockerEngine(target: Target = dockerTarget()): DockerEngine {
  const get = <T>(path: string, allow404 = false): Promise<T | undefined> =>
    new Promise((resolve, reject) => {
      const req = request({ ...target, path, method: 'GET', timeout: 10_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (allow404 && res.statusCode === 404) return resolve(undefined);
          if (res.statusCode !== 200) {
            return reject(
              new Error(`Docker engine answered ${res.statusCode} to GET ${path}: ${body.slice(0, 300)}`),
            );
          }
          try {
            resolve((path === '/_ping' ? body : JSON.parse(body)) as T);
          } catch (error) {
            reject(error);
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`Docker engine did not answer GET ${path} within 10 s`)));
      req.on('error', reject);
      req.end();
    });

  return {
    ping: async () => {
      try {
        await get<string>('/_ping');
      } catch (cause) {
        throw new DebugTaskError('SANDBOX_UNAVAILABLE', 'The local Docker engine does not answer.', {
          cause,
          details: { target: target.socketPath ?? `${target.host}:${target.port}` },
        });
      }
    },
    listContainers: async (label) => {
      const filters = encodeURIComponent(JSON.stringify({ label: [label] }));
      return (await get<DockerContainerSummary[]>(`/containers/json?all=true&filters=${filters}`)) ?? [];
    },
    inspectContainer: (id) => get<DockerContainerDetails>(`/containers/${encodeURIComponent(id)}/json`, true),
    version: async () => (await get<{ Version: string; ApiVersion: string }>('/version'))!,
  };
}
