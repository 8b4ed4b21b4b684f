import { SSMClient } from '@aws-sdk/client-ssm';
import { sharedClient } from './registry';

export function ssmClient(): SSMClient {
  return sharedClient('ssm', () => new SSMClient({}));
}
