/**
 * The one registry of SDK clients (lib/aws/{ecs,ssm,s3,sts,sfn,logs,ecr}.ts register theirs here).
 *
 * Each service keeps its client in a module of its own so that a Lambda bundles only the SDKs it
 * calls (an import of every client costs every function ~300 KB); they share this registry so
 * that tests and the sandbox replace any of them the same way. Clients are made on first use, not
 * at import: nothing (not even config resolution) runs while a handler module loads, and the
 * region and endpoints come from the standard environment at that moment (AWS_REGION,
 * AWS_ENDPOINT_URL_<SERVICE>: the sandbox points them at its stand-ins).
 */
export type AwsService = 'ecs' | 'ssm' | 's3' | 'sts' | 'sfn' | 'logs' | 'ecr';

const clients = new Map<AwsService, unknown>();

/** The service's shared client, made by `make` on first use. */
export function sharedClient<T>(service: AwsService, make: () => T): T {
  let client = clients.get(service) as T | undefined;
  if (client === undefined) {
    client = make();
    clients.set(service, client);
  }
  return client;
}

/** Replaces some clients (tests, the sandbox); the others are still made on first use. */
export function setAwsClients(overrides: Partial<Record<AwsService, unknown>>): void {
  for (const [service, client] of Object.entries(overrides)) clients.set(service as AwsService, client);
}

/** Forgets every client, so the next use builds them again from the current environment. */
export function resetAwsClients(): void {
  clients.clear();
}
