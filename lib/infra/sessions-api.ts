import { RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { LOG_RETENTION } from './debug-function';
import type { IKey } from 'aws-cdk-lib/aws-kms';

/**
 * Requests per second (steady, burst) of the whole API. Sessions are started by people, and the
 * CLI polls one session every few seconds: this leaves room for a team and stops a runaway script
 * before it floods Step Functions and SSM.
 */
export const API_THROTTLE = { rateLimit: 10, burstLimit: 20 } as const;

export interface SessionsApiProps {
  /** The `api` function: the session routes (lib/api/routes.ts dispatches on the route key). */
  readonly handler: IFunction;
  /**
   * The `plan` function: the routes that resolve a target and start nothing (preview, doctor) run
   * Plan's own code (lib/api/checks.ts), so the api function carries no resolver.
   */
  readonly checksHandler: IFunction;
  /** The stack's log key (lib/infra/stack-keys.ts): the access log group is encrypted with it. */
  readonly logKey: IKey;
}

/**
 * The HTTP API the CLI talks to: `POST /sessions`, `GET /sessions`, `GET /sessions/{id}`,
 * `DELETE /sessions/{id}`, `POST /sessions/{id}/reupload`, `GET /sessions/{id}/reupload/{reuploadId}`,
 * `POST /sessions/preview`, `POST /doctor`. IAM auth on every route: callers sign with SigV4 and need
 * `execute-api:Invoke`, so who may debug production is an IAM policy, not a shared secret.
 */
export class SessionsApi extends Construct {
  public readonly api: HttpApi;
  public readonly stage: HttpStage;

  constructor(scope: Construct, id: string, props: SessionsApiProps) {
    super(scope, id);

    this.api = new HttpApi(this, 'Resource', {
      description: 'debug-task: start, follow and cancel remote debug sessions',
      defaultAuthorizer: new HttpIamAuthorizer(),
      // Our own $default stage below: the implicit one takes no throttling or access log settings.
      createDefaultStage: false,
    });

    const integration = new HttpLambdaIntegration('Sessions', props.handler);
    this.api.addRoutes({ path: '/sessions', methods: [HttpMethod.POST, HttpMethod.GET], integration });
    this.api.addRoutes({ path: '/sessions/{id}', methods: [HttpMethod.GET, HttpMethod.DELETE], integration });
    // debug-task fetch of a session whose upload failed: re-upload the artifact kept on its host.
    this.api.addRoutes({ path: '/sessions/{id}/reupload', methods: [HttpMethod.POST], integration });
    this.api.addRoutes({
      path: '/sessions/{id}/reupload/{reuploadId}',
      methods: [HttpMethod.GET],
      integration,
    });
    const checks = new HttpLambdaIntegration('Checks', props.checksHandler);
    // debug-task doctor: every precondition of a session checked, nothing started.
    this.api.addRoutes({ path: '/doctor', methods: [HttpMethod.POST], integration: checks });
    // A target's tasks and hosts, resolved without starting anything (the CLI's confirmation).
    this.api.addRoutes({ path: '/sessions/preview', methods: [HttpMethod.POST], integration: checks });

    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: LOG_RETENTION,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      autoDeploy: true,
      throttle: API_THROTTLE,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        // The signer's ARN is the audit trail of who started or cancelled which session.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            time: '$context.requestTime',
            caller: '$context.identity.userArn',
            sourceIp: '$context.identity.sourceIp',
            routeKey: '$context.routeKey',
            path: '$context.path',
            status: '$context.status',
            latencyMs: '$context.responseLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
  }

  /** `https://<id>.execute-api.<region>.<suffix>/`: the base URL the CLI and the API client use. */
  public get url(): string {
    return this.stage.url;
  }
}
