import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { awsJson, readBody } from './http-body';

/**
 * A server for the AWS JSON 1.1 protocol as SDK v3 clients speak it: `POST /`, the operation in
 * `X-Amz-Target: <service prefix>.<Action>`, a JSON body. Errors go back as status 4xx/5xx with
 * `{"__type": "<ShapeName>", "message": ...}`: the SDK reads the error code from `__type` first
 * (`loadJsonRpcErrorCode`) and raises the client's modeled exception class of that name.
 *
 * Signatures are not checked: this only ever listens on loopback.
 */

/** An error the API itself answers with (a modeled exception of the service). */
export class AwsApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
    this.name = type;
  }
}

export type JsonObject = Record<string, unknown>;
export type ActionHandler = (input: JsonObject) => unknown;

export interface JsonService {
  readonly service: string;
  /** The part of X-Amz-Target before the dot, e.g. `AmazonSSM`. */
  readonly targetPrefix: string;
  readonly actions: Readonly<Record<string, ActionHandler>>;
  /** `__type` of unexpected failures (ECS: ServerException, SSM: InternalServerError). */
  readonly internalErrorType: string;
}

export interface JsonServer {
  readonly endpoint: string;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

export async function startJsonServer(
  services: readonly JsonService[],
  onCall: (service: string, action: string) => void,
): Promise<JsonServer> {
  const byPrefix = new Map(services.map((s) => [s.targetPrefix, s]));
  const server = createServer((req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { __type: 'InternalFailure', message: 'The stand-in failed.' });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.headers['x-amz-target'];
    const [prefix, action] = typeof target === 'string' ? target.split('.', 2) : [];
    const service = prefix === undefined ? undefined : byPrefix.get(prefix);
    if (req.method !== 'POST' || !service || !action) {
      req.resume();
      return send(res, 400, { __type: 'UnknownOperationException', message: `Unknown operation ${target}` });
    }
    onCall(service.service, action);
    try {
      const input = parseBody(
        await readBody(
          req,
          MAX_BODY_BYTES,
          () => new AwsApiError('SerializationException', 'Request body too large.', 413),
        ),
      );
      const handler = Object.hasOwn(service.actions, action) ? service.actions[action] : undefined;
      if (!handler)
        throw new AwsApiError('UnknownOperationException', `${action} is not implemented by the stand-in.`);
      send(res, 200, await handler(input));
    } catch (error) {
      if (error instanceof AwsApiError) {
        return send(res, error.statusCode, { __type: error.type, message: error.message });
      }
      const message = error instanceof Error ? error.message : String(error);
      send(res, 500, { __type: service.internalErrorType, message });
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, close: () => closeServer(server) };
}

function parseBody(body: string): JsonObject {
  if (body.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new AwsApiError('SerializationException', 'The request body is not JSON.');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new AwsApiError('SerializationException', 'The request body is not a JSON object.');
  }
  return parsed as JsonObject;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = awsJson(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(text);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Input helpers: the SDK validates little client-side, so the stand-in answers like the service. */
export function optionalString(input: JsonObject, name: string): string | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(name, 'a string');
  return value;
}

export function requiredString(input: JsonObject, name: string, errorType = 'ValidationException'): string {
  const value = optionalString(input, name);
  if (value === undefined || value === '') {
    throw new AwsApiError(
      errorType,
      `1 validation error detected: Value null at '${lower(name)}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return value;
}

export function optionalStringList(input: JsonObject, name: string): string[] | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw invalid(name, 'a list of strings');
  return value as string[];
}

export function optionalInteger(
  input: JsonObject,
  name: string,
  min: number,
  max: number,
): number | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new AwsApiError(
      'ValidationException',
      `1 validation error detected: Value '${String(value)}' at '${lower(name)}' failed to satisfy constraint: Member must have value between ${min} and ${max}`,
    );
  }
  return value;
}

function invalid(name: string, what: string): AwsApiError {
  return new AwsApiError('SerializationException', `${name} must be ${what}.`);
}

function lower(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}
