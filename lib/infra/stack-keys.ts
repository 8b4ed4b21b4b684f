import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  AccountRootPrincipal,
  AnyPrincipal,
  Effect,
  ArnPrincipal,
  PolicyDocument,
  PolicyStatement,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/**
 * What the account (its root principal, i.e. IAM principals the account's own policies allow) may do
 * with a stack key: administer it, never use it. KMS requires a key policy that someone can still
 * manage, or the key becomes unmanageable (CloudFormation even refuses to create a key whose policy
 * would lock the creator out: "PutKeyPolicy lockout safety check"), and CDK's default policy gives
 * the root `kms:*`, which would let any IAM principal with `kms:Decrypt` on `*` (an administrator)
 * read every capture. So the root keeps administration only: no Encrypt/Decrypt/GenerateDataKey and
 * no `kms:CreateGrant` (a grant would let an administrator hand himself Decrypt). An administrator
 * could still rewrite the key policy (`kms:PutKeyPolicy`): that is the unavoidable way back in, and
 * it is one CloudTrail management event a reviewer can alarm on.
 */
export const KEY_ADMIN_ACTIONS = [
  'kms:Describe*',
  'kms:List*',
  'kms:Get*',
  'kms:PutKeyPolicy',
  'kms:Enable*',
  'kms:Disable*',
  'kms:Update*',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:RevokeGrant',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
] as const;

/** What a role of the stack may do with the artifact key, through S3 only: read and write objects. */
export const ARTIFACT_KEY_USE_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'] as const;

/**
 * The two customer managed keys of a deployment, both rotated yearly and kept when the stack goes
 * (RETAIN, as the bucket and the log groups it encrypts are: deleting the key would make retained
 * captures and audit logs unreadable).
 *
 * - `artifacts`: the artifact bucket (captures, plans, manifests, session records: SSE-KMS with an
 *   S3 Bucket Key). Its policy lets only the stack's roles use it, and only through S3
 *   (`kms:ViaService`): a principal with account-wide `s3:GetObject` (ReadOnlyAccess) gets
 *   AccessDenied on every object. Roles are added with `allowArtifactUse`.
 * - `logs`: every log group of the stack (the functions' and the audit group). CloudWatch Logs
 *   encrypts with the key itself, as the service principal, so the key policy must admit
 *   `logs.<region>.amazonaws.com`; the encryption context limits it to this account's and region's
 *   log groups. A separate key keeps the artifact key's policy free of any service principal.
 */
export class StackKeys extends Construct {
  public readonly artifacts: Key;
  public readonly logs: Key;
  private readonly artifactUse: PolicyStatement;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const stack = Stack.of(this);

    this.artifacts = stackKey(this, 'Artifacts', 'debug-task: session artifacts, plans and records (S3)');
    // One statement whose principals grow with allowArtifactUse: the policy stays one readable list.
    this.artifactUse = new PolicyStatement({
      sid: 'UseByTheStackRolesThroughS3',
      actions: [...ARTIFACT_KEY_USE_ACTIONS],
      resources: ['*'],
      conditions: {
        StringEquals: {
          'kms:ViaService': `s3.${stack.region}.amazonaws.com`,
          'kms:CallerAccount': stack.account,
        },
      },
    });
    this.artifacts.addToResourcePolicy(this.artifactUse);

    this.logs = stackKey(this, 'Logs', 'debug-task: log groups (function logs and the audit log)');
    this.logs.addToResourcePolicy(
      new PolicyStatement({
        sid: 'UseByCloudWatchLogsForThisAccountsLogGroups',
        principals: [new ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
  }

  /**
   * Lets `roles` read and write the artifact bucket's objects (S3 asks KMS for a data key on a
   * write, and to decrypt on a read, a presigned GET included: the signer's role must be here).
   */
  public allowArtifactUse(...roles: IRole[]): void {
    this.artifactUse.addPrincipals(...roles.map((role) => new ArnPrincipal(role.roleArn)));
  }
}

function stackKey(scope: Construct, id: string, description: string): Key {
  return new Key(scope, id, {
    description,
    enableKeyRotation: true,
    // A key given its own policy gets no default `kms:*` for the account: see KEY_ADMIN_ACTIONS.
    policy: new PolicyDocument({
      statements: [
        // No grants but those an AWS service makes for a resource of its own (AWS Control Tower
        // CT.KMS.PR.3): a grant is a way around the key policy.
        new PolicyStatement({
          sid: 'NoGrantsButForAwsServices',
          effect: Effect.DENY,
          principals: [new AnyPrincipal()],
          actions: ['kms:CreateGrant'],
          resources: ['*'],
          conditions: {
            BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' },
          },
        }),
        new PolicyStatement({
          sid: 'AdministrationByTheAccountNotUse',
          principals: [new AccountRootPrincipal()],
          actions: [...KEY_ADMIN_ACTIONS],
          resources: ['*'],
        }),
      ],
    }),
    pendingWindow: Duration.days(30),
    removalPolicy: RemovalPolicy.RETAIN,
  });
}
