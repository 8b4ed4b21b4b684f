import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/**
 * One HTTP(S) exchange over node:http / node:https, which the API client and the CLI's downloads use
 * instead of the global `fetch`. Why: Node's fetch (its bundled undici) parses responses with llhttp
 * compiled to WebAssembly. Its first call compiles that module (70-150 ms before the first request
 * leaves, measured on this project's CLI), and V8 then optimizes it in background threads that the
 * process waits for when it exits (~250 ms after a short command's last response). node:http's parser
 * is built into node: the CLI's first request leaves sooner, and it exits as soon as it is done
 * (BENCHMARKS.md, "The CLI's own share of a session").
 *
 * Idle keep-alive sockets of node's global agents do not hold the process open, as with fetch.
 * Redirects are not followed: neither the API nor a presigned S3 URL answers with one.
 */
export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body, as it arrives; read it (or destroy it) to free the socket. */
  body: IncomingMessage;
}

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Aborts the exchange (the request and the reading of its body). */
  signal?: AbortSignal;
}

export async function httpRequest(url: URL, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  // Only the protocol in use is loaded (node:https brings TLS).
  const { request } = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
  const headers = { ...options.headers };
  if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', headers, ...(options.signal && { signal: options.signal }) },
      (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }),
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The whole body, as bytes. */
export async function readBody(response: HttpResponse): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of response.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** 2xx, as fetch's `ok`. */
export function isOk(response: HttpResponse): boolean {
  return response.status >= 200 && response.status < 300;
}
