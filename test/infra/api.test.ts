import { Match } from 'aws-cdk-lib/assertions';
import { ROUTES, routeKey, type RouteName } from '../../lib/domain/routes';
import { API_THROTTLE } from '../../lib/infra/sessions-api';
import { flat, functionsByHandler, resourcesOfType, synth } from './helpers';

const { template } = synth();
const functions = functionsByHandler(template);

describe('HTTP API', () => {
  it('has exactly the routes of lib/domain/routes.ts: the cluster in every session path, the tool in a start’s', () => {
    const routeKeys = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Route')).map(
      (route) => route.Properties.RouteKey as string,
    );

    expect(routeKeys.sort()).toEqual((Object.keys(ROUTES) as RouteName[]).map(routeKey).sort());
    // GET /sessions (across clusters) and POST /doctor (the deployment, `doctor --stack`).
    expect(routeKeys.filter((key) => !key.includes('/clusters/{cluster}/')).sort()).toEqual([
      'GET /sessions',
      'POST /doctor',
    ]);
  });

  it('requires IAM (SigV4) authorization on every route', () => {
    template.allResourcesProperties('AWS::ApiGatewayV2::Route', { AuthorizationType: 'AWS_IAM' });
  });

  /** Route key -> the handler its integration invokes. */
  function handlerOfRoute(): Record<string, string> {
    const integrations = resourcesOfType(template, 'AWS::ApiGatewayV2::Integration');
    const byArn = Object.fromEntries(
      Object.entries(functions).map(([name, fn]) => [`<${fn.logicalId}.Arn>`, name]),
    );
    return Object.fromEntries(
      Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Route')).map((route) => {
        const target = flat(route.Properties.Target).replace(/^integrations\//, '');
        const integration = integrations[target.replace(/^<|>$/g, '')];
        return [route.Properties.RouteKey as string, byArn[flat(integration.Properties.IntegrationUri)]];
      }),
    );
  }

  it('sends the session and re-upload routes to the api function, preview to the plan function, both doctors to the doctor function', () => {
    expect(handlerOfRoute()).toEqual({
      'POST /clusters/{cluster}/tools/{tool}/sessions': 'api',
      'GET /sessions': 'api',
      'GET /clusters/{cluster}/sessions': 'api',
      'GET /clusters/{cluster}/sessions/{id}': 'api',
      'GET /clusters/{cluster}/sessions/{id}/chunks': 'api',
      'DELETE /clusters/{cluster}/sessions/{id}': 'api',
      'POST /clusters/{cluster}/sessions/{id}/stop': 'api',
      'POST /clusters/{cluster}/sessions/{id}/reupload': 'api',
      'GET /clusters/{cluster}/sessions/{id}/reupload/{reuploadId}': 'api',
      'POST /clusters/{cluster}/tools/{tool}/preview': 'plan',
      'POST /clusters/{cluster}/doctor': 'doctor',
      'POST /doctor': 'doctor',
    });
  });

  it('integrates each function once, as a Lambda proxy with payload format 2.0', () => {
    const integrations = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Integration'));

    expect(integrations.map((i) => flat(i.Properties.IntegrationUri)).sort()).toEqual(
      [
        `<${functions.api.logicalId}.Arn>`,
        `<${functions.plan.logicalId}.Arn>`,
        `<${functions.doctor.logicalId}.Arn>`,
      ].sort(),
    );
    for (const integration of integrations) {
      expect(integration.Properties).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
      });
    }
  });

  it('lets API Gateway invoke the api, plan and doctor functions, and no other', () => {
    const invoked = Object.values(resourcesOfType(template, 'AWS::Lambda::Permission'))
      .filter((permission) => permission.Properties.Principal === 'apigateway.amazonaws.com')
      .map((permission) => flat(permission.Properties.FunctionName));

    expect([...new Set(invoked)].sort()).toEqual(
      [
        `<${functions.api.logicalId}.Arn>`,
        `<${functions.plan.logicalId}.Arn>`,
        `<${functions.doctor.logicalId}.Arn>`,
      ].sort(),
    );
  });

  it('throttles and access-logs the auto-deployed $default stage', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingRateLimit: API_THROTTLE.rateLimit,
        ThrottlingBurstLimit: API_THROTTLE.burstLimit,
      },
      AccessLogSettings: {
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp('\\$context\\.identity\\.userArn'),
      },
    });
  });
});

describe('stack outputs', () => {
  it('publishes what the CLI looks the deployment up by', () => {
    expect(Object.keys(template.toJSON().Outputs).sort()).toEqual(
      ['ApiUrl', 'AuditLogGroupName', 'BucketName', 'DocumentName', 'Region', 'StateMachineArn'].sort(),
    );
  });

  it('gives the API URL of the $default stage and the region of the stack', () => {
    const outputs = template.toJSON().Outputs;

    expect(flat(outputs.ApiUrl.Value)).toMatch(
      /^https:\/\/<Api[0-9A-F]{8}>\.execute-api\.<AWS::Region>\.<AWS::URLSuffix>\/$/,
    );
    expect(outputs.Region.Value).toEqual({ Ref: 'AWS::Region' });
  });

  it('names the audit log group: the one the functions write audit events to, kept after the stack', () => {
    const { Outputs: outputs, Resources: resources } = template.toJSON();
    const group = (outputs.AuditLogGroupName.Value as { Ref: string }).Ref;

    expect(resources[group]).toMatchObject({ Type: 'AWS::Logs::LogGroup', DeletionPolicy: 'Retain' });
    type Resource = { Type: string; Properties?: { Environment?: { Variables?: Record<string, unknown> } } };
    const auditEnv = Object.values(resources as Record<string, Resource>)
      .filter((r) => r.Type === 'AWS::Lambda::Function')
      .map((r) => r.Properties?.Environment?.Variables?.AUDIT_LOG_GROUP)
      .filter(Boolean);
    expect(auditEnv.length).toBeGreaterThan(0);
    for (const value of auditEnv) expect(value).toEqual({ Ref: group });
  });
});
