import { Agent, request } from 'node:http';

export interface LoadTarget {
  readonly url: string;
  readonly token: string;
  /** A JSON body, or a multipart body with its content type. */
  readonly body: string | Buffer;
  readonly contentType: string;
  /** More request headers (the OIP binary extension's Inference-Header-Content-Length). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly connections: number;
  readonly seconds: number;
}

export interface LoadResult {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
  readonly rps: number;
  /** Answers that were not 200, and requests that failed on the connection. */
  readonly errors: number;
  /** Requests answered 200. */
  readonly ok: number;
}

/**
 * Closed-loop load: `connections` keep-alive connections, each sending its next request when the
 * last answer has been read, for `seconds`. Latency is measured per request with hrtime
 * (microseconds; autocannon rounds to whole milliseconds, too coarse for sub-millisecond answers).
 */
async function drive(target: LoadTarget, seconds: number, until?: () => boolean): Promise<{ latenciesUs: number[]; errors: number; elapsedS: number }> {
  const url = new URL(target.url);
  const agent = new Agent({ keepAlive: true, maxSockets: target.connections });
  const body = typeof target.body === 'string' ? Buffer.from(target.body) : target.body;
  const headers = { ...target.headers, authorization: `Bearer ${target.token}`, 'content-type': target.contentType, 'content-length': String(body.length) };
  const latenciesUs: number[] = [];
  let errors = 0;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(seconds * 1e9));
  const once = () =>
    new Promise<void>((resolve) => {
      const t0 = process.hrtime.bigint();
      const req = request({ agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'POST', headers }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) latenciesUs.push(Number(process.hrtime.bigint() - t0) / 1e3);
          else errors++;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
  const loop = async () => {
    while (process.hrtime.bigint() < deadline && !until?.()) await once();
  };
  await Promise.all(Array.from({ length: target.connections }, loop));
  agent.destroy();
  return { latenciesUs, errors, elapsedS: Number(process.hrtime.bigint() - started) / 1e9 };
}

function summarize(latenciesUs: number[], errors: number, elapsedS: number): LoadResult {
  const sorted = latenciesUs.sort((a, b) => a - b);
  const at = (q: number) => (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN) / 1000;
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length) / 1000;
  return { p50Ms: at(0.5), p99Ms: at(0.99), p999Ms: at(0.999), maxMs: (sorted.at(-1) ?? NaN) / 1000, meanMs: mean, rps: sorted.length / elapsedS, errors, ok: sorted.length };
}

/** Warm up for 1 s, then measure for `seconds`. */
export async function runLoad(target: LoadTarget): Promise<LoadResult> {
  await drive(target, 1);
  return measure(target);
}

/** `target.seconds` of load without a warm-up (for callers that read counters around exactly this load). */
export async function measure(target: LoadTarget): Promise<LoadResult> {
  const { latenciesUs, errors, elapsedS } = await drive(target, target.seconds);
  return summarize(latenciesUs, errors, elapsedS);
}

/** Exactly `requests` requests over `target.connections` connections, no warm-up (`target.seconds` is ignored). */
export async function runCount(target: LoadTarget, requests: number): Promise<LoadResult> {
  let issued = 0;
  const { latenciesUs, errors, elapsedS } = await drive(target, 24 * 3600, () => issued++ >= requests);
  return summarize(latenciesUs, errors, elapsedS);
}

/** What a background load got: its answers counted by status and error code, e.g. `504 SCRIPT_TIMEOUT`. */
export interface BackgroundResult {
  readonly requests: number;
  readonly answers: ReadonlyMap<string, number>;
}

/**
 * Load that runs until stopped: `target.connections` connections, each sending its next request as
 * soon as the last one is answered (used for a misbehaving neighbour whose calls fail by design, so
 * every answer's status and error code is kept). `stop()` sends no further requests and resolves
 * when the ones in flight have been answered. With `honorRetryAfter`, a connection whose answer
 * carries `Retry-After` waits that many seconds (or until stopped) before its next request, as a
 * well-behaved client does.
 */
export function startBackground(target: LoadTarget, options: { honorRetryAfter?: boolean } = {}): { stop(): Promise<BackgroundResult> } {
  const url = new URL(target.url);
  const agent = new Agent({ keepAlive: true, maxSockets: target.connections });
  const body = typeof target.body === 'string' ? Buffer.from(target.body) : target.body;
  const headers = { ...target.headers, authorization: `Bearer ${target.token}`, 'content-type': target.contentType, 'content-length': String(body.length) };
  const answers = new Map<string, number>();
  let requests = 0;
  let stopped = false;
  let wakeAll: (() => void)[] = [];
  const pause = (seconds: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, seconds * 1000);
      function done() {
        clearTimeout(timer);
        wakeAll = wakeAll.filter((w) => w !== done);
        resolve();
      }
      wakeAll.push(done);
    });
  const count = (key: string) => answers.set(key, (answers.get(key) ?? 0) + 1);
  const once = () =>
    new Promise<void>((resolve) => {
      requests++;
      const req = request({ agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'POST', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let code = '';
          try {
            code = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: { code?: string } }).error?.code ?? '';
          } catch {
            // not JSON: the status alone
          }
          count(`${res.statusCode}${code ? ` ${code}` : ''}`);
          const retryAfter = Number(res.headers['retry-after']);
          if (options.honorRetryAfter && retryAfter > 0 && !stopped) void pause(retryAfter).then(resolve);
          else resolve();
        });
      });
      req.on('error', (err: Error) => {
        count(`connection error (${err.message})`);
        resolve();
      });
      req.end(body);
    });
  const loops = Promise.all(
    Array.from({ length: target.connections }, async () => {
      while (!stopped) await once();
    }),
  );
  return {
    async stop() {
      stopped = true;
      for (const wake of [...wakeAll]) wake();
      await loops;
      agent.destroy();
      return { requests, answers };
    },
  };
}

/**
 * Two targets measured in alternating slices (a, b, a, b, ...) and pooled per target, so drift in
 * the machine's state (other processes, CPU frequency) falls on both alike. A ratio of the two is
 * steadier than one taken from two runs minutes apart. Each slice first drives its target for
 * `settleSeconds` unmeasured: right after a switch the first target runs slower for a few hundred
 * milliseconds (measured: +30-40 us at p50 on iris), which without the settle would count against
 * whichever target has the shorter latency and flatter the ratio.
 * `pairRatios` holds, per slice pair, b's p50 over a's: the machine here has phases of several
 * seconds in which every answer is 100-150 µs slower, and a phase covering a pair affects both of
 * its slices alike, while pooled p50s take it in unequal parts. `pairRpsRatios` holds b's req/s
 * over a's, per pair, for the same reason.
 */
export async function runInterleaved(
  a: LoadTarget,
  b: LoadTarget,
  options: { slices: number; sliceSeconds: number; settleSeconds: number },
): Promise<{ a: LoadResult; b: LoadResult; pairRatios: number[]; pairRpsRatios: number[] }> {
  await drive(a, 1);
  await drive(b, 1);
  const pooled = { a: { latenciesUs: [] as number[], errors: 0, elapsedS: 0 }, b: { latenciesUs: [] as number[], errors: 0, elapsedS: 0 } };
  const pairRatios: number[] = [];
  const pairRpsRatios: number[] = [];
  for (let i = 0; i < options.slices; i++) {
    const p50 = { a: NaN, b: NaN };
    const rps = { a: NaN, b: NaN };
    for (const [key, target] of [['a', a], ['b', b]] as const) {
      await drive(target, options.settleSeconds);
      const slice = await drive(target, options.sliceSeconds);
      const summary = summarize([...slice.latenciesUs], slice.errors, slice.elapsedS);
      p50[key] = summary.p50Ms;
      rps[key] = summary.rps;
      pooled[key].latenciesUs.push(...slice.latenciesUs);
      pooled[key].errors += slice.errors;
      pooled[key].elapsedS += slice.elapsedS;
    }
    pairRatios.push(p50.b / p50.a);
    pairRpsRatios.push(rps.b / rps.a);
  }
  return {
    a: summarize(pooled.a.latenciesUs, pooled.a.errors, pooled.a.elapsedS),
    b: summarize(pooled.b.latenciesUs, pooled.b.errors, pooled.b.elapsedS),
    pairRatios,
    pairRpsRatios,
  };
}
