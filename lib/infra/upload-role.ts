import { Duration } from 'aws-cdk-lib';
import { ArnPrincipal, CompositePrincipal, PolicyStatement, Role, type IRole } from 'aws-cdk-lib/aws-iam';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { SESSIONS_PREFIX } from './artifact-bucket';
import { acknowledgeWildcardResources } from './nag';

export interface UploadRoleProps {
  readonly bucket: IBucket;
  /**
   * The only principals that may assume the role: the launch function's role (every session's
   * uploads, a re-upload's too: it is an execution of the same path).
   */
  readonly assumedBy: readonly IRole[];
  /** MaxSessionDuration in seconds (`uploadRoleMaxSessionSeconds`, lib/domain/upload.ts). */
  readonly maxSessionSeconds: number;
}

/**
 * The role whose sessions sign the hosts' presigned uploads (lib/domain/upload.ts).
 *
 * Launch assumes it once per batch of hosts with a session policy that narrows it to that batch's
 * children's keys (lib/session/upload.ts); the role itself may only put objects under sessions/*,
 * and only the launch function's role may assume it (no session tags, so no sts:TagSession).
 */
export class UploadRole extends Construct {
  public readonly role: Role;

  constructor(scope: Construct, id: string, props: UploadRoleProps) {
    super(scope, id);

    this.role = new Role(this, 'Resource', {
      assumedBy: new CompositePrincipal(...props.assumedBy.map((role) => new ArnPrincipal(role.roleArn))),
      description:
        "debug-task: signs the presigned uploads of a session's captures (assumed by the launch function only)",
      maxSessionDuration: Duration.seconds(props.maxSessionSeconds),
    });

    const objects = [props.bucket.arnForObjects(`${SESSIONS_PREFIX}*`)];
    this.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:PutObject'], resources: objects }));
    acknowledgeWildcardResources(
      this,
      objects,
      'The upload role writes session artifacts, whose keys (sessions/<sessionId>/...) exist only once a ' +
        'session does, so sessions/* is the narrowest static scope; each AssumeRole narrows it further ' +
        'with a session policy naming the one artifact key of its session.',
    );
  }
}
