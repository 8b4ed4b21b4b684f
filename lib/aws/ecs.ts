import { ECSClient } from '@aws-sdk/client-ecs';
import { sharedClient } from './registry';

export function ecsClient(): ECSClient {
  return sharedClient('ecs', () => new ECSClient({}));
}
