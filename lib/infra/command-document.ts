import { Stack } from 'aws-cdk-lib';
import { CfnDocument } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { buildCommandDocument } from '../host/runner-script';

/**
 * Our SSM command document: the host runner and its parameters, each with the `allowedPattern` of
 * lib/domain/params.ts and `interpolationType: ENV_VAR` (built by lib/host/runner-script.ts).
 *
 * A narrow document of our own instead of AWS-RunShellScript: SendCommand is granted on this
 * document only, so the functions can run the runner as root on a host and nothing else.
 */
export class CommandDocument extends Construct {
  /** The document's name (CloudFormation generates it): `DOCUMENT_NAME` of the functions. */
  public readonly documentName: string;
  /** `arn:<partition>:ssm:<region>:<account>:document/<name>`, for IAM. */
  public readonly documentArn: string;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    const document = new CfnDocument(this, 'Resource', {
      documentType: 'Command',
      documentFormat: 'JSON',
      content: buildCommandDocument(),
      // Add a version instead of replacing (the default): the name, hence DOCUMENT_NAME and the IAM
      // grants, stays the same across runner changes, and commands already running keep their
      // version. CloudFormation documents that NewVersion also makes it the default version; a
      // report says it sometimes does not (cloudformation-coverage-roadmap#2539), so SendCommand
      // should ask for DocumentVersion '$LATEST'.
      updateMethod: 'NewVersion',
    });

    this.documentName = document.ref;
    this.documentArn = Stack.of(this).formatArn({
      service: 'ssm',
      resource: 'document',
      resourceName: document.ref,
    });
  }
}
