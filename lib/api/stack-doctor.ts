import { DescribeImagesCommand } from '@aws-sdk/client-ecr';
import { DescribeDocumentCommand } from '@aws-sdk/client-ssm';
import { deploymentAuthorizer } from '../authz/load';
import { awsCall } from '../aws/errors';
import { ecrClient } from '../aws/ecr';
import { ssmClient } from '../aws/ssm';
import { clusterNameOf } from '../domain/arn';
import {
  doctorReport,
  failedCheck,
  type DoctorCheck,
  type DoctorReport,
  type StackDoctorRequest,
} from '../domain/doctor';
import { DebugTaskError } from '../domain/errors';
import { pinnedDocument } from '../session/pinned-document';
import { bucketWritableCheck, imagePinnedCheck } from './doctor';
import { hostsReadyCheck } from './hosts-ready';

export interface StackDoctorConfig {
  bucket: string;
  /** TOOLBOX_IMAGE of the deployment; undefined when the function has none. */
  toolboxImage?: string;
  /** ALLOWED_CLUSTERS: names; empty means any cluster of the account and region. */
  allowedClusters: readonly string[];
  /** The deployment's account (the API's, from the request) and region: where its ECR image would be. */
  account: string;
  region: string;
}

/**
 * POST /doctor: the deployment itself, checked from inside (the doctor function's role, its
 * environment, its policy layer), whatever the task. Nothing is started. Every check runs, each
 * failing on its own: one broken piece does not hide the others.
 */
export async function runStackDoctor(body: unknown, config: StackDoctorConfig): Promise<DoctorReport> {
  const request = parseStackDoctorRequest(body);
  return doctorReport([
    await documentPinnedCheck(),
    imagePinnedCheck(config.toolboxImage),
    await imagePresentCheck(config.toolboxImage, config),
    await bucketWritableCheck(config.bucket),
    await hostsReadyCheck(request.cluster, config.allowedClusters),
    policyLoadedCheck(),
  ]);
}

/** `{}` or `{ "cluster": NAME|ARN }`; anything else is a 400, as any bad input. */
export function parseStackDoctorRequest(body: unknown): StackDoctorRequest {
  const fields = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  const unknown = Object.keys(fields).filter((key) => key !== 'cluster');
  if (unknown.length > 0) {
    throw new DebugTaskError(
      'INVALID_ARGUMENT',
      `POST /doctor takes only "cluster" (not ${unknown.join(', ')}).`,
    );
  }
  const { cluster } = fields;
  if (cluster === undefined) return {};
  if (typeof cluster !== 'string' || !/^[A-Za-z0-9:/_-]{1,255}$/.test(cluster)) {
    throw new DebugTaskError('INVALID_ARGUMENT', '"cluster" must be a cluster name or ARN.');
  }
  return { cluster: clusterNameOf(cluster) };
}

/**
 * The document at the version the stack pinned (DOCUMENT_VERSION): it exists, is Active, and its
 * content is still the one the stack hashed (DOCUMENT_HASH); SendCommand names both, so a mismatch
 * here is a session refused there.
 */
export async function documentPinnedCheck(): Promise<DoctorCheck> {
  const name = 'document-pinned';
  const redeploy = 'Deploy the stack again (`npx cdk deploy`): it creates the document and pins its version.';
  try {
    const pinned = pinnedDocument();
    const { Document: doc } = await awsCall('ssm:DescribeDocument', () =>
      ssmClient().send(new DescribeDocumentCommand({ Name: pinned.name, DocumentVersion: pinned.version })),
    );
    const at = `${pinned.name} version ${pinned.version}`;
    if (doc?.Status !== 'Active') {
      throw new DebugTaskError('AWS_ERROR', `Document ${at} is ${doc?.Status ?? 'missing'}, not Active.`, {
        hint: redeploy,
      });
    }
    if ((doc.HashType ?? 'Sha256') !== 'Sha256' || doc.Hash !== pinned.hash) {
      throw new DebugTaskError(
        'AWS_ERROR',
        `Document ${at} has hash ${doc.Hash ?? 'none'}, not the ${pinned.hash} the stack pinned: SSM would refuse every session.`,
        { hint: redeploy },
      );
    }
    return { name, status: 'ok', detail: `${at}: Active, sha256 ${pinned.hash.slice(0, 12)}… as pinned` };
  } catch (error) {
    return failedCheck(name, error);
  }
}

/** `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO@sha256:DIGEST` (or with a tag). */
const ECR_IMAGE =
  /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([a-z0-9._/-]+)(?:@(sha256:[a-f0-9]{64})|:([\w.-]+))$/;

/**
 * The toolbox image is in ECR, by its digest (or its tag): what every host pulls. Only an ECR
 * image of this account and region can be looked up with the function's role; any other is a
 * warning (a session may still run: the hosts pull it with their own credentials).
 */
export async function imagePresentCheck(
  image: string | undefined,
  where: { account: string; region: string },
): Promise<DoctorCheck> {
  const name = 'image-present';
  const ecr = image ? ECR_IMAGE.exec(image) : null;
  if (!image || !ecr || ecr[1] !== where.account || ecr[2] !== where.region) {
    return {
      name,
      status: 'warning',
      detail: image
        ? `${image.slice(0, 200)} is not an ECR image of this account and region: doctor cannot look it up.`
        : 'The doctor function has no TOOLBOX_IMAGE to look up.',
      hint: `Check that every host can pull it (\`docker pull\` on a host), or push it to ECR in ${where.account} ${where.region}.`,
    };
  }
  const [, registryId, , repositoryName, digest, tag] = ecr;
  const imageId = digest ? { imageDigest: digest } : { imageTag: tag };
  try {
    const found = await awsCall(
      'ecr:DescribeImages',
      () => ecrClient().send(new DescribeImagesCommand({ registryId, repositoryName, imageIds: [imageId] })),
      (info) =>
        info.name === 'ImageNotFoundException' || info.name === 'RepositoryNotFoundException'
          ? new DebugTaskError(
              'TOOLBOX_IMAGE_UNAVAILABLE',
              `${image} is not in ECR (${info.name}): no host could pull it.`,
              {
                hint: 'Push the image again, or deploy with -c toolboxImage=REPO@sha256:DIGEST of an image that exists (ECR lifecycle rules may have expired it).',
              },
            )
          : undefined,
    );
    const detail = found.imageDetails?.[0];
    const size = detail?.imageSizeInBytes ? `, ${(detail.imageSizeInBytes / 1e6).toFixed(1)} MB` : '';
    return {
      name,
      status: 'ok',
      detail: `${repositoryName}@${detail?.imageDigest ?? digest ?? tag} is in ECR${size}`,
    };
  } catch (error) {
    return failedCheck(name, error);
  }
}

/** The deployment's Cedar policy loads and is the one synth validated (its sha256), or there is none. */
export function policyLoadedCheck(env: NodeJS.ProcessEnv = process.env): DoctorCheck {
  const name = 'policy-loaded';
  try {
    const authorizer = deploymentAuthorizer(env);
    if (!authorizer) return { name, status: 'ok', detail: 'no policy: IAM decides alone' };
    return {
      name,
      status: 'ok',
      detail: `the deployment's policy loads, sha256 ${authorizer.policySha256.slice(0, 12)}… as synth validated it`,
    };
  } catch (error) {
    return failedCheck(name, error);
  }
}
