import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AssetHashType, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture, CfnFunction, Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge, acknowledgeWildcardResources } from './nag';
import { BUNDLES_DIR, LAMBDA_DIR, PROJECT_ROOT } from './paths';

import { HANDLER_METADATA_KEY, type HandlerName } from './handlers';

export { HANDLER_METADATA_KEY, HANDLER_NAMES, type HandlerName } from './handlers';

/** A session's handlers make a few SDK calls each; Step Functions does all waiting (DESIGN section 6). */
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
 * One of our handlers as a Lambda function, with the defaults they all share: its own role (no AWS
 * managed policy: it may write to its own log group and nothing else until granted more), an
 * explicit log group with a retention, arm64, Node.js 22, and a minified single-file bundle that
 * carries its own AWS SDK (the version the tests ran with, not whatever the runtime ships).
 *
 * The construct id must be the handler's name: entry `lambda/<id>.ts`.
 */
export class DebugFunction extends Construct {
  public readonly function: LambdaFunction;
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

    this.function = new LambdaFunction(this, 'Resource', {
      code: handlerCode(id),
      handler: 'index.handler',
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
 * at synth, as `npx cdk deploy` has always done, with the options of lib/infra/handler-bundling.ts
 * (run in a child process: CDK bundles synchronously, esbuild's plugins need its asynchronous API).
 * An installed package ships no sources: it deploys the bundle made from them when the package was
 * packed (`dist/bundles/<name>/`, by this very bundling).
 */
function handlerCode(name: HandlerName): Code {
  const entry = join(LAMBDA_DIR, `${name}.ts`);
  if (existsSync(entry)) {
    return Code.fromAsset(LAMBDA_DIR, {
      // The bundle's own hash: a change anywhere in lib/ or in the SDK that reaches it redeploys it.
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        // Never used: local bundling below always bundles or fails (no silent Docker fallback).
        image: Runtime.NODEJS_22_X.bundlingImage,
        // CDK caches a bundling by its serializable options, which would be the same for every
        // handler (tryBundle is a function): the entry tells them apart.
        environment: { DEBUG_TASK_HANDLER_ENTRY: entry },
        local: {
          tryBundle(outputDir: string): boolean {
            const script = join(PROJECT_ROOT, 'lib', 'infra', 'bundle-handler.ts');
            const result = spawnSync(process.execPath, ['--import', 'tsx', script, entry, outputDir], {
              cwd: PROJECT_ROOT,
              stdio: ['ignore', 'inherit', 'inherit'],
            });
            if (result.status !== 0) {
              throw new Error(
                `debug-task: bundling the ${name} handler failed (${result.error?.message ?? `exit ${result.status}`}); ` +
                  'in a clone run `npm ci` first.',
              );
            }
            return true;
          },
        },
      },
    });
  }
  const bundle = join(BUNDLES_DIR, name);
  if (existsSync(join(bundle, 'index.js'))) return Code.fromAsset(bundle);
  throw new Error(
    `debug-task: neither the source of the ${name} handler (${entry}) nor its bundle (${bundle}/index.js) ` +
      'is there; in a clone run `npm ci`, in an installed package reinstall debug-task.',
  );
}
