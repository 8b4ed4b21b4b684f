import { App } from 'aws-cdk-lib';
import { stackPropsFromContext } from '../../lib/infra/app-context';
import { fakeToolboxDirectory, functionsByHandler, synth } from './helpers';

function apiEnv(requireReason?: boolean): Record<string, unknown> {
  const { template } = synth({ toolboxDirectory: fakeToolboxDirectory(), requireReason });
  const api = functionsByHandler(template).api.resource;
  return (api.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
}

describe('requireReason', () => {
  it('is off by default: the api function is told REQUIRE_REASON=false', () => {
    expect(apiEnv().REQUIRE_REASON).toBe('false');
  });

  it('tells the api function to refuse sessions without a reason when set', () => {
    expect(apiEnv(true).REQUIRE_REASON).toBe('true');
  });

  it('is read from context as a string (-c) or a JSON boolean (cdk.json), and refuses anything else', () => {
    const propsFor = (context: Record<string, unknown>) => stackPropsFromContext(new App({ context }).node);
    expect(propsFor({ requireReason: 'true' }).requireReason).toBe(true);
    expect(propsFor({ requireReason: false }).requireReason).toBe(false);
    expect(propsFor({}).requireReason).toBeUndefined();
    expect(() => propsFor({ requireReason: 'yes' })).toThrow(/Context requireReason must be true or false/);
  });
});
