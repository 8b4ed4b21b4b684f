import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DebugTaskError } from '../../lib/domain/errors';
import {
  commandParameters,
  HOST_PARAMS,
  isValidHostParam,
  type HostParamName,
  type HostParamValues,
} from '../../lib/domain/params';
import { parseSweepManifest } from '../../lib/domain/sweep-manifest';
import { parseManifest, runnerEnv } from '../../lib/host/local-runner';
import {
  buildCommandDocument,
  buildRunnerScript,
  packageRoot,
  RUNNER_PARTS,
  runnerSha256,
  runnerSourceDir,
  shellParameterBlock,
} from '../../lib/host/runner-script';

/** The runner script and the SSM document built from it; bash only, no Docker needed. */

const NAMES = Object.keys(HOST_PARAMS) as HostParamName[];

/** Values worth trying against every pattern: valid ones for some parameter, hostile ones, edges. */
const SAMPLES = [
  '',
  'dt-20261125120000-abc123',
  'dt-short-abc',
  '0123456789ab',
  'feedface0123456789abcdef0123456789abcdef0123456789abcdef01234567',
  'run',
  'cleanup',
  'sweep',
  'arn:aws:sts::123456789012:assumed-role/oncall/alice',
  'arn:aws:iam::123456789012:user/path/a.b@c=d,e+f_g-h',
  'INC-42 TLS resets (canary #3): see wiki/x, @alice',
  'a=b&c',
  'x#y',
  'tcpdump',
  'snapshot',
  'Tcpdump',
  '60',
  '0',
  '99999',
  '100000',
  '1000000000',
  'tcp port 443',
  'tcp[13] & 2 != 0',
  'tcp[tcpflags] & (tcp-syn|tcp-fin) != 0',
  'host 10.0.0.5 and (port 80 or port 443)',
  'ip6 and dst net fe80::/10',
  'a]b[c',
  'port 80; rm -rf /',
  'port $(id)',
  'port `id`',
  "it's",
  'a\\b',
  'line\nbreak',
  'eth0',
  'veth1a2b@if3',
  '262144',
  'repo.example.com/toolbox@sha256:' + 'a'.repeat(64),
  '123456789012.dkr.ecr.eu-west-1.amazonaws.com/debug-task-toolbox:1.2',
  'http://127.0.0.1:9000/bucket/sessions/x/artifact.pcap.gz?X-Amz-Signature=ab%2Fc&X-Amz-Expires=900',
  'https://bucket.s3.amazonaws.com/key?x=1 y',
  'ftp://x/',
  '1795600000',
  '0.5',
  '1.25',
  '2.',
  '256',
  '64',
  '2',
  '3600',
  'x'.repeat(1025),
];

/** A PATH whose `docker` only leaves a mark: shows whether the runner got as far as the engine. */
function stubDockerPath(): { path: string; called: () => boolean; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'debug-task-stub-'));
  writeFileSync(join(dir, 'docker'), `#!/bin/sh\ntouch '${dir}/called'\nexit 1\n`, { mode: 0o755 });
  return {
    path: `${dir}:${process.env.PATH}`,
    called: () => existsSync(join(dir, 'called')),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** What bash's [[ =~ ]] with the generated PATTERN_/MAXCHARS_ variables says of each sample. */
function bashVerdicts(name: HostParamName, samples: string[]): boolean[] {
  const script = `${shellParameterBlock()}
pattern_var=PATTERN_$1 max_var=MAXCHARS_$1
shift
for v in "$@"; do
  if ((\${#v} <= \${!max_var})) && [[ $v =~ \${!pattern_var} ]]; then echo 1; else echo 0; fi
done`;
  const out = execFileSync('bash', ['-c', script, 'check', name, ...samples], {
    encoding: 'utf8',
    env: { LC_ALL: 'C' },
  });
  return out
    .trim()
    .split('\n')
    .map((line) => line === '1');
}

/**
 * The built runner as a file, run as `bash FILE` as the document's bootstrap runs it: at ~130 kB it
 * no longer fits one argument (`bash -c`: Linux's MAX_ARG_STRLEN is 128 KiB).
 */
let runnerFile: string | undefined;
function scriptFile(): string {
  if (!runnerFile) {
    runnerFile = join(mkdtempSync(join(tmpdir(), 'dt-runner-script-')), 'runner.sh');
    writeFileSync(runnerFile, buildRunnerScript());
  }
  return runnerFile;
}
afterAll(() => {
  if (runnerFile) rmSync(dirname(runnerFile), { recursive: true, force: true });
});

describe('runner script', () => {
  const script = buildRunnerScript();

  it('is found from the package root, from sources and from dist alike', () => {
    expect(packageRoot(join(packageRoot(), 'dist', 'lib', 'host'))).toBe(packageRoot());
    expect(runnerSourceDir()).toBe(join(packageRoot(), 'lib', 'host', 'runner'));
  });

  it('carries a pattern and a length for every host parameter, and the defaults, after its header', () => {
    for (const name of NAMES) {
      expect(script).toContain(`readonly PATTERN_${name}='`);
      expect(script).toContain(`readonly MAXCHARS_${name}=${HOST_PARAMS[name].maxChars}\n`);
    }
    expect(script).toContain("readonly DEFAULT_action='run'");
    expect(script).toContain("readonly DEFAULT_filter=''");
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(script.indexOf('readonly PARAM_NAMES=')).toBeLessThan(script.indexOf('set -Eeuo pipefail'));
  });

  it('never contains a double brace, which SSM would read as a parameter reference', () => {
    expect(script).not.toContain('{{');
  });

  it.each(NAMES)('judges %s values in bash exactly as params.ts does in JavaScript', (name) => {
    const bash = bashVerdicts(name, SAMPLES);

    const disagreements = SAMPLES.filter((sample, i) => bash[i] !== isValidHostParam(name, sample));
    expect(disagreements).toEqual([]);
  });

  it('re-checks every value itself and names the one it refuses, before touching Docker', () => {
    const env = runnerEnv({ sessionId: 'dt-20261125120000-abc123', durationSeconds: '10; reboot' });
    const stub = stubDockerPath();

    const run = spawnSync('bash', [scriptFile()], { env: { ...env, PATH: stub.path }, encoding: 'utf8' });
    const dockerCalled = stub.called();
    stub.remove();

    expect(dockerCalled).toBe(false);
    expect(run.status).toBe(2);
    const manifest = parseManifest(run.stdout);
    expect(manifest).toMatchObject({
      sessionId: 'dt-20261125120000-abc123',
      error: { code: 'INVALID_ARGUMENT' },
    });
    expect(manifest!.error!.message).toContain('Parameter durationSeconds is invalid: received "10; reboot"');
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('never echoes an upload URL it refuses: the signature must not leave the host', () => {
    const env = runnerEnv({ sessionId: 'dt-20261125120000-abc123' });

    const run = spawnSync('bash', [scriptFile()], {
      env: { ...env, SSM_uploadUrl: 'http://h/k?X-Amz-Signature=secret value' },
      encoding: 'utf8',
    });

    expect(parseManifest(run.stdout)?.error?.message).toMatch(/^Parameter uploadUrl is invalid/);
    expect(run.stdout + run.stderr).not.toContain('secret');
  });

  it('refuses an unknown action by name, before anything else', () => {
    const env = runnerEnv({ sessionId: 'dt-20261125120000-abc123' });

    const run = spawnSync('bash', [scriptFile()], {
      env: { ...env, SSM_action: 'reboot' },
      encoding: 'utf8',
    });

    expect(run.status).toBe(2);
    // The message quotes the pattern of params.ts, the one list of actions (stop came with issue 13).
    expect(parseManifest(run.stdout)?.error?.message).toContain(
      `Parameter action is invalid: received "reboot", expected ${HOST_PARAMS.action.pattern}`,
    );
  });

  it.each([
    ['run', {}],
    ['cleanup', { action: 'cleanup' }],
  ] as const)('requires a session id for %s', (_action, values) => {
    const env = runnerEnv(values);
    const stub = stubDockerPath();

    const run = spawnSync('bash', [scriptFile()], { env: { ...env, PATH: stub.path }, encoding: 'utf8' });
    const dockerCalled = stub.called();
    stub.remove();

    expect(dockerCalled).toBe(false);
    expect(run.status).toBe(2);
    expect(parseManifest(run.stdout)?.error?.message).toBe(
      'Parameter sessionId is required (environment variable SSM_sessionId is empty).',
    );
  });

  it('needs nothing but the action for a sweep, and reports a sweep manifest (here: no engine)', () => {
    const env = runnerEnv({ action: 'sweep', executionTimeout: '120' });
    const stub = stubDockerPath();
    const home = mkdtempSync(join(tmpdir(), 'debug-task-sweep-'));

    const run = spawnSync('bash', [scriptFile()], {
      env: { ...env, PATH: stub.path, DEBUG_TASK_HOME: home },
      encoding: 'utf8',
    });
    const dockerCalled = stub.called();
    stub.remove();
    rmSync(home, { recursive: true, force: true });

    expect(dockerCalled).toBe(true); // it got past the parameters: nothing else was required
    expect(run.status).toBe(4);
    const sweep = parseSweepManifest(run.stdout);
    expect(sweep).toMatchObject({
      v: 1,
      action: 'sweep',
      status: 'FAILED',
      error: {
        code: 'CAPTURE_FAILED',
        message: expect.stringContaining('The Docker engine does not answer'),
      },
    });
    expect(sweep!.sweep).toBeUndefined();
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('requires what a run needs, and reports a missing one by its SSM_ name', () => {
    const env = runnerEnv({ sessionId: 'dt-20261125120000-abc123', tool: 'tcpdump' });

    const run = spawnSync('bash', [scriptFile()], { env, encoding: 'utf8' });

    expect(run.status).toBe(2);
    expect(parseManifest(run.stdout)?.error?.message).toBe(
      'Parameter containerId is required (environment variable SSM_containerId is empty).',
    );
  });
});

describe('the built runner', () => {
  const script = buildRunnerScript();
  const parts = RUNNER_PARTS.filter((part) => part.endsWith('.sh'));

  it('is every part as written, comments included, in RUNNER_PARTS order, main.sh last', () => {
    let at = 0;
    for (const part of parts) {
      const text = readFileSync(join(runnerSourceDir(), part), 'utf8')
        .replace(/^# shellcheck shell=bash\n/, '')
        .trimEnd();
      const found = script.indexOf(text, at);
      expect({ part, found: found >= at }).toEqual({ part, found: true });
      at = found + text.length;
    }
    expect(parts.at(-1)).toBe('main.sh');
    expect(script.trimEnd().endsWith('then main "$@"; fi')).toBe(true);
  });

  it('is valid bash that explains itself: the comments stay', () => {
    expect(spawnSync('bash', ['-n'], { input: script }).status).toBe(0);
    const comments = script.split('\n').filter((line) => /^\s*# /.test(line));
    expect(comments.length).toBeGreaterThan(300);
  });

  it('defines its functions without running main when sourced', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dt-source-'));
    try {
      const file = join(dir, 'runner.sh');
      writeFileSync(file, script);
      const run = spawnSync(
        'bash',
        ['-c', 'source "$1"; declare -F main run_session json_escape', 'test', file],
        {
          encoding: 'utf8',
          env: { PATH: process.env.PATH },
        },
      );

      expect(run.stdout.trim().split('\n')).toEqual(['main', 'run_session', 'json_escape']);
      expect(run.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SSM command document', () => {
  const document = buildCommandDocument();
  const runCommand = document.mainSteps[0].inputs.runCommand;
  const script = runCommand.join('\n');

  it('is a schema 2.2 document with one runShellScript step, a few KB of readable shell', () => {
    expect(Buffer.byteLength(JSON.stringify(document))).toBeLessThan(16 * 1024);
    expect(document.schemaVersion).toBe('2.2');
    expect(document.mainSteps).toHaveLength(1);
    expect(document.mainSteps[0]).toMatchObject({
      action: 'aws:runShellScript',
      name: 'runDebugTask',
      inputs: { timeoutSeconds: '{{ executionTimeout }}' },
    });
  });

  it('carries no encoded payload: no eval, no base64 or gzip, no long unbroken token', () => {
    expect(script).not.toMatch(/\beval\b|base64|gzip|gunzip|\bxxd\b|openssl/);
    const longest = Math.max(...script.split(/[\s'"=/]+/).map((word) => word.length));
    expect(longest).toBeLessThanOrEqual(80);
    // Comments stay: the document explains itself.
    expect(runCommand.filter((line) => line.trim().startsWith('#')).length).toBeGreaterThan(10);
  });

  it('names the sha256 of the runner file as built, in plain text', () => {
    const sha256 = createHash('sha256').update(buildRunnerScript()).digest('hex');
    expect(runCommand).toContain(`RUNNER_SHA256=${sha256}`);
    expect(runnerSha256()).toBe(sha256);
  });

  it('is shellcheck-clean POSIX sh', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dt-doc-'));
    try {
      const file = join(dir, 'bootstrap.sh');
      writeFileSync(file, script + '\n');
      const check = spawnSync('shellcheck', ['-s', 'sh', file], { encoding: 'utf8' });
      expect(check.stdout + check.stderr).toBe('');
      expect(check.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes every runner parameter as SSM_<name>, single-quoted in text mode, executionTimeout only in the step', () => {
    for (const name of NAMES.filter((n) => n !== 'executionTimeout')) {
      expect(runCommand).toContain(`  SSM_${name}='{{ ${name} }}'`);
      expect(script.split(`{{ ${name} }}`)).toHaveLength(2);
    }
    expect(script).not.toContain('{{ executionTimeout }}');
  });

  it.each(NAMES)('declares %s with the pattern, length, description and default of params.ts', (name) => {
    const param = HOST_PARAMS[name];

    expect(document.parameters[name]).toEqual({
      type: 'String',
      description: param.description,
      allowedPattern: param.pattern,
      maxChars: param.maxChars,
      ...('default' in param && { default: param.default }),
      ...(name !== 'executionTimeout' && { interpolationType: 'ENV_VAR' }),
    });
  });

  it("takes a deployment's patterns in place of the generic ones", () => {
    const narrowed = buildCommandDocument({ patterns: { image: '^(registry/toolbox@sha256:ab)?$' } });
    expect(narrowed.parameters.image.allowedPattern).toBe('^(registry/toolbox@sha256:ab)?$');
    expect(narrowed.parameters.filter.allowedPattern).toBe(HOST_PARAMS.filter.pattern);
  });
});

describe('commandParameters', () => {
  it('maps each value to the one-element list SendCommand takes, leaving empty defaults to SSM', () => {
    const parameters = commandParameters({
      action: 'run',
      sessionId: 'dt-20261125120000-abc123',
      durationSeconds: '60',
      filter: '',
      executionTimeout: '120',
    });

    expect(parameters).toEqual({
      action: ['run'],
      sessionId: ['dt-20261125120000-abc123'],
      durationSeconds: ['60'],
      executionTimeout: ['120'],
    });
  });

  it('throws INVALID_ARGUMENT naming the parameter SSM would refuse', () => {
    const call = () =>
      commandParameters({ sessionId: 'dt-20261125120000-abc123', filter: 'port 80; reboot' });

    expect(call).toThrow(DebugTaskError);
    expect(call).toThrow(/Host parameter filter is invalid: received "port 80; reboot"/);
    try {
      call();
    } catch (error) {
      expect((error as DebugTaskError).code).toBe('INVALID_ARGUMENT');
      expect((error as DebugTaskError).details).toEqual({ parameter: 'filter' });
    }
  });

  it('does not repeat a refused upload URL in its message', () => {
    const call = () => commandParameters({ uploadUrl: 'https://b/k?X-Amz-Signature=secret "quoted"' });

    expect(call).toThrow(/uploadUrl is invalid: received \(a presigned URL, not shown\)/);
  });
});

describe('runner start path: the docker calls it makes (stub docker, no engine)', () => {
  /**
   * A `docker` that records each call and answers as told: inspect (the target), info (the
   * engine), image (image inspect), run. `docker ps` lists no running session; its look for
   * leftovers (`ps -aq`) finds the container a successful run made (id c0ffee).
   */
  function startWith(
    answers: {
      inspect: number;
      info?: number;
      image?: number;
      run?: number;
    },
    target: { status?: string; pid?: number; mode?: string; pidMode?: string } = {},
    values: HostParamValues = {},
  ) {
    const dir = mkdtempSync(join(tmpdir(), 'debug-task-stub-'));
    const home = join(dir, 'home');
    // The target's inspect: status|pid|/name|network mode|pid mode (the runner's format).
    const inspected = `${target.status ?? 'running'}|${target.pid ?? 4242}|/app|${target.mode ?? 'bridge'}|${target.pidMode ?? ''}`;
    writeFileSync(
      join(dir, 'docker'),
      `#!/bin/sh
printf '%s\\n' "$*" >>'${dir}/calls'
case "$1" in
  inspect) [ ${answers.inspect} = 0 ] && echo '${inspected}'; exit ${answers.inspect} ;;
  info) exit ${answers.info ?? 0} ;;
  image) exit ${answers.image ?? 0} ;;
  run) [ ${answers.run ?? 125} = 0 ] && touch '${dir}/created' && exit 0
    echo 'stub: no docker run here' >&2; exit ${answers.run ?? 125} ;;
  ps) case "$*" in *-aq*) [ -e '${dir}/created' ] && echo c0ffee ;; esac; exit 0 ;;
esac
exit 0
`,
      { mode: 0o755 },
    );
    const env = runnerEnv(
      {
        action: 'run',
        sessionId: 'dt-20261125120000-abc123',
        containerId: 'feedface0123456789ab',
        tool: 'tcpdump',
        durationSeconds: '5',
        maxBytes: '1000000',
        image: 'registry.example.com/toolbox:1',
        expiresAt: String(Math.floor(Date.now() / 1000) + 60),
        ...values,
      },
      { home },
    );
    const run = spawnSync('bash', [scriptFile()], {
      env: { ...env, PATH: `${dir}:${process.env.PATH}` },
      encoding: 'utf8',
    });
    const calls = existsSync(join(dir, 'calls'))
      ? readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n')
      : [];
    const workDirLeft = existsSync(join(home, 'dt-20261125120000-abc123'));
    rmSync(dir, { recursive: true, force: true });
    return { run, calls, manifest: parseManifest(run.stdout), workDirLeft };
  }

  /** The calls' subcommands; the first `n`, sorted (the overlapped start's three run at once). */
  const verbs = (calls: string[]) => calls.map((call) => call.split(' ')[0]);
  const firstSorted = (calls: string[], n: number) => verbs(calls).slice(0, n).sort();

  it('starts the toolbox gated (run -d --pull never) while it inspects the target and counts the sessions, then waits for it', () => {
    const { calls } = startWith({ inspect: 0, run: 0 });

    expect(firstSorted(calls, 3)).toEqual(['inspect', 'ps', 'run']);
    const started = calls.find((call) => call.startsWith('run '))!;
    expect(started).toMatch(/^run -d --pull never --name debug-task-dt-20261125120000-abc123 /);
    // The gated script (its first line reads the gate) is the container's command.
    expect(started).toMatch(/ sh \/debug-task\/toolbox\.sh /);
    expect(verbs(calls)[3]).toBe('wait');
  });

  it('diagnoses a failed start with the image present: the start’s own words, not retried', () => {
    const { calls, manifest } = startWith({ inspect: 0 });

    expect(firstSorted(calls, 3)).toEqual(['inspect', 'ps', 'run']);
    expect(calls.slice(3)).toEqual([
      'image inspect registry.example.com/toolbox:1',
      expect.stringMatching(/^ps -aq --filter label=debug-task.session=dt-/),
    ]);
    expect(manifest?.error?.message).toBe('The toolbox container did not start: stub: no docker run here');
  });

  it('says the engine does not answer when the target cannot be inspected and docker info fails', () => {
    const { run, calls, manifest } = startWith({ inspect: 1, info: 1 });

    expect(verbs(calls).indexOf('info')).toBeGreaterThan(verbs(calls).indexOf('inspect'));
    expect(verbs(calls).filter((verb) => verb === 'run')).toHaveLength(1); // the gated start only
    expect(run.status).toBe(4);
    expect(manifest?.error).toMatchObject({
      code: 'CAPTURE_FAILED',
      message: expect.stringContaining('The Docker engine does not answer'),
    });
  });

  it('reports CONTAINER_NOT_FOUND when the engine answers but the target is not there, and removes the gated toolbox', () => {
    const { run, calls, manifest, workDirLeft } = startWith({ inspect: 1, info: 0, run: 0 });

    expect(verbs(calls).indexOf('info')).toBeGreaterThan(verbs(calls).indexOf('inspect'));
    expect(verbs(calls).filter((verb) => verb === 'run')).toHaveLength(1);
    expect(verbs(calls)).not.toContain('wait');
    expect(calls.at(-1)).toBe('rm -f c0ffee');
    expect(run.status).toBe(3);
    expect(manifest?.error?.code).toBe('CONTAINER_NOT_FOUND');
    expect(workDirLeft).toBe(false);
  });

  it('reports CONTAINER_NOT_FOUND, not a failed start, for a stopped target (the gated start fails too)', () => {
    const { run, calls, manifest } = startWith({ inspect: 0 }, { status: 'exited' });

    expect(verbs(calls)).not.toContain('image');
    expect(run.status).toBe(3);
    expect(manifest?.error).toMatchObject({
      code: 'CONTAINER_NOT_FOUND',
      message: 'Container feedface0123456789ab is exited, not running.',
    });
  });

  it('pulls a missing image outside the lock, then counts again and retries the start once', () => {
    const { calls, manifest, workDirLeft } = startWith({ inspect: 0, image: 1 });

    // The gated start failed, the image is missing; the second failure is final (no image lookup
    // again); the last ps is the teardown's.
    expect(firstSorted(calls, 3)).toEqual(['inspect', 'ps', 'run']);
    expect(verbs(calls).slice(3)).toEqual(['image', 'ps', 'pull', 'ps', 'run', 'ps']);
    expect(calls.at(-1)).toMatch(/^ps -aq --filter label=debug-task.session=dt-/);
    expect(manifest?.error?.message).toBe('The toolbox container did not start: stub: no docker run here');
    expect(workDirLeft).toBe(false);
  });

  it('starts next to a bridge or awsvpc target (container:<pause id>) as ever, with no -i', () => {
    for (const mode of ['bridge', 'my-network', `container:${'ab'.repeat(32)}`]) {
      const { calls } = startWith({ inspect: 0, run: 0 }, { mode });

      expect(firstSorted(calls, 3)).toEqual(['inspect', 'ps', 'run']);
      expect(verbs(calls)[3]).toBe('wait');
      expect(calls.find((call) => call.startsWith('run '))).not.toMatch(/ -i /);
    }
  });

  it('refuses a target in the host network mode with HOST_NETWORK_NOT_ALLOWED, running no tool and removing the gated toolbox', () => {
    const { run, calls, manifest, workDirLeft } = startWith({ inspect: 0, run: 0 }, { mode: 'host' });

    expect(verbs(calls).filter((verb) => verb === 'run')).toHaveLength(1);
    expect(verbs(calls)).not.toContain('wait');
    expect(calls.at(-1)).toBe('rm -f c0ffee');
    expect(run.status).toBe(3);
    expect(manifest).toMatchObject({ status: 'FAILED', error: { code: 'HOST_NETWORK_NOT_ALLOWED' } });
    expect(manifest?.error?.message).toBe(
      "Container app (feedface0123456789ab) uses the host's network (NetworkMode host): a capture next to it would see the traffic of the whole host, not only its own. No tool was run; re-run with --allow-host-network if capturing the host's traffic is intended.",
    );
    expect(workDirLeft).toBe(false);
  });

  it('refuses a target in the host pid namespace with HOST_PID_NOT_ALLOWED, running no tool and removing the gated toolbox', () => {
    const { run, calls, manifest, workDirLeft } = startWith({ inspect: 0, run: 0 }, { pidMode: 'host' });

    expect(verbs(calls).filter((verb) => verb === 'run')).toHaveLength(1);
    expect(verbs(calls)).not.toContain('wait');
    expect(calls.at(-1)).toBe('rm -f c0ffee');
    expect(run.status).toBe(3);
    expect(manifest).toMatchObject({ status: 'FAILED', error: { code: 'HOST_PID_NOT_ALLOWED' } });
    expect(manifest?.error?.message).toBe(
      "Container app (feedface0123456789ab) shares the host's pid namespace (PidMode host): a toolbox next to it would see every process of the host, and strace would trace the host's init. No tool was run; re-run with --allow-host-pid if debugging next to the host's processes is intended.",
    );
    expect(workDirLeft).toBe(false);
  });

  it('with allowHostPid=true, starts next to a target in the host pid namespace with the same calls', () => {
    const { run, calls } = startWith({ inspect: 0, run: 0 }, { pidMode: 'host' }, { allowHostPid: 'true' });

    expect(firstSorted(calls, 3)).toEqual(['inspect', 'ps', 'run']);
    expect(verbs(calls)[3]).toBe('wait');
    expect(run.stderr).toContain("shares the host's pid namespace and allowHostPid is true");
  });

  it('with allowHostNetwork=true, inspects first (the target decides the interface), then counts and runs', () => {
    const { calls } = startWith({ inspect: 0 }, {}, { allowHostNetwork: 'true' });

    expect(verbs(calls).slice(0, 3)).toEqual(['inspect', 'ps', 'run']);
  });

  it('with allowHostNetwork=true, captures on the default-route interface of the target’s namespace, same calls', () => {
    // This process's namespace stands in for the host's: the stub reports our own pid.
    const expected = defaultRouteIface(readFileSync('/proc/self/net/route', 'utf8'));
    const { run, calls } = startWith(
      { inspect: 0 },
      { mode: 'host', pid: process.pid },
      { allowHostNetwork: 'true' },
    );

    expect(calls.map((call) => call.split(' ')[0]).slice(0, 3)).toEqual(['inspect', 'ps', 'run']);
    const started = calls.find((call) => call.startsWith('run '))!;
    if (expected) expect(started).toMatch(new RegExp(` tcpdump .* -i ${expected}( |$)`));
    expect(run.stderr).toContain("uses the host's network and allowHostNetwork is true");
  });

  it('with allowHostNetwork=true, keeps an explicit iface, and the tool’s default when the route table is unreadable', () => {
    const explicit = startWith(
      { inspect: 0 },
      { mode: 'host', pid: process.pid },
      { allowHostNetwork: 'true', iface: 'lo' },
    );
    const unreadable = startWith(
      { inspect: 0 },
      { mode: 'host', pid: 999999999 },
      { allowHostNetwork: 'true' },
    );

    expect(explicit.calls.find((call) => call.startsWith('run '))).toMatch(/ -i lo( |$)/);
    expect(unreadable.calls.find((call) => call.startsWith('run '))).not.toMatch(/ -i /);
    expect(unreadable.manifest?.error?.code).not.toBe('HOST_NETWORK_NOT_ALLOWED');
  });
});

/** What the runner's default_route_iface reads from a route table: the lowest-metric up default route. */
function defaultRouteIface(table: string): string | undefined {
  const routes = table
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter(
      ([, dest, , flags, , , , mask]) =>
        dest === '00000000' && mask === '00000000' && (parseInt(flags, 16) & 1) === 1,
    )
    .sort((a, b) => Number(a[6]) - Number(b[6]));
  return routes[0]?.[0];
}

describe('toolbox/Dockerfile', () => {
  const dockerfile = readFileSync(join(packageRoot(), 'toolbox', 'Dockerfile'), 'utf8');

  it('pins its base image by digest, and says how to refresh it', () => {
    const from = dockerfile.split('\n').filter((line) => line.startsWith('FROM '));

    expect(from).toEqual([expect.stringMatching(/^FROM debian:bookworm-slim@sha256:[a-f0-9]{64}$/)]);
    expect(dockerfile).toContain('docker buildx imagetools inspect debian:bookworm-slim');
  });
});
