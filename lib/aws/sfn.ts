import { SFNClient } from '@aws-sdk/client-sfn';
import { sharedClient } from './registry';

export function sfnClient(): SFNClient {
  return sharedClient('sfn', () => new SFNClient({}));
}
