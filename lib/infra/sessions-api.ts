import { RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ROUTES } from '../domain/routes';
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
   * The `plan` function: the route that resolves a target and starts nothing (preview) runs Plan's
   * own code (lib/api/checks.ts), so the api function carries no resolver.
   */
  readonly checksHandler: IFunction;
  /**
   * The `doctor` function: the doctors' routes (lib/api/doctor-routes.ts), which check and start
   * nothing; a function of their own, so that plan carries neither their code nor their reads.
   */
  readonly doctorHandler: IFunction;
  /** The stack's log key (lib/infra/stack-keys.ts): the access log group is encrypted with it. */
  readonly logKey: IKey;
}

/**
 * The HTTP API the CLI talks to: the routes of lib/domain/routes.ts (cluster, and for a start the
 * tool, in the path). IAM auth on every route: callers sign with SigV4 and need `execute-api:Invoke`
 * on the routes they use, so who may debug which cluster with which tool is an IAM policy.
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

    // Every route of lib/domain/routes.ts, IAM-authorized: the route table is the one source the
    // client's paths and the README's IAM examples are tested against.
    const integrations = {
      api: new HttpLambdaIntegration('Sessions', props.handler),
      checks: new HttpLambdaIntegration('Checks', props.checksHandler),
      doctor: new HttpLambdaIntegration('Doctor', props.doctorHandler),
    };
    for (const route of Object.values(ROUTES)) {
      this.api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration: integrations[route.handler],
      });
    }

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
