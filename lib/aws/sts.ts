import { STSClient } from '@aws-sdk/client-sts';
import { sharedClient } from './registry';

export function stsClient(): STSClient {
  return sharedClient('sts', () => new STSClient({}));
}
