import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { DebugTaskError } from '../domain/errors';
import { docker } from './docker';
import { ECS_LABELS, SANDBOX_TAG_LABEL_PREFIX } from './ecs-api';
import { SANDBOX_ACCOUNT, SANDBOX_CLUSTER, SANDBOX_REGION } from './sandbox';

/**
 * A stand-in ECS task: a container carrying the ECS agent's own labels, serving HTTP, with a
 * steady stream of requests to its address (one every 100 ms, a new connection each time) so a
 * capture has something to show.
 */
export interface DemoTarget {
  taskArn: string;
  containerId: string;
  containerName: string;
  address: string;
  /** Requests answered so far. */
  requests(): number;
  stop(): Promise<void>;
  /** Removes the container at once, synchronously (a second Ctrl-C exits right after). */
  forceStop(): void;
}

/** The service the demo's tasks belong to when it runs several (`debug-task demo --replicas N`). */
export const DEMO_SERVICE = 'debug-task-demo';

export async function startDemoTarget(
  image: string,
  options: {
    intervalMs?: number;
    service?: string;
    /** The task's tags (what a deployment policy may decide on), as DescribeTasks will give them. */
    tags?: Record<string, string>;
  } = {},
): Promise<DemoTarget> {
  const taskId = randomBytes(16).toString('hex');
  const taskArn = `arn:aws:ecs:${SANDBOX_REGION}:${SANDBOX_ACCOUNT}:task/${SANDBOX_CLUSTER}/${taskId}`;
  const name = `debug-task-demo-${taskId.slice(0, 8)}`;
  const containerId = await docker([
    'run', '-d', '--name', name,
    '--label', `com.amazonaws.ecs.task-arn=${taskArn}`,
    '--label', 'com.amazonaws.ecs.container-name=web',
    '--label', `com.amazonaws.ecs.cluster=${SANDBOX_CLUSTER}`,
    '--label', 'com.amazonaws.ecs.task-definition-family=debug-task-demo',
    '--label', 'com.amazonaws.ecs.task-definition-version=1',
    '--label', 'debug-task.demo=target',
    ...(options.service ? ['--label', `${ECS_LABELS.serviceName}=${options.service}`] : []),
    ...Object.entries(options.tags ?? {}).flatMap(([key, value]) => ['--label', `${SANDBOX_TAG_LABEL_PREFIX}${key}=${value}`]),
    image,
    '/bin/busybox', 'sh', '-c',
    'mkdir -p /www && echo "hello from the demo task" > /www/index.html && exec /bin/busybox httpd -f -p 80 -h /www',
  ]); // prettier-ignore
  const remove = () =>
    docker(['rm', '-f', containerId]).then(
      () => undefined,
      () => undefined,
    );
  try {
    const address = await docker([
      'inspect',
      '-f',
      '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}',
      containerId,
    ]);
    if (!address) throw new DebugTaskError('SANDBOX_UNAVAILABLE', 'The demo target got no IP address.');
    await waitForHttp(address);
    const traffic = startTraffic(address, options.intervalMs ?? 100);
    return {
      taskArn,
      containerId,
      containerName: 'web',
      address,
      requests: traffic.count,
      stop: async () => {
        await traffic.stop();
        await remove();
      },
      forceStop: () => {
        spawnSync('docker', ['rm', '-f', containerId], { stdio: 'ignore', timeout: 10_000 });
      },
    };
  } catch (error) {
    await remove();
    throw error;
  }
}

function get(address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: address, port: 80, path: '/', agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function waitForHttp(address: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await get(address);
    } catch (cause) {
      if (Date.now() > deadline) {
        throw new DebugTaskError(
          'SANDBOX_UNAVAILABLE',
          `The demo target at ${address} does not answer HTTP.`,
          {
            cause,
          },
        );
      }
      await sleep(100);
    }
  }
}

function startTraffic(
  address: string,
  intervalMs: number,
): { count: () => number; stop: () => Promise<void> } {
  let answered = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await get(address).then(
        () => void answered++,
        () => undefined,
      );
      await sleep(intervalMs);
    }
  })();
  return {
    count: () => answered,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}
