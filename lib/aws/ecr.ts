import { ECRClient } from '@aws-sdk/client-ecr';
import { sharedClient } from './registry';

/** ECR: `doctor --stack` looks the toolbox image up by its digest (lib/api/stack-doctor.ts). */
export function ecrClient(): ECRClient {
  return sharedClient('ecr', () => new ECRClient({}));
}
