import { createRequire } from 'node:module';

export interface LoadTarget {
  readonly url: string;
  readonly token: string;
  /** A JSON body, or a multipart body with its content type. */
  readonly body: string | Buffer;
  readonly contentType: string;
  readonly connections: number;
  readonly seconds: number;
}

export interface LoadResult {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly rps: number;
  readonly errors: number;
}

interface AutocannonResult {
  latency: { p50: number; p99: number; mean: number };
  requests: { average: number };
  errors: number;
  non2xx: number;
}

// autocannon is CommonJS without types; this is the slice of its API the bench uses.
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: Record<string, unknown>) => Promise<AutocannonResult>;

/** Warm up for 1 s, then measure for `seconds`. */
export async function runLoad(target: LoadTarget): Promise<LoadResult> {
  const opts = {
    url: target.url,
    method: 'POST',
    headers: { authorization: `Bearer ${target.token}`, 'content-type': target.contentType },
    body: target.body,
    connections: target.connections,
    pipelining: 1,
  };
  await autocannon({ ...opts, duration: 1 });
  const r = await autocannon({ ...opts, duration: target.seconds });
  return { p50Ms: r.latency.p50, p99Ms: r.latency.p99, meanMs: r.latency.mean, rps: r.requests.average, errors: r.errors + r.non2xx };
}
