import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { HOST_PARAMS, type HostParamName } from '../../lib/domain/params';
import { buildRunnerScript } from '../../lib/host/runner-script';
import { HOST_TAG_KEY } from '../../lib/infra/permissions';
import {
  PINNED_IMAGE,
  flat,
  functionsByHandler,
  resourcesOf,
  resourcesOfType,
  statementsAllowing,
  synth,
} from './helpers';

const built = synth();
const { template } = built;
const pinned = synth({ toolboxImage: PINNED_IMAGE });

interface DocumentParameter {
  allowedPattern?: unknown;
  interpolationType?: string;
}

interface CommandDocumentContent {
  parameters: Record<string, DocumentParameter>;
  mainSteps: { action: string; inputs: { runCommand: string[]; timeoutSeconds?: string } }[];
}

function documentOf(t: typeof template) {
  const [[logicalId, document]] = Object.entries(resourcesOfType(t, 'AWS::SSM::Document'));
  return { logicalId, document, content: document.Properties.Content as CommandDocumentContent };
}

const { logicalId: documentId, document, content } = documentOf(template);
const script = content.mainSteps[0].inputs.runCommand.join('\n');

/** The deployment's values of what CloudFormation resolves at deploy time, for evaluating patterns. */
const DEPLOYED: Record<string, string> = {
  'AWS::Region': 'xx-test-1',
  'AWS::AccountId': '123456789012',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::Partition': 'aws',
};
const BUCKET = 'debugtask-artifacts80c0bb10-abcdef123456';
const DIGEST = `sha256:${'cd'.repeat(32)}`;

/** Evaluates the intrinsic functions a pattern holds, as CloudFormation would with DEPLOYED values. */
function evaluate(node: unknown): unknown {
  if (typeof node === 'string') return node;
  if (Array.isArray(node)) return node.map(evaluate);
  const value = node as Record<string, unknown>;
  if (value.Ref !== undefined) {
    const ref = String(value.Ref);
    if (ref in DEPLOYED) return DEPLOYED[ref];
    if (ref.startsWith('Artifacts')) return BUCKET;
    throw new Error(`Unexpected Ref ${ref}`);
  }
  if (value['Fn::Sub'] !== undefined) {
    return String(value['Fn::Sub']).replace(/\$\{([^}]+)\}/g, (_, name: string) => DEPLOYED[name]);
  }
  if (value['Fn::Join'] !== undefined) {
    const [delimiter, parts] = value['Fn::Join'] as [string, unknown];
    return (evaluate(parts) as string[]).join(delimiter);
  }
  if (value['Fn::Split'] !== undefined) {
    const [delimiter, source] = value['Fn::Split'] as [string, unknown];
    return String(evaluate(source)).split(delimiter);
  }
  if (value['Fn::Select'] !== undefined) {
    const [index, list] = value['Fn::Select'] as [number, unknown];
    return (evaluate(list) as string[])[Number(index)];
  }
  if (value['Fn::GetAtt'] !== undefined) {
    const [, attribute] = value['Fn::GetAtt'] as [string, string];
    if (attribute === 'imageDetails.0.imageDigest') return DIGEST;
    throw new Error(`Unexpected Fn::GetAtt ${attribute}`);
  }
  throw new Error(`Unexpected ${JSON.stringify(node).slice(0, 80)}`);
}

function patternOf(c: CommandDocumentContent, name: HostParamName): RegExp {
  return new RegExp(String(evaluate(c.parameters[name].allowedPattern)));
}

const ASSET_BUCKET = 'cdk-hnb659fds-assets-123456789012-xx-test-1';
const runnerSha = createHash('sha256').update(buildRunnerScript()).digest('hex');

describe('SSM command document', () => {
  it('is a JSON Command document that is updated in place with a new version', () => {
    expect(document.Properties).toMatchObject({
      DocumentType: 'Command',
      DocumentFormat: 'JSON',
      UpdateMethod: 'NewVersion',
    });
  });

  it('declares exactly the host parameters of params.ts, each as an environment variable but executionTimeout', () => {
    expect(Object.keys(content.parameters).sort()).toEqual(Object.keys(HOST_PARAMS).sort());
    for (const name of Object.keys(HOST_PARAMS).filter((n) => n !== 'executionTimeout')) {
      expect(content.parameters[name].interpolationType).toBe('ENV_VAR');
    }
  });

  it('carries a short readable bootstrap: no encoded payload, no eval, comments kept', () => {
    // The runner itself (~130 kB) must never travel in the document; its parameters do (--follow's
    // chunkUrl and followSeconds took it past 16 kB), so the bound is 20 kB.
    expect(Buffer.byteLength(JSON.stringify(content))).toBeLessThan(20 * 1024);
    expect(script).not.toMatch(/\beval\b|base64|gzip/);
    expect(Math.max(...script.split(/[\s'"=/]+/).map((word) => word.length))).toBeLessThanOrEqual(80);
    expect(script).toContain('# debug-task bootstrap');
  });

  it('names the sha256 of the runner file the stack ships, which is the file of the S3 asset', () => {
    expect(script).toContain(`RUNNER_SHA256=${runnerSha}`);
    const assets = JSON.parse(
      readFileSync(join(built.app.outdir, `${built.stack.artifactId}.assets.json`), 'utf8'),
    ) as { files: Record<string, { source: { path: string }; displayName?: string }> };
    const runner = Object.values(assets.files).find((f) => f.displayName === 'debug-task host runner');
    expect(runner).toBeDefined();
    const shipped = readFileSync(join(built.app.outdir, runner!.source.path));
    expect(createHash('sha256').update(shipped).digest('hex')).toBe(runnerSha);
  });

  it('fetches the runner over HTTPS only', () => {
    expect(script).toContain("--proto '=https' --proto-redir '=https'");
  });
});

describe("the document's patterns admit only this deployment's image and endpoints", () => {
  const repo = `123456789012.dkr.ecr.xx-test-1.amazonaws.com/cdk-hnb659fds-container-assets-123456789012-xx-test-1`;

  it("image: only the toolbox asset's repository at the digest ECR gave it", () => {
    const image = patternOf(content, 'image');
    expect(image.test(`${repo}@${DIGEST}`)).toBe(true);
    expect(image.test('')).toBe(true);
    expect(image.test(`${repo}:latest`)).toBe(false);
    expect(image.test(`${repo}@sha256:${'ef'.repeat(32)}`)).toBe(false);
    expect(image.test(`docker.io/library/alpine@${DIGEST}`)).toBe(false);
    expect(image.test(`123456789012.dkr.ecr.xx-test-1.amazonaws.com/other@${DIGEST}`)).toBe(false);
    expect(
      image.test(
        `123456789012XdkrXecr.xx-test-1.amazonaws.com/cdk-hnb659fds-container-assets-123456789012-xx-test-1@${DIGEST}`,
      ),
    ).toBe(false);
  });

  it('image: with toolboxImage, only that image by its digest', () => {
    const image = patternOf(documentOf(pinned.template).content, 'image');
    expect(image.test(PINNED_IMAGE)).toBe(true);
    expect(image.test(PINNED_IMAGE.replace(/@sha256:.*/, ':latest'))).toBe(false);
    expect(image.test(PINNED_IMAGE.replace('ab', 'cd'))).toBe(false);
    expect(image.test(`ghcr.io/x/debug-task-toolbox@sha256:${'ab'.repeat(32)}`)).toBe(false);
  });

  it.each(['uploadUrl', 'manifestUrl', 'planUrl'] as const)(
    '%s: only HTTPS to the artifact bucket',
    (name) => {
      const url = patternOf(content, name);
      expect(
        url.test(`https://${BUCKET}.s3.xx-test-1.amazonaws.com/sessions/dt-x/a.pcap.gz?X-Amz-Signature=ab`),
      ).toBe(true);
      expect(url.test('')).toBe(true);
      expect(url.test(`http://${BUCKET}.s3.xx-test-1.amazonaws.com/sessions/k`)).toBe(false);
      expect(url.test(`https://other-bucket.s3.xx-test-1.amazonaws.com/sessions/k`)).toBe(false);
      expect(url.test(`https://${BUCKET}.s3.xx-test-1.amazonaws.com.evil.example/k`)).toBe(false);
      expect(url.test(`https://evil.example/${BUCKET}.s3.xx-test-1.amazonaws.com/k`)).toBe(false);
      expect(url.test('http://127.0.0.1:4566/debug-task-sandbox/k')).toBe(false);
    },
  );

  it('runnerUrl: only HTTPS to the runner object of the stack assets', () => {
    const url = patternOf(content, 'runnerUrl');
    const env = functionsByHandler(template).launch.resource.Properties.Environment as {
      Variables: Record<string, unknown>;
    };
    const key = flat(env.Variables.RUNNER_KEY);
    expect(key).toMatch(/^[a-f0-9]{64}\.sh$/);
    expect(url.test(`https://${ASSET_BUCKET}.s3.xx-test-1.amazonaws.com/${key}?X-Amz-Signature=ab`)).toBe(
      true,
    );
    expect(url.test(`https://${ASSET_BUCKET}.s3.xx-test-1.amazonaws.com/other.sh?X-Amz-Signature=ab`)).toBe(
      false,
    );
    expect(url.test(`http://${ASSET_BUCKET}.s3.xx-test-1.amazonaws.com/${key}?X-Amz-Signature=ab`)).toBe(
      false,
    );
    expect(url.test(`https://${BUCKET}.s3.xx-test-1.amazonaws.com/${key}?X-Amz-Signature=ab`)).toBe(false);
  });

  it("the sandbox's document admits its loopback endpoint and local image, over plain HTTP", () => {
    const sandbox = synth({
      sandboxHost: {
        s3Endpoint: 'http://127.0.0.1:4566',
        bucket: 'debug-task-sandbox',
        toolboxImage: 'debug-task-toolbox:local',
      },
    });
    const c = documentOf(sandbox.template).content;
    expect(patternOf(c, 'uploadUrl').test('http://127.0.0.1:4566/debug-task-sandbox/k?x=1')).toBe(true);
    expect(patternOf(c, 'uploadUrl').test('http://127.0.0.1:4567/debug-task-sandbox/k')).toBe(false);
    expect(patternOf(c, 'image').test('debug-task-toolbox:local')).toBe(true);
    expect(patternOf(c, 'image').test('debug-task-toolbox:other')).toBe(false);
    expect(c.mainSteps[0].inputs.runCommand.join('\n')).toContain("--proto '=http'");
  });

  it('refuses a sandbox endpoint that is not loopback', () => {
    expect(() =>
      synth({ sandboxHost: { s3Endpoint: 'http://10.0.0.1:4566', bucket: 'b-b-b', toolboxImage: 'x:y' } }),
    ).toThrow(/not a loopback endpoint/);
  });
});

describe('every SendCommand names the version this deployment created', () => {
  const pins = Object.entries(resourcesOfType(template, 'Custom::AWS')).filter(([, r]) =>
    JSON.stringify(r.Properties).includes('describeDocument'),
  );

  it('reads the version and hash of the document with ssm:DescribeDocument once it exists, again when its content changes', () => {
    expect(pins).toHaveLength(1);
    const [[pinId, pin]] = pins;
    const create = JSON.stringify(pin.Properties.Create);
    expect(create).toContain(`"Ref":"${documentId}"`);
    expect(create).toContain('Document.DocumentVersion');
    expect(JSON.stringify(pin.Properties.Update)).toBe(create);
    expect(template.toJSON().Resources[pinId].DependsOn).toEqual(expect.arrayContaining([documentId]));
  });

  it.each(['launch', 'cleanup', 'sweeper'] as const)(
    'hands %s the pinned DOCUMENT_VERSION and DOCUMENT_HASH and where the runner is',
    (handler) => {
      const env = (
        functionsByHandler(template)[handler].resource.Properties.Environment as {
          Variables: Record<string, unknown>;
        }
      ).Variables;
      expect(flat(env.DOCUMENT_VERSION)).toMatch(
        /^<RunnerDocumentPinnedVersion[0-9A-F]{8}\.Document\.DocumentVersion>$/,
      );
      expect(flat(env.DOCUMENT_HASH)).toMatch(/^<RunnerDocumentPinnedVersion[0-9A-F]{8}\.Document\.Hash>$/);
      expect(flat(env.RUNNER_BUCKET)).toBe('cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}');
      expect(flat(env.RUNNER_KEY)).toMatch(/^[a-f0-9]{64}\.sh$/);
    },
  );
});

describe('SendCommand reaches only tagged EC2 container instances', () => {
  it.each(['launch', 'cleanup', 'sweeper'] as const)(
    'lets %s send only our document, only to instances tagged %s, never to managed instances',
    (handler) => {
      const statements = statementsAllowing(template, handler, 'ssm:SendCommand');
      const resources = statements.flatMap((s) => resourcesOf(s).map(flat));
      expect(resources.some((r) => r.includes('managed-instance'))).toBe(false);
      const toDocument = statements.filter((s) =>
        resourcesOf(s)
          .map(flat)
          .some((r) => r.includes(':document/')),
      );
      expect(toDocument).toHaveLength(1);
      expect(resourcesOf(toDocument[0])).toHaveLength(1);
      const toHosts = statements.filter((s) =>
        resourcesOf(s)
          .map(flat)
          .some((r) => r.includes(':instance/')),
      );
      expect(toHosts).toHaveLength(1);
      expect(resourcesOf(toHosts[0]).map(flat)).toEqual([
        'arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*',
      ]);
      expect(toHosts[0].Condition).toEqual({ StringLike: { [`ssm:resourceTag/${HOST_TAG_KEY}`]: ['*'] } });
    },
  );

  it('with allowedClusters, only instances tagged with one of those clusters', () => {
    const scoped = synth({ toolboxImage: PINNED_IMAGE, allowedClusters: ['prod', 'staging'] });
    const [toHosts] = statementsAllowing(scoped.template, 'launch', 'ssm:SendCommand').filter((s) =>
      resourcesOf(s)
        .map(flat)
        .some((r) => r.includes(':instance/')),
    );
    expect(toHosts.Condition).toEqual({
      StringLike: { [`ssm:resourceTag/${HOST_TAG_KEY}`]: ['prod', 'staging'] },
    });
  });

  it('lets the senders read only the runner object of the assets', () => {
    const reads = statementsAllowing(template, 'launch', 's3:GetObject').flatMap((s) =>
      resourcesOf(s).map(flat),
    );
    expect(reads).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-\$\{AWS::AccountId\}-\$\{AWS::Region\}\/[a-f0-9]{64}\.sh$/,
        ),
      ]),
    );
    expect(reads.filter((r) => r.includes('cdk-hnb659fds-assets'))).toHaveLength(1);
  });

  it('matches the document in the template', () => {
    template.hasResourceProperties('AWS::SSM::Document', Match.objectLike({ DocumentType: 'Command' }));
  });
});
