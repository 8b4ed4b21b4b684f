import { Match } from 'aws-cdk-lib/assertions';
import { API_THROTTLE } from '../../lib/infra/sessions-api';
import { flat, functionsByHandler, resourcesOfType, synth } from './helpers';

const { template } = synth();
const apiFunction = functionsByHandler(template).api.logicalId;

describe('HTTP API', () => {
  it('has exactly the four session routes, the preview route, the two re-upload routes and POST /doctor', () => {
    const routeKeys = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Route')).map(
      (route) => route.Properties.RouteKey,
    );

    expect(routeKeys.sort()).toEqual([
      'DELETE /sessions/{id}',
      'GET /sessions',
      'GET /sessions/{id}',
      'GET /sessions/{id}/reupload/{commandId}',
      'POST /doctor',
      'POST /sessions',
      'POST /sessions/preview',
      'POST /sessions/{id}/reupload',
    ]);
  });

  it('requires IAM (SigV4) authorization on every route', () => {
    template.allResourcesProperties('AWS::ApiGatewayV2::Route', { AuthorizationType: 'AWS_IAM' });
  });

  it('sends every route to the api function with payload format 2.0', () => {
    const integrations = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Integration'));

    expect(integrations.length).toBeGreaterThan(0);
    for (const integration of integrations) {
      expect(integration.Properties).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
      });
      expect(flat(integration.Properties.IntegrationUri)).toBe(`<${apiFunction}.Arn>`);
    }
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
      ['ApiUrl', 'BucketName', 'DocumentName', 'Region', 'StateMachineArn'].sort(),
    );
  });

  it('gives the API URL of the $default stage and the region of the stack', () => {
    const outputs = template.toJSON().Outputs;

    expect(flat(outputs.ApiUrl.Value)).toMatch(
      /^https:\/\/<Api[0-9A-F]{8}>\.execute-api\.<AWS::Region>\.<AWS::URLSuffix>\/$/,
    );
    expect(outputs.Region.Value).toEqual({ Ref: 'AWS::Region' });
  });
});
