import type { Middleware } from 'koa';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { STAGE_TIMINGS, type WorkerStats } from '../protocol/messages.js';
import { stateOf, type FrontState } from './context.js';
import type { WorkerPool } from './dispatch/worker-pool.js';

/** Seconds: from a fraction of a millisecond (a stage of a small model) to a long script call. */
const CALL_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface FrontMetrics {
  readonly registry: Registry;
  readonly middleware: Middleware;
}

/**
 * Prometheus metrics of the front: requests by route and status, their latency, and the runtime
 * workers' model pools (asked for on each scrape).
 */
export function createMetrics(workers: WorkerPool): FrontMetrics {
  const registry = new Registry();
  const requests = new Counter({ name: 'inferbox_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers: [registry] });
  const latency = new Histogram({
    name: 'inferbox_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['route'],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const predictions = new Counter({ name: 'inferbox_predictions_total', help: 'svc calls by deployment and status', labelNames: ['deployment', 'status'], registers: [registry] });
  // The calls of GET /api/v1/deployments/{name}/stats (call-stats.ts), with its labels: deployment and function.
  const calls = new Counter({ name: 'inferbox_calls_total', help: 'svc calls by deployment, function and HTTP status, as counted in the deployment stats', labelNames: ['deployment', 'function', 'status'], registers: [registry] });
  const callSeconds = new Histogram({
    name: 'inferbox_call_duration_seconds',
    help: 'svc call latency by deployment and function, as timed in the deployment stats',
    labelNames: ['deployment', 'function'],
    buckets: CALL_BUCKETS,
    registers: [registry],
  });
  const stageSeconds = new Histogram({
    name: 'inferbox_call_stage_seconds',
    help: 'svc call time by stage: queue (front and worker), preprocess, inference, postprocess',
    labelNames: ['deployment', 'function', 'stage'],
    buckets: CALL_BUCKETS,
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: 'inferbox_batch_size',
    help: 'Rows per dynamically batched model run, by deployment',
    labelNames: ['deployment'],
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [registry],
  });
  new Gauge({
    name: 'inferbox_workers_ready',
    help: 'Runtime workers ready to serve',
    registers: [registry],
    collect() {
      this.set(workers.readyCount);
    },
  });
  new Gauge({
    name: 'inferbox_worker_restarts',
    help: 'Runtime worker restarts since start',
    registers: [registry],
    collect() {
      this.set(workers.workerInfo().reduce((n, w) => n + w.restarts, 0));
    },
  });
  const pool = new Gauge({ name: 'inferbox_model_pool', help: 'Model pool counters summed over workers (loaded, bytes, hits, misses, loads, evictions)', labelNames: ['stat'], registers: [registry] });
  const sandboxes = new Gauge({ name: 'inferbox_sandboxes', help: 'Live script sandboxes (isolates), summed over workers', registers: [registry] });
  const rebuilds = new Gauge({ name: 'inferbox_sandbox_rebuilds', help: 'Sandboxes rebuilt after a time or memory limit, summed over live sandboxes', registers: [registry] });
  const rss = new Gauge({ name: 'inferbox_worker_rss_bytes', help: 'Resident memory of each runtime worker', labelNames: ['worker'], registers: [registry] });

  const refreshWorkers = async () => {
    const stats = await workers.broadcast<WorkerStats>({ t: 'stats' });
    const sum: Record<string, number> = {};
    rss.reset();
    sandboxes.set(stats.reduce((n, s) => n + (s?.sandboxes ?? 0), 0));
    rebuilds.set(stats.reduce((n, s) => n + (s?.rebuilds ?? 0), 0));
    stats.forEach((s, i) => {
      if (!s) return;
      rss.set({ worker: String(i) }, s.rssBytes);
      for (const [k, v] of Object.entries(s.pool)) sum[k] = (sum[k] ?? 0) + v;
    });
    for (const [k, v] of Object.entries(sum)) pool.set({ stat: k }, v);
  };

  // A route's label, from its pattern once rather than a regular expression per request.
  const labels = new Map<string, string>();
  const routeLabel = (matched: string) => {
    let label = labels.get(matched);
    if (label === undefined) labels.set(matched, (label = matched.replace(/\(\?:.*$/, '/*')));
    return label;
  };

  // Each (deployment, function)'s series, found once: prom-client hashes the labels on every
  // labelled observe, about a microsecond each, six times per call.
  type CallSeries = { byStatus: Map<string, Counter.Internal>; seconds: Histogram.Internal<string>; stages: [key: string, stage: string, h: Histogram.Internal<string>][]; batch: Histogram.Internal<string> };
  const series = new Map<string, CallSeries>();
  const seriesOf = (deployment: string, fn: string): CallSeries => {
    const key = `${deployment}\u0000${fn}`;
    let s = series.get(key);
    if (s === undefined) {
      s = {
        byStatus: new Map(),
        seconds: callSeconds.labels({ deployment, function: fn }),
        stages: Object.entries(STAGE_TIMINGS).map(([stage, timing]) => [timing, stage, stageSeconds.labels({ deployment, function: fn, stage })]),
        batch: batchSize.labels({ deployment }),
      };
      series.set(key, s);
    }
    return s;
  };
  const observeCall = (deployment: string, status: string, call: NonNullable<FrontState['call']>, timings: FrontState['timings']) => {
    const s = seriesOf(deployment, call.fn);
    let counter = s.byStatus.get(status);
    if (counter === undefined) s.byStatus.set(status, (counter = calls.labels({ deployment, function: call.fn, status })));
    counter.inc();
    s.seconds.observe(call.ms / 1000);
    if (call.batchRows !== undefined) s.batch.observe(call.batchRows);
    // Stages only for calls a worker took: a call refused in the front has none.
    if (call.frontQueueMs === undefined) return;
    for (const [timing, stage, h] of s.stages) {
      const workerMs = timings?.[timing];
      const ms = stage === 'queue' ? call.frontQueueMs + (workerMs ?? 0) : workerMs;
      if (ms !== undefined) h.observe(ms / 1000);
    }
  };

  const middleware: Middleware = async (ctx, next) => {
    if (ctx.path === '/metrics') {
      await refreshWorkers();
      ctx.type = registry.contentType;
      ctx.body = await registry.metrics();
      return;
    }
    const end = latency.startTimer();
    try {
      await next();
    } finally {
      // A router-level rejection (e.g. auth) leaves the router's prefix pattern; label it by its prefix.
      const matched = (ctx as { _matchedRoute?: string })._matchedRoute;
      const route = matched === undefined ? 'unmatched' : routeLabel(matched);
      end({ route });
      const status = String(ctx.status);
      requests.inc({ route, method: ctx.method, status });
      const state = stateOf(ctx);
      const deployment = state.deployment;
      if (deployment) {
        predictions.inc({ deployment, status });
        if (state.call) observeCall(deployment, status, state.call, state.timings);
      }
    }
  };
  return { registry, middleware };
}
