import type { IncomingMessage } from 'node:http';

/**
 * The body of a request to one of the sandbox's loopback servers, as text. A body over `maxBytes`
 * ends the request and rejects with the caller's own error (each protocol words it its own way).
 */
export function readBody(req: IncomingMessage, maxBytes: number, tooLarge: () => Error): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
      else {
        req.destroy();
        reject(tooLarge());
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** JSON for the AWS JSON protocols: timestamps travel as epoch seconds, so Dates become numbers. */
export function awsJson(body: unknown): string {
  // `this[key]` is the value before Date#toJSON turned it into a string.
  return JSON.stringify(body ?? {}, function (this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key];
    return raw instanceof Date ? raw.getTime() / 1000 : value;
  });
}
