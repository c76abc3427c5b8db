import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { ApiError } from '../../src/client/index.js';
import type { ErrorBody } from '../../src/errors.js';
import { ADMIN_TOKEN } from './server.js';

/** An answer read without the SDK: its status, headers and JSON body (an error body, for the tests that use it). */
export interface RawAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly json?: ErrorBody;
}

/**
 * A request made with fetch, for checking error bodies and headers. `token` defaults to the admin
 * token (null: no Authorization header); an object body is sent as JSON, a string or FormData as is.
 */
export async function rawRequest(baseUrl: string, method: string, path: string, init: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {}): Promise<RawAnswer> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token !== null) headers.authorization = `Bearer ${init.token ?? ADMIN_TOKEN}`;
  let body: string | FormData | undefined;
  if (init.body instanceof FormData || typeof init.body === 'string') body = init.body;
  else if (init.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.body);
  }
  const res = await fetch(`${baseUrl}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text === '' ? undefined : (JSON.parse(text) as ErrorBody) };
}

/**
 * POSTs `prefix` followed by `zeroBytes` bytes without allocating them (one 64 KiB chunk, sent
 * again and again), as a Content-Length body or chunked. Resolves at the answer, with how many of
 * the bytes had been handed to the socket by then; the rest is never sent.
 */
export function postHugeBody(baseUrl: string, path: string, options: { headers: Record<string, string>; prefix?: string; zeroBytes: number; chunked?: boolean }): Promise<RawAnswer & { sentBytes: number }> {
  const prefix = Buffer.from(options.prefix ?? '');
  const chunk = Buffer.alloc(64 * 1024);
  let sentBytes = 0;
  const body = new Readable({
    read() {
      if (sentBytes === 0 && prefix.length > 0) this.push(prefix);
      const n = Math.min(chunk.length, options.zeroBytes - sentBytes);
      sentBytes += n;
      this.push(n > 0 ? chunk.subarray(0, n) : null);
    },
  });
  const headers = { ...options.headers, ...(options.chunked ? {} : { 'content-length': String(prefix.length + options.zeroBytes) }) };
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}${path}`, { method: 'POST', headers });
    req.on('error', reject);
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        const sent = sentBytes;
        body.destroy();
        req.destroy();
        const text = Buffer.concat(parts).toString('utf8');
        const responseHeaders = new Headers(Object.entries(res.headers).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)] as [string, string]])));
        resolve({ status: res.statusCode ?? 0, headers: responseHeaders, json: text === '' ? undefined : (JSON.parse(text) as ErrorBody), sentBytes: sent });
      });
    });
    body.pipe(req);
  });
}

/** Asserts that an SDK call fails with an ApiError of this status and code, its message matching. */
export async function rejectsApi(promise: Promise<unknown>, status: number, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.status, status, err.message);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}
