import { HOST_PARAMS } from '../../../lib/domain/params';
import { AwsApiError } from '../../../lib/sandbox/aws-json-server';
import {
  assertSupportedDocument,
  executionTimeout,
  prepareRunShellScript,
  resolveParameters,
  substituteParameters,
  type SsmDocument,
} from '../../../lib/sandbox/ssm-document';

const doc: SsmDocument = {
  schemaVersion: '2.2',
  parameters: {
    msg: {
      type: 'String',
      allowedPattern: '^[A-Za-z0-9 ]{0,20}$',
      maxChars: 20,
      interpolationType: 'ENV_VAR',
    },
    mode: { type: 'String', allowedValues: ['fast', 'slow'], default: 'fast', interpolationType: 'ENV_VAR' },
    executionTimeout: {
      type: 'String',
      allowedPattern: '^[0-9]{1,5}$',
      default: '600',
      interpolationType: 'ENV_VAR',
    },
    plain: { type: 'String', default: 'text-only' },
    hosts: { type: 'StringList', allowedPattern: '^[a-z]+$', minItems: 1, maxItems: 3, default: ['a'] },
  },
  mainSteps: [
    {
      action: 'aws:runShellScript',
      name: 'runDebugTask',
      inputs: {
        runCommand: ['#!/bin/bash', 'echo "$SSM_msg" "{{ plain }}"'],
        timeoutSeconds: '{{ executionTimeout }}',
      },
    },
  ],
};

function invalidParameters(run: () => unknown): AwsApiError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AwsApiError);
    expect((error as AwsApiError).type).toBe('InvalidParameters');
    return error as AwsApiError;
  }
  throw new Error('expected InvalidParameters');
}

describe('resolveParameters (SendCommand validation)', () => {
  it('applies defaults to every parameter that was not given', () => {
    expect(resolveParameters(doc, { msg: ['hello'] })).toEqual({
      msg: 'hello',
      mode: 'fast',
      executionTimeout: '600',
      plain: 'text-only',
      hosts: ['a'],
    });
  });

  it('rejects a parameter the document does not define', () => {
    const error = invalidParameters(() => resolveParameters(doc, { msg: ['hi'], extra: ['x'] }));
    expect(error.message).toContain('extra');
  });

  it('rejects a missing parameter that has no default', () => {
    invalidParameters(() => resolveParameters(doc, {}));
  });

  it.each([
    ['command substitution', '$(touch /tmp/pwned)'],
    ['backticks', '`id`'],
    ['a statement separator', 'a; rm -rf /'],
    ['a newline', 'a\nb'],
  ])('rejects %s with allowedPattern, without echoing the value', (_what, value) => {
    const error = invalidParameters(() => resolveParameters(doc, { msg: [value] }));
    expect(error.message).toContain('allowedPattern');
    expect(error.message).not.toContain(value);
  });

  it('rejects a value longer than maxChars', () => {
    expect(invalidParameters(() => resolveParameters(doc, { msg: ['a'.repeat(21)] })).message).toContain(
      'maxChars',
    );
  });

  it('rejects a value outside allowedValues', () => {
    invalidParameters(() => resolveParameters(doc, { msg: ['x'], mode: ['turbo'] }));
  });

  it('takes exactly one value for a String parameter', () => {
    invalidParameters(() => resolveParameters(doc, { msg: ['a', 'b'] }));
    invalidParameters(() => resolveParameters(doc, { msg: [] }));
  });

  it('checks every item and the item count of a StringList', () => {
    expect(resolveParameters(doc, { msg: ['x'], hosts: ['a', 'b'] }).hosts).toEqual(['a', 'b']);
    invalidParameters(() => resolveParameters(doc, { msg: ['x'], hosts: ['a', 'B'] }));
    invalidParameters(() => resolveParameters(doc, { msg: ['x'], hosts: ['a', 'b', 'c', 'd'] }));
  });

  it('rejects values that are not lists of strings', () => {
    invalidParameters(() => resolveParameters(doc, { msg: 'hello' }));
    invalidParameters(() => resolveParameters(doc, ['msg']));
  });

  it('accepts only what the shared host patterns accept when they are the allowedPattern', () => {
    const filterDoc: SsmDocument = {
      schemaVersion: '2.2',
      parameters: { filter: { type: 'String', allowedPattern: HOST_PARAMS.filter.pattern, maxChars: 1024 } },
      mainSteps: doc.mainSteps,
    };
    expect(resolveParameters(filterDoc, { filter: ['tcp port 443 and host 10.0.0.5'] }).filter).toBe(
      'tcp port 443 and host 10.0.0.5',
    );
    invalidParameters(() => resolveParameters(filterDoc, { filter: ['tcp port 443 $(reboot)'] }));
  });
});

describe('substituteParameters (the agent`s {{ }} replacement)', () => {
  const values = { a: 'one', list: ['x', 'y'], tricky: '{{ a }}' };

  it('replaces text references, with or without spaces inside the braces', () => {
    expect(substituteParameters('echo {{a}} {{ a }} {{  a  }}', values)).toBe('echo one one one');
  });

  it('keeps a list a list when the string is exactly the reference, and writes JSON inside text', () => {
    expect(substituteParameters(['{{ list }}'], values)).toEqual([['x', 'y']]);
    expect(substituteParameters('hosts={{ list }}', values)).toBe('hosts=["x","y"]');
  });

  it('does not substitute again inside a substituted value', () => {
    expect(substituteParameters('v={{ tricky }}', values)).toBe('v={{ a }}');
  });

  it('leaves braces that name no parameter alone (Go templates in docker -f)', () => {
    expect(substituteParameters("docker inspect -f '{{.State.Running}}' {{ unknown }}", values)).toBe(
      "docker inspect -f '{{.State.Running}}' {{ unknown }}",
    );
  });

  it('inserts a value literally, even one that contains $ or regex replacement patterns', () => {
    expect(substituteParameters('x={{ a }}', { a: "$& $1 $' $(id)" })).toBe("x=$& $1 $' $(id)");
  });
});

describe('prepareRunShellScript', () => {
  it('writes the commands one per line, exports ENV_VAR parameters only, and reads the timeout', () => {
    const prepared = prepareRunShellScript(
      doc,
      resolveParameters(doc, { msg: ['hi'], executionTimeout: ['90'] }),
    );
    expect(prepared.stepName).toBe('runDebugTask');
    expect(prepared.script).toBe('#!/bin/bash\necho "$SSM_msg" "text-only"\n');
    expect(prepared.env).toEqual({ SSM_msg: 'hi', SSM_mode: 'fast', SSM_executionTimeout: '90' });
    expect(prepared.timeoutSeconds).toBe(90);
  });

  it('flattens a list parameter used as a whole runCommand line', () => {
    const listDoc: SsmDocument = {
      schemaVersion: '2.2',
      parameters: { commands: { type: 'StringList' } },
      mainSteps: [
        { action: 'aws:runShellScript', name: 's', inputs: { runCommand: ['set -e', '{{ commands }}'] } },
      ],
    };
    const prepared = prepareRunShellScript(
      listDoc,
      resolveParameters(listDoc, { commands: ['echo 1', 'echo 2'] }),
    );
    expect(prepared.script).toBe('set -e\necho 1\necho 2\n');
    expect(prepared.env).toEqual({});
    expect(prepared.timeoutSeconds).toBe(3600);
  });
});

describe('executionTimeout (the agent`s ValidateExecutionTimeout)', () => {
  it.each([
    ['600', 600],
    [600, 600],
    ['12.9', 12],
    ['5', 5],
    ['4', 3600],
    ['172801', 3600],
    ['', 3600],
    [' 10', 3600],
    ['0x10', 3600],
    [undefined, 3600],
  ])('reads %p as %p seconds', (input, seconds) => {
    expect(executionTimeout(input)).toBe(seconds);
  });
});

describe('assertSupportedDocument', () => {
  it('accepts a schema 2.2 document with one shell step', () => {
    expect(() => assertSupportedDocument(doc)).not.toThrow();
  });

  it.each<[string, SsmDocument]>([
    ['another schema', { ...doc, schemaVersion: '1.2' }],
    ['two steps', { ...doc, mainSteps: [doc.mainSteps[0], doc.mainSteps[0]] }],
    ['another plugin', { ...doc, mainSteps: [{ ...doc.mainSteps[0], action: 'aws:runPowerShellScript' }] }],
    [
      'a pattern that does not compile',
      { ...doc, parameters: { p: { type: 'String', allowedPattern: '^(' } } },
    ],
    ['a parameter name the agent rejects', { ...doc, parameters: { 'my-param': { type: 'String' } } }],
  ])('refuses %s', (_what, bad) => {
    expect(() => assertSupportedDocument(bad)).toThrow(/cannot run in the sandbox/);
  });
});
