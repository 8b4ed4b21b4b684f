import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BuildOptions, Plugin } from 'esbuild';
import { PROJECT_ROOT } from './paths';
import { CEDAR_PACKAGE } from './policy-layer';

/**
 * How a handler (`lambda/<name>.ts`) becomes the one-file bundle a function deploys. The single
 * source of these options: the stack (lib/infra/debug-function.ts, through bundle-handler.ts), the
 * packed bundles (scripts/bundle-lambdas.ts synthesizes the stack) and the benchmark's breakdown
 * (bench/suites/lambda.ts) all use them. Types only from esbuild here: an installed package, which
 * deploys prebuilt bundles, loads this module without esbuild.
 */

/** What the bundles use for `@aws-sdk/credential-provider-node` (see that file). */
export const LAMBDA_CREDENTIALS = join(PROJECT_ROOT, 'lib', 'aws', 'lambda-credentials.ts');

/**
 * `HttpProtocol.loadEventStreamCapability` loads `@smithy/core/event-streams` with a dynamic
 * `import()`, only for an operation with an event stream; none of ours has one. Bundled, esbuild
 * wraps the target of a dynamic import, and everything it imports, in lazy initializers, which it
 * does not tree-shake: ~170 SDK modules kept whole (~20 KB of every function), plus the event-stream
 * serde itself. So that one dynamic import is left out of the bundle (an event-stream call would fail
 * to load it: loud). The static imports of the same module (S3Client's config needs a part of it
 * when it loads) are bundled as usual.
 */
export const EVENT_STREAMS = '@smithy/core/event-streams';

/**
 * The same goes for the default event-stream serde a client's runtime config imports
 * (`eventStreamSerdeProvider`: S3 and CloudWatch Logs, for SelectObjectContent and StartLiveTail):
 * the client makes one when it is built, and uses it only for an event-stream operation. It brings the
 * whole event-stream codec (~9 KB of every function with S3 or the audit log). A client's runtime
 * config gets, in its place, a provider whose marshaller refuses to work (loud, as above). The
 * client's own `resolveEventStreamSerdeConfig` (it calls the provider) stays the SDK's.
 */
export const SDK_RUNTIME_CONFIG = /[\\/]@aws-sdk[\\/]client-[^\\/]+[\\/]dist-es[\\/]runtimeConfig\.js$/;
const NO_EVENT_STREAMS = 'debug-task-no-event-streams';
export const NO_EVENT_STREAM_SERDE = `
const refuse = () => { throw new Error("This bundle leaves out the AWS SDK's event-stream serde (lib/infra/handler-bundling.ts): no operation of ours has an event stream."); };
export const eventStreamSerdeProvider = () => ({ serialize: refuse, deserialize: refuse });
`;

/**
 * The SDK's generated schemas (`@aws-sdk/client-<x>/dist-es/schemas/schemas_0.js`) declare every
 * operation and shape of the service as `export var Name$ = [ ... { [_h]: ... } ... ];`, and its lists
 * and maps as `var Names = [1, n0, _N, 0, [() => Name$, { [_xN]: _N }]];` (not exported). esbuild
 * keeps any unused array holding an object with a computed key (it cannot prove the key has no side
 * effect), so every schema of the service stayed in the bundle (S3: 66 KB for the five operations we
 * call). Wrapping each such initializer in a `/* @__PURE__ *\/` arrow call changes nothing when it
 * runs (the same array, built at the same point) and lets esbuild drop the unused ones (S3: 66 ->
 * ~12 KB). A file whose layout changes simply matches nothing: the bundle grows, and the benchmark's
 * size figure shows it.
 */
export const SDK_SCHEMAS = /[\\/]@aws-sdk[\\/]client-[^\\/]+[\\/]dist-es[\\/]schemas[\\/]schemas_\d+\.js$/;

export function pureSchemas(source: string): string {
  return source.replace(
    /^((?:export )?var [\w$]+ = )(\[[\s\S]*?\]);$/gm,
    (_match, head: string, array: string) => `${head}/* @__PURE__ */ (() => ${array})();`,
  );
}

/**
 * The same schemas file registers every modeled error of the service with the SDK
 * (`n0_registry.registerError(Name$, Name);`, SSM: ~140 of them): a side effect, so every error
 * class and its schema stayed in every function that sends one command of that service (SSM: ~40 KB,
 * ~100 KB of `plan` in all). Our code never tells SDK errors apart by class: it reads `name`,
 * `message`, `$metadata` (lib/aws/errors.ts, the one translator), never `instanceof`. An error whose
 * class is not registered is thrown as the service's base exception (`SSMServiceException`, whose
 * registration stays) named by the error code the service sent, with the same `message` and
 * `$metadata` (`ProtocolLib.getErrorSchemaOrThrowBaseException` in @aws-sdk/core). With the JSON and
 * REST-XML protocols (ECS, SSM, S3, Step Functions, ECR, Logs) that code is the error's shape name,
 * so the name is the class's. So the registrations are left out of the bundle, except:
 * - a client whose protocol reads awsQuery error codes (`queryCodes`: the query protocols, STS's, or a
 *   JSON one marked awsQueryCompatible) keeps them all: there a registration maps a code
 *   (`IDPCommunicationError`) to the class name (`IDPCommunicationErrorException`);
 * - a class with a retry trait (`$retryable`, in `retryable`) stays: the SDK's retry reads it.
 * test/unit/infra/handler-bundling.test.ts runs bundled code against the sandbox's stand-ins and
 * checks that SSM's InvalidInstanceId and ECS's ClusterNotFoundException still become our typed errors.
 */
export function withoutErrorRegistrations(
  source: string,
  client: { retryable: ReadonlySet<string>; queryCodes: boolean },
): string {
  if (client.queryCodes) return source;
  return source.replace(
    /^n\d+_registry\.registerError\(([\w$]+)\$, \1\);\n/gm,
    (line: string, name: string) => (client.retryable.has(name) ? line : ''),
  );
}

/** True when a client's `runtimeConfig.shared.js` names a protocol that reads awsQuery error codes. */
export function readsQueryCodes(runtimeConfigSource: string): boolean {
  return /\bAws(?:Ec2)?QueryProtocol\b|\bawsQueryCompatible\b/.test(runtimeConfigSource);
}

/** The error classes of a client's `models/errors.js` that carry a retry trait (`$retryable`). */
export function retryableErrorClasses(errorsSource: string): Set<string> {
  const names = new Set<string>();
  for (const part of errorsSource.split(/^export class /m).slice(1)) {
    const name = /^[\w$]+/.exec(part)?.[0];
    if (name && /\$retryable\b/.test(part)) names.add(name);
  }
  return names;
}

/**
 * Each client imports its whole package.json (~2 KB: scripts, dependencies, ...) for one field, its
 * `version`, which goes into the User-Agent header; the bundle gets only that field.
 */
export const SDK_CLIENT_PACKAGE_JSON = /[\\/]@aws-sdk[\\/]client-[^\\/]+[\\/]package\.json$/;

export const slimSdkPlugin: Plugin = {
  name: 'debug-task-slim-sdk',
  setup(build) {
    build.onLoad({ filter: SDK_SCHEMAS }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const dist = join(dirname(args.path), '..');
      const [errors, config] = await Promise.all(
        ['models/errors.js', 'runtimeConfig.shared.js'].map((file) =>
          readFile(join(dist, file), 'utf8').catch(() => undefined),
        ),
      );
      // A client laid out otherwise keeps every registration: nothing is left out on a guess.
      const slim =
        errors === undefined || config === undefined
          ? source
          : withoutErrorRegistrations(source, {
              retryable: retryableErrorClasses(errors),
              queryCodes: readsQueryCodes(config),
            });
      return { contents: pureSchemas(slim), loader: 'js' };
    });
    build.onResolve({ filter: /^@smithy\/core\/event-streams$/ }, (args) => {
      if (args.kind === 'dynamic-import') return { path: EVENT_STREAMS, external: true };
      if (SDK_RUNTIME_CONFIG.test(args.importer)) return { path: EVENT_STREAMS, namespace: NO_EVENT_STREAMS };
      return undefined;
    });
    build.onLoad({ filter: /.*/, namespace: NO_EVENT_STREAMS }, () => ({
      contents: NO_EVENT_STREAM_SERDE,
      loader: 'js',
    }));
    build.onLoad({ filter: SDK_CLIENT_PACKAGE_JSON }, async (args) => {
      const { version } = JSON.parse(await readFile(args.path, 'utf8')) as { version: string };
      return { contents: JSON.stringify({ version }), loader: 'json' };
    });
  },
};

/** esbuild options of a handler's bundle: `entry` (a `lambda/<name>.ts`) into `outfile`. */
export function handlerBuildOptions(entry: string, outfile: string): BuildOptions {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    // Lambda's nodejs22.x runtime.
    target: 'node22',
    format: 'cjs',
    minify: true,
    sourcemap: false,
    // The SDK's ES module builds (`module`) tree-shake; its CommonJS builds (`main`) do not:
    // about half the bundle and half the module init time (BENCHMARKS.md, Lambda cold start).
    mainFields: ['module', 'main'],
    // Every package is bundled, the AWS SDK included: the functions run the SDK the tests ran with
    // (checksum defaults included), not whatever copy the runtime ships. The one exception is the
    // Cedar engine, which loads its wasm from beside its own file: it comes in the policy layer
    // (lib/infra/policy-layer.ts), given only to the deciding functions of a deployment with a policy.
    external: [CEDAR_PACKAGE],
    // Functions get their role's credentials from the environment only: the SDK's default chain
    // (profiles, SSO, IMDS, ...) is swapped for that one link (lib/aws/lambda-credentials.ts).
    alias: { '@aws-sdk/credential-provider-node': LAMBDA_CREDENTIALS },
    plugins: [slimSdkPlugin],
    logLevel: 'warning',
  };
}
