import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture, CfnFunction, Code, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge, acknowledgeWildcardResources } from './nag';
import { CEDAR_PACKAGE } from './policy-layer';
import { BUNDLES_DIR, LAMBDA_DIR, LOCK_FILE, PROJECT_ROOT } from './paths';

import { HANDLER_METADATA_KEY, type HandlerName } from './handlers';

export { HANDLER_METADATA_KEY, HANDLER_NAMES, type HandlerName } from './handlers';

/** A session's handlers make a few SDK calls each; Step Functions does all waiting (DESIGN section 6). */
/** What the bundles use for `@aws-sdk/credential-provider-node` (see that file). */
const LAMBDA_CREDENTIALS = join(PROJECT_ROOT, 'lib', 'aws', 'lambda-credentials.ts');

export const DEFAULT_FUNCTION_TIMEOUT = Duration.seconds(30);

/**
 * Retention of the stack's operational log groups (functions, state machine, API access logs): a
 * year, as AWS Control Tower's CT.CLOUDWATCH.PR.2 asks, since they too name who started what. The
 * audit log's retention is a deploy setting of its own (lib/infra/audit-log.ts).
 */
export const LOG_RETENTION = RetentionDays.ONE_YEAR;

export interface DebugFunctionProps {
  /** Environment variables of the function (see docs/ARCHITECTURE.md). */
  readonly environment: Record<string, string>;
  /** The stack's log key (lib/infra/stack-keys.ts): the function's log group is encrypted with it. */
  readonly logKey: IKey;
  /**
   * Longest run of one invocation.
   *
   * @default DEFAULT_FUNCTION_TIMEOUT (30 s)
   */
  readonly timeout?: Duration;
}

/** A permission of a debug function, and why it needs it (also the cdk-nag reason for any wildcard). */
export interface Permission {
  readonly actions: string[];
  readonly resources: string[];
  readonly conditions?: Record<string, Record<string, unknown>>;
  /** Why the function needs it; for a wildcard resource, why nothing narrower works. */
  readonly why: string;
}

/**
 * One of our handlers as a `NodejsFunction`, with the defaults they all share: its own role (no AWS
 * managed policy: it may write to its own log group and nothing else until granted more), an
 * explicit log group with a retention, arm64, Node.js 22, and a minified single-file bundle that
 * carries its own AWS SDK (the version the tests ran with, not whatever the runtime ships).
 *
 * The construct id must be the handler's name: entry `lambda/<id>.ts`.
 */
export class DebugFunction extends Construct {
  public readonly function: NodejsFunction;
  public readonly role: Role;

  constructor(scope: Construct, id: HandlerName, props: DebugFunctionProps) {
    super(scope, id);

    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `debug-task ${id} function`,
    });
    // RETAIN (the default, made explicit): who started which capture on which host is audit data
    // that must outlive a stack deletion; the retention bounds its cost.
    const logGroup = new LogGroup(this, 'Logs', {
      retention: LOG_RETENTION,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Resource', {
      ...handlerCode(id),
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: 256,
      timeout: props.timeout ?? DEFAULT_FUNCTION_TIMEOUT,
      role: this.role,
      logGroup,
      environment: props.environment,
    });
    (this.function.node.defaultChild as CfnFunction).addMetadata(HANDLER_METADATA_KEY, id);

    acknowledge(
      this,
      'nodejs22.x is the runtime this project targets (ARCHITECTURE.md, supported until 2027-04-30); ' +
        'moving to nodejs24.x is a one-line change here once the sandbox and CI run on Node 24.',
      'AwsSolutions-L1',
    );
  }

  /** Adds one permission to the function's role, acknowledging its wildcard resources with `why`. */
  public allow(permission: Permission): void {
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: permission.actions,
        resources: permission.resources,
        conditions: permission.conditions,
      }),
    );
    acknowledgeWildcardResources(this, permission.resources, permission.why);
  }
}

/**
 * Where a handler's code comes from. In a clone, its source (`lambda/<name>.ts`) is bundled by esbuild
 * at synth, as `npx cdk deploy` has always done. An installed package ships no sources: it deploys the
 * bundle made from them when the package was packed (`dist/bundles/<name>/`, by this very bundling).
 */
function handlerCode(
  name: HandlerName,
): Pick<NodejsFunctionProps, 'entry' | 'handler' | 'code' | 'projectRoot' | 'depsLockFilePath' | 'bundling'> {
  const entry = join(LAMBDA_DIR, `${name}.ts`);
  if (existsSync(entry)) {
    return {
      entry,
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: LOCK_FILE,
      bundling: {
        minify: true,
        sourceMap: false,
        format: OutputFormat.CJS,
        // Pin the SDK we tested (checksum defaults included) instead of the runtime's copy.
        bundleAwsSDK: true,
        // The SDK's ES module builds (`module`) tree-shake; its CommonJS builds (`main`) do not:
        // about half the bundle and half the module init time (BENCHMARKS.md, Lambda cold start).
        mainFields: ['module', 'main'],
        // Functions get their role's credentials from the environment only: the SDK's default
        // chain (profiles, SSO, IMDS, ...) is swapped for that one link (lib/aws/lambda-credentials.ts).
        esbuildArgs: { [`--alias:@aws-sdk/credential-provider-node`]: LAMBDA_CREDENTIALS },
        // The Cedar engine loads its wasm from beside its own file: it comes in the policy layer
        // (lib/infra/policy-layer.ts), given only to the deciding functions of a deployment with a policy.
        externalModules: [CEDAR_PACKAGE],
      },
    };
  }
  const bundle = join(BUNDLES_DIR, name);
  if (existsSync(join(bundle, 'index.js'))) return { code: Code.fromAsset(bundle), handler: 'index.handler' };
  throw new Error(
    `debug-task: neither the source of the ${name} handler (${entry}) nor its bundle (${bundle}/index.js) ` +
      'is there; in a clone run `npm ci`, in an installed package reinstall debug-task.',
  );
}
