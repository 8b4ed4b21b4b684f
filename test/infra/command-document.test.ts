import { HOST_PARAMS } from '../../lib/domain/params';
import { resourcesOfType, synth } from './helpers';

const { template } = synth();

interface DocumentParameter {
  allowedPattern?: string;
  interpolationType?: string;
}

interface CommandDocumentContent {
  parameters: Record<string, DocumentParameter>;
  mainSteps: { action: string; inputs: { runCommand: string[] | string; timeoutSeconds?: string } }[];
}

const [document] = Object.values(resourcesOfType(template, 'AWS::SSM::Document'));
const content = document.Properties.Content as CommandDocumentContent;

describe('SSM command document', () => {
  it('is a JSON Command document that is updated in place with a new version', () => {
    expect(document.Properties).toMatchObject({
      DocumentType: 'Command',
      DocumentFormat: 'JSON',
      UpdateMethod: 'NewVersion',
    });
  });

  it('declares exactly the host parameters of params.ts', () => {
    expect(Object.keys(content.parameters).sort()).toEqual(Object.keys(HOST_PARAMS).sort());
  });

  const scriptParams = Object.entries(HOST_PARAMS).filter(([name]) => name !== 'executionTimeout');

  it.each(scriptParams)(
    'gives %s the pattern of params.ts and passes it as an environment variable',
    (name, param) => {
      expect(content.parameters[name]).toMatchObject({
        allowedPattern: param.pattern,
        interpolationType: 'ENV_VAR',
      });
    },
  );

  // The agent itself reads executionTimeout ({{ executionTimeout }} in the step's timeoutSeconds),
  // never the script; its pattern admits digits only, so text substitution cannot inject anything.
  it('substitutes executionTimeout only into the step timeout, restricted to digits', () => {
    expect(content.parameters.executionTimeout.allowedPattern).toBe(HOST_PARAMS.executionTimeout.pattern);
    expect(HOST_PARAMS.executionTimeout.pattern).toMatch(/^\^\[1-9\]\[0-9\]\{\d+,\d+\}\$$/);
    expect(content.mainSteps[0].inputs.timeoutSeconds).toBe('{{ executionTimeout }}');
  });

  it('never substitutes {{ parameters }} into the shell script', () => {
    const scripts = content.mainSteps
      .filter((step) => step.action === 'aws:runShellScript')
      .map((step) => [step.inputs.runCommand].flat().join('\n'));

    expect(scripts).not.toHaveLength(0);
    for (const script of scripts) expect(script).not.toContain('{{');
  });
});
