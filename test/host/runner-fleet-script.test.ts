import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childSessionId, renderPlan, type FleetHostManifest } from '../../lib/domain/fleet';
import type { HostParamValues } from '../../lib/domain/params';
import { runnerEnv } from '../../lib/host/local-runner';
import { buildRunnerScript } from '../../lib/host/runner-script';
import { MAX_STDOUT_BYTES } from '../../lib/sandbox/ssm-script-process';

/**
 * action=fleet and startAt with a stub `docker` (no engine): what a real engine cannot show
 * deterministically on a shared machine (the exact session count under concurrency) or cheaply
 * (a share of 64 children whose manifests overflow SSM's 24,000 characters).
 */

jest.setTimeout(60_000);

const INSTANCE = 'i-0123456789abcdef0';
const FLEET = 'dt-20261125120000-fleet1';
const CONTAINER = 'feedface0123456789ab';

/**
 * A `docker` keeping "containers" as files of <dir>/state (name -> session label). run -d creates
 * one, wait sleeps 2 s, rm -f removes; ps lists them as the runner asks. inspect says the target
 * runs, in a state `targetState` (a long one makes long error messages). Each call is logged with
 * the time in ms.
 */
function stubEngine(targetState = 'running') {
  const dir = mkdtempSync(join(tmpdir(), 'debug-task-fleet-stub-'));
  const state = join(dir, 'state');
  writeFileSync(
    join(dir, 'docker'),
    `#!/bin/bash
printf '%s %s\\n' "$(date +%s%3N)" "$*" >>'${dir}/calls'
mkdir -p '${state}'
case "$1" in
  inspect) echo '${targetState}|4242|/app|bridge|' ;;
  info|image|kill) ;;
  ps)
    if [[ $2 == -aq ]]; then
      want=\${4#label=debug-task.session=}
      for f in '${state}'/*; do [[ -f $f && $(cat "$f") == "$want" ]] && echo "\${f##*/}"; done
    else
      for f in '${state}'/*; do [[ -f $f ]] && cat "$f"; done
    fi ;;
  run)
    name='' session=''
    while (($#)); do
      case $1 in --name) name=$2; shift ;; --label) [[ $2 == debug-task.session=* ]] && session=\${2#*=}; shift ;; esac
      shift
    done
    printf '%s\\n' "$session" >'${state}'/"$name" ;;
  wait) sleep 2; echo 0 ;;
  rm) shift; for n in "$@"; do [[ $n == -f ]] || rm -f '${state}'/"$n"; done ;;
esac
exit 0
`,
    { mode: 0o755 },
  );
  return {
    path: `${dir}:${process.env.PATH}`,
    home: join(dir, 'home'),
    calls: (): { at: number; args: string }[] =>
      existsSync(join(dir, 'calls'))
        ? readFileSync(join(dir, 'calls'), 'utf8')
            .trim()
            .split('\n')
            .map((line) => ({ at: Number(line.split(' ')[0]), args: line.slice(line.indexOf(' ') + 1) }))
        : [],
    workDirs: () =>
      existsSync(join(dir, 'home')) ? readdirSync(join(dir, 'home')).filter((d) => d !== '.lock') : [],
    script: join(dir, '_script.sh'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

let server: Server;
let base: string;
const plans = new Map<string, string>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const plan = plans.get(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
    if (plan === undefined) res.writeHead(404).end();
    else res.writeHead(200).end(plan);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function planOf(name: string, children: number): string {
  plans.set(
    name,
    renderPlan(
      Array.from({ length: children }, (_, i) => ({
        instanceId: INSTANCE,
        childSessionId: childSessionId(FLEET, i),
        containerId: CONTAINER,
        uploadUrl: '',
      })),
    ),
  );
  return `${base}/${name}?X-Amz-Signature=x`;
}

/** The built runner, from a file (children re-run it), under the stub; asynchronous: the plan server answers meanwhile. */
function runStubbed(
  stub: ReturnType<typeof stubEngine>,
  values: HostParamValues,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  writeFileSync(stub.script, buildRunnerScript(), { mode: 0o700 });
  const env = runnerEnv(values, { home: stub.home });
  const child = spawn('bash', [stub.script], {
    env: { ...env, PATH: stub.path, AWS_SSM_INSTANCE_ID: INSTANCE },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

function fleetValues(planUrl: string, overrides: HostParamValues = {}): HostParamValues {
  const now = Math.floor(Date.now() / 1000);
  return {
    action: 'fleet',
    sessionId: FLEET,
    planUrl,
    tool: 'tcpdump',
    durationSeconds: '2',
    maxBytes: '1000000',
    image: 'registry.example.com/toolbox:1',
    expiresAt: String(now + 60),
    maxSessions: '2',
    ...overrides,
  };
}

function parseFleet(stdout: string): FleetHostManifest {
  return JSON.parse(stdout.trimEnd().split('\n').pop()!) as FleetHostManifest;
}

describe('fleet share under a stub engine', () => {
  it.each([
    ['with startAt (slots claimed under the lock, then one start together)', true],
    ['without startAt (count and start under the lock)', false],
  ])('lets exactly maxSessions of a share start, %s', async (_name, withStartAt) => {
    const stub = stubEngine();
    const startAt = Math.floor(Date.now() / 1000) + 2;
    const values = fleetValues(
      planOf(`busy-${withStartAt}`, 3),
      withStartAt ? { startAt: String(startAt) } : {},
    );

    const run = await runStubbed(stub, values);

    const fleet = parseFleet(run.stdout);
    const codes = fleet.children.map((c) => c.error?.code);
    expect(run.status).toBe(0);
    expect(codes.filter((c) => c === 'HOST_BUSY')).toHaveLength(1);
    const runs = stub.calls().filter((c) => c.args.startsWith('run -d'));
    expect(runs).toHaveLength(2);
    if (withStartAt) {
      for (const call of runs) expect(call.at).toBeGreaterThanOrEqual(startAt * 1000);
      expect(Math.abs(runs[0].at - runs[1].at)).toBeLessThan(500);
    }
    expect(stub.workDirs()).toEqual([]);
    stub.remove();
  });

  it('with startAt checks the target, the count and the image before the wait, and nothing after it but the start', async () => {
    const stub = stubEngine();
    const startAt = Math.floor(Date.now() / 1000) + 2;
    const values = fleetValues(planOf('order', 1), { startAt: String(startAt) });

    const run = await runStubbed(stub, values);

    expect(run.status).toBe(0);
    const calls = stub.calls().map((c) => c.args.split(' ').slice(0, 2).join(' '));
    const start = calls.findIndex((c) => c.startsWith('run -d'));
    expect(calls.slice(0, start + 1)).toEqual([
      'inspect --type',
      'ps --filter',
      'image inspect',
      'ps --filter',
      'run -d',
    ]);
    expect(run.stderr).toMatch(/waiting \d\.\d{3}s for startAt/);
    stub.remove();
  });

  it('keeps the manifest of a 64-child share under SSM’s 24,000 characters, reducing what does not fit', async () => {
    // Every child fails on a target "state" that makes its message long: 64 such manifests would not fit.
    const stub = stubEngine('x'.repeat(400));
    const run = await runStubbed(stub, fleetValues(planOf('big', 64), { maxSessions: '99' }));

    expect(run.status).toBe(0);
    expect(run.stdout.length).toBeLessThan(MAX_STDOUT_BYTES);
    const fleet = parseFleet(run.stdout);
    expect(fleet.children).toHaveLength(64);
    expect(fleet.children.map((c) => c.sessionId)).toEqual(
      Array.from({ length: 64 }, (_, i) => childSessionId(FLEET, i)),
    );
    const full = fleet.children.filter((c) => c.error?.message.startsWith('Container feedface'));
    const cut = fleet.children.filter((c) => c.error?.message === 'cut: SSM output limit');
    expect(full.length).toBeGreaterThan(10);
    expect(cut.length).toBeGreaterThan(0);
    expect(full.length + cut.length).toBe(64);
    for (const child of [...full, ...cut]) {
      expect(child).toMatchObject({ v: 1, status: 'FAILED', error: { code: 'CONTAINER_NOT_FOUND' } });
      expect(child.error!.message.length).toBeLessThanOrEqual(300);
      expect(child.tool.name).toBe('tcpdump');
      expect(child.timings.endedAt).toBeGreaterThan(0);
    }
    stub.remove();
  });

  it('refuses a share larger than a host runs, before starting anything', async () => {
    const stub = stubEngine();
    const run = await runStubbed(stub, fleetValues(planOf('huge', 65)));

    expect(run.status).toBe(2);
    expect(parseFleet(run.stdout)).toMatchObject({
      status: 'FAILED',
      error: {
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('65 targets; a host runs at most 64'),
      },
      children: [],
    });
    expect(stub.calls()).toEqual([]);
    stub.remove();
  });
});
