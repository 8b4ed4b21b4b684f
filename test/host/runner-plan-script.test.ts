import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderPlan } from '../../lib/domain/host-plan';
import { childSessionId } from '../../lib/domain/session';
import { HostSummarySchema, type HostSummary } from '../../lib/domain/host-summary';
import type { HostParamValues } from '../../lib/domain/params';
import { runnerEnv } from '../../lib/host/local-runner';
import { buildRunnerScript } from '../../lib/host/runner-script';
import { MAX_STDOUT_BYTES } from '../../lib/sandbox/ssm-script-process';
import type { RunnerManifest } from '../../lib/domain/session';

/**
 * action=plan and startAt with a stub `docker` (no engine): what a real engine cannot show
 * deterministically on a shared machine (the exact session count under concurrency) or cheaply
 * (a share of hundreds of children, whose summary must stay short).
 */

jest.setTimeout(60_000);

const INSTANCE = 'i-0123456789abcdef0';
const FLEET = 'dt-20261125120000-fleet1';
const INSPECTED = 'running|4242|/app|bridge|';
const CONTAINER = 'feedface0123456789ab';

/**
 * A `docker` keeping "containers" as files of <dir>/state (name -> session label). run -d creates
 * one, wait sleeps 2 s, rm -f removes; ps lists them as the runner asks. inspect says the target
 * runs, in a state `targetState` (a long one makes long error messages). Each call is logged with
 * the time in ms.
 */
function stubEngine(inspected = INSPECTED) {
  const dir = mkdtempSync(join(tmpdir(), 'debug-task-fleet-stub-'));
  const state = join(dir, 'state');
  writeFileSync(
    join(dir, 'docker'),
    `#!/bin/bash
printf '%s %s\\n' "$(date +%s%3N)" "$*" >>'${dir}/calls'
mkdir -p '${state}'
case "$1" in
  inspect) echo '${inspected}' ;;
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
/** Manifests PUT to /manifest/<child id>. */
const manifests = new Map<string, RunnerManifest>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname.slice(1);
      if (req.method === 'PUT' && path.startsWith('manifest/')) {
        manifests.set(
          path.slice('manifest/'.length),
          JSON.parse(Buffer.concat(chunks).toString()) as RunnerManifest,
        );
        res.writeHead(200).end();
        return;
      }
      const plan = plans.get(path);
      if (plan === undefined) res.writeHead(404).end();
      else res.writeHead(200).end(plan);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A plan of `children` lines for this instance, each child's manifest PUT to /manifest/<id> unless `reported` is false. */
function planOf(name: string, children: number, reported = true): string {
  plans.set(
    name,
    renderPlan(
      Array.from({ length: children }, (_, i) => ({
        instanceId: INSTANCE,
        childSessionId: childSessionId(FLEET, i),
        containerId: CONTAINER,
        artifactUrl: '',
        manifestUrl: reported ? `${base}/manifest/${childSessionId(FLEET, i)}?X-Amz-Signature=m` : '',
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
    action: 'plan',
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

function parseSummary(stdout: string): HostSummary {
  return HostSummarySchema.parse(JSON.parse(stdout.trimEnd().split('\n').pop()!));
}

describe('a plan share under a stub engine', () => {
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

    manifests.clear();
    const run = await runStubbed(stub, values);

    const summary = parseSummary(run.stdout);
    expect(summary).toMatchObject({ status: 'OK', children: 3, unreported: [] });
    const codes = [0, 1, 2].map((i) => manifests.get(childSessionId(FLEET, i))?.error?.code);
    expect(run.status).toBe(0);
    expect(codes.filter((c) => c === 'HOST_BUSY')).toHaveLength(1);
    const runs = stub.calls().filter((c) => c.args.startsWith('run -d'));
    expect(runs).toHaveLength(2);
    if (withStartAt) {
      for (const call of runs) expect(call.at).toBeGreaterThanOrEqual(startAt * 1000);
      // Together: every child counted and claimed its slot before the wait, so no count runs between
      // the starts (told by the order of the engine's calls, not by a wall-clock gap a loaded machine stretches).
      const args = stub.calls().map((c) => c.args);
      const lastCount = args.findLastIndex((a) => a.startsWith('ps --filter'));
      expect(lastCount).toBeGreaterThan(-1);
      expect(lastCount).toBeLessThan(args.findIndex((a) => a.startsWith('run -d')));
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

  it('keeps the summary of a 230-child share short: 200 unreported children listed, the rest counted', async () => {
    // Every child fails at once (the target is not running) and has no manifest URL: all unreported.
    const stub = stubEngine('exited|0|/app|bridge|');
    const run = await runStubbed(stub, fleetValues(planOf('big', 230, false), { maxSessions: '99' }));

    expect(run.status).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    expect(run.stdout.length).toBeLessThan(MAX_STDOUT_BYTES);
    const summary = parseSummary(run.stdout);
    expect(summary).toMatchObject({
      status: 'OK',
      children: 230,
      counts: { FAILED: 230 },
      unreportedMore: 30,
    });
    expect(summary.unreported).toHaveLength(200);
    expect(summary.unreported[0]).toEqual({
      sessionId: childSessionId(FLEET, 0),
      status: 'FAILED',
      code: 'CONTAINER_NOT_FOUND',
      message: expect.stringContaining('is exited, not running'),
    });
    // The messages share a budget: the last ones listed go without, so the line stays under the cap.
    expect(summary.unreported.at(-1)?.message).toBeNull();
    expect(stub.workDirs()).toEqual([]);
    stub.remove();
  }, 240_000);
});
