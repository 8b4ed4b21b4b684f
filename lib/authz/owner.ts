/**
 * Owner isolation: a session's status, result, download, stop, cancel, fetch and re-upload belong
 * to the principal that started it; anyone else needs the deployment's policy to permit it.
 *
 * The owner is the IAM principal API Gateway saw (`userArn` of its IAM authorizer): an IAM user
 * (`arn:aws:iam::123456789012:user/alice`), or for an assumed role the role and its session name
 * (`arn:aws:sts::123456789012:assumed-role/oncall/alice`): alice and bob assuming the same role
 * are different owners, as CloudTrail tells them apart. Compared exactly: two spellings of one
 * principal do not occur in what API Gateway reports.
 */
export function isOwner(caller: string, owner: string | undefined): boolean {
  return owner !== undefined && owner !== '' && caller !== 'unknown' && caller === owner;
}

/** The principal of an assumed-role ARN without its session (for messages): `assumed-role/oncall`. */
export function principalName(arn: string): string {
  const match = /^arn:aws[a-z-]*:(?:iam|sts)::[0-9]{12}:(.+)$/.exec(arn);
  return match ? match[1] : arn;
}
