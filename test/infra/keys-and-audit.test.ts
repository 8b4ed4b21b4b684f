import { Match } from 'aws-cdk-lib/assertions';
import { ARTIFACT_KEY_USE_ACTIONS, KEY_ADMIN_ACTIONS } from '../../lib/infra/stack-keys';
import { resolveSettings } from '../../lib/infra/stack-props';
import { fakeToolboxDirectory, flat, functionsByHandler, resourcesOfType, synth } from './helpers';

const { template } = synth();
const keys = resourcesOfType(template, 'AWS::KMS::Key');
const keyId = (prefix: string) =>
  Object.keys(keys).find((id) => new RegExp(`^${prefix}[0-9A-F]{8}$`).test(id))!;
const ARTIFACT_KEY = keyId('KeysArtifacts');
const LOG_KEY = keyId('KeysLogs');

interface KeyStatement {
  Sid?: string;
  Effect: string;
  Principal: { AWS?: unknown; Service?: unknown };
  Action: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}
const statementsOf = (logicalId: string) =>
  (keys[logicalId].Properties.KeyPolicy as { Statement: KeyStatement[] }).Statement;
const actions = (s: KeyStatement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const principals = (s: KeyStatement) => {
  const aws = s.Principal.AWS;
  return (Array.isArray(aws) ? aws : [aws]).map(flat);
};

describe('the stack keys', () => {
  it('are two customer managed keys, rotated, kept when the stack is deleted', () => {
    expect(Object.keys(keys).sort()).toEqual([ARTIFACT_KEY, LOG_KEY].sort());
    template.allResourcesProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    template.allResources('AWS::KMS::Key', { DeletionPolicy: 'Retain' });
  });

  it.each([
    ['artifact', () => ARTIFACT_KEY],
    ['log', () => LOG_KEY],
  ])('give the account (root) administration of the %s key, never its use nor grants', (_, id) => {
    const root = statementsOf(id()).filter(
      (s) => s.Effect === 'Allow' && JSON.stringify(s.Principal).includes(':root'),
    );

    expect(root).toHaveLength(1);
    expect(actions(root[0]).sort()).toEqual([...KEY_ADMIN_ACTIONS].sort());
    for (const forbidden of ['kms:*', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:Encrypt', 'kms:Create*']) {
      expect(actions(root[0])).not.toContain(forbidden);
    }
    expect(actions(root[0]).some((a) => /CreateGrant|ReEncrypt|GenerateDataKey|Decrypt/.test(a))).toBe(false);
  });

  it("lets exactly the stack's roles that touch the bucket use the artifact key, and only through S3", () => {
    const functions = functionsByHandler(template);
    const roleOf = (handler: string) =>
      (functions[handler].resource.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const use = statementsOf(ARTIFACT_KEY).filter((s) => s.Sid === 'UseByTheStackRolesThroughS3');

    expect(use).toHaveLength(1);
    expect(use[0].Effect).toBe('Allow');
    expect(actions(use[0]).sort()).toEqual([...ARTIFACT_KEY_USE_ACTIONS].sort());
    const uploadRole = Object.keys(resourcesOfType(template, 'AWS::IAM::Role')).find((id) =>
      /^UploadRole[0-9A-F]{8}$/.test(id),
    )!;
    expect(principals(use[0]).sort()).toEqual(
      [...['api', 'plan', 'doctor', 'launch', 'poll', 'collect', 'cleanup'].map(roleOf), uploadRole]
        .map((id) => `<${id}.Arn>`)
        .sort(),
    );
    // The sweeper never reads the bucket, so it may not use the key.
    expect(principals(use[0])).not.toContain(`<${roleOf('sweeper')}.Arn>`);
    expect(flat(use[0].Condition?.StringEquals['kms:ViaService'])).toBe('s3.<AWS::Region>.amazonaws.com');
    expect(flat(use[0].Condition?.StringEquals['kms:CallerAccount'])).toBe('<AWS::AccountId>');
    // No other statement of the artifact key allows anyone else anything.
    expect(statementsOf(ARTIFACT_KEY).filter((s) => s.Effect === 'Allow')).toHaveLength(2);
  });

  it("lets CloudWatch Logs use the log key for this account's and region's log groups only", () => {
    const service = statementsOf(LOG_KEY).filter((s) => s.Principal.Service !== undefined);

    expect(service).toHaveLength(1);
    expect(flat(service[0].Principal.Service)).toBe('logs.<AWS::Region>.amazonaws.com');
    expect(flat(service[0].Condition?.ArnLike['kms:EncryptionContext:aws:logs:arn'])).toBe(
      'arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*',
    );
    expect(statementsOf(LOG_KEY).filter((s) => s.Effect === 'Allow')).toHaveLength(2);
  });

  it.each([
    ['artifact', () => ARTIFACT_KEY],
    ['log', () => LOG_KEY],
  ])('deny every grant of the %s key but those AWS services make for their resources', (_, id) => {
    expect(statementsOf(id()).filter((s) => s.Effect === 'Deny')).toEqual([
      {
        Sid: 'NoGrantsButForAwsServices',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 'kms:CreateGrant',
        Resource: '*',
        Condition: {
          BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' },
        },
      },
    ]);
  });

  it('encrypts every log group of the stack with the log key and keeps it at least a year', () => {
    const groups = resourcesOfType(template, 'AWS::Logs::LogGroup');

    expect(Object.keys(groups).length).toBeGreaterThan(8);
    for (const group of Object.values(groups)) {
      expect(group.Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': [LOG_KEY, 'Arn'] });
      expect(group.Properties.RetentionInDays).toBeGreaterThanOrEqual(365);
    }
  });

  it('gives no identity policy kms: actions (the key policies are the only grant)', () => {
    const policies = resourcesOfType(template, 'AWS::IAM::Policy');
    expect(JSON.stringify(policies)).not.toMatch(/"kms:/);
  });
});

describe('the audit log', () => {
  const auditGroups = () =>
    Object.entries(resourcesOfType(template, 'AWS::Logs::LogGroup')).filter(([id]) =>
      /^Audit[0-9A-F]{8}$/.test(id),
    );

  it('is a log group of its own, kept 365 days by default, encrypted, kept when the stack goes', () => {
    expect(auditGroups()).toHaveLength(1);
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: {
        RetentionInDays: 365,
        KmsKeyId: { 'Fn::GetAtt': [LOG_KEY, 'Arn'] },
        LogGroupName: Match.absent(),
      },
      DeletionPolicy: 'Retain',
    });
  });

  it('keeps what auditLogRetentionDays says, and the bucket expires artifacts after artifactRetentionDays', () => {
    const custom = synth({
      toolboxDirectory: fakeToolboxDirectory(),
      auditLogRetentionDays: 1096,
      artifactRetentionDays: 30,
    }).template;

    const audit = Object.entries(resourcesOfType(custom, 'AWS::Logs::LogGroup')).find(([id]) =>
      /^Audit[0-9A-F]{8}$/.test(id),
    )!;
    expect(audit[1].Properties.RetentionInDays).toBe(1096);
    custom.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ Prefix: 'sessions/', ExpirationInDays: 30 })]),
      },
    });
  });

  it('refuses a retention CloudWatch Logs does not offer, naming the prop and a value that works', () => {
    expect(() => resolveSettings({ auditLogRetentionDays: 366 })).toThrow(
      /auditLogRetentionDays 366 is not a retention CloudWatch Logs offers; .*\(e\.g\. 400\)/,
    );
  });

  it('refuses an audit retention shorter than the artifacts: the audit outlives the capture', () => {
    expect(() => resolveSettings({ auditLogRetentionDays: 30, artifactRetentionDays: 60 })).toThrow(
      'auditLogRetentionDays 30 is shorter than artifactRetentionDays 60',
    );
  });
});
