import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { workerCount, type Config } from '../config.js';
import type { Logger } from '../log.js';
import { openFsStore, openPgStore, type Store } from '../store/index.js';
import { workerConfigFrom } from '../protocol/worker-config.js';
import { createApp } from './app.js';
import { CallStats } from './call-stats.js';
import { hashToken, mintToken } from './auth/index.js';
import { DeploymentPlacer } from './dispatch/deployment-placer.js';
import { ScriptRouter } from './dispatch/script-router.js';
import { WorkerPool } from './dispatch/worker-pool.js';
import { startGrpc } from './oip/grpc.js';

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /** The Open Inference Protocol's gRPC port; null when `grpc.port` is -1. */
  readonly grpcPort: number | null;
  readonly store: Store;
  readonly workers: WorkerPool;
  /** Where the admin token came from: INFERBOX_ADMIN_TOKEN, the data directory, or generated (and announced) by this start. */
  readonly adminToken: AdminTokenSource;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), stops the workers. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Where the one-time generated admin token is shown. */
  readonly announce?: (line: string) => void;
}

export type AdminTokenSource = 'env' | 'stored' | 'generated';

/** The admin token hash: from config, else the stored one, else a new token printed once. */
async function adminTokenHash(config: Config, store: Store, announce: (line: string) => void): Promise<{ hash: string; source: AdminTokenSource }> {
  const stored = await store.getAdminTokenHash();
  if (config.auth.adminToken !== '') {
    if (stored !== null && stored !== hashToken(config.auth.adminToken)) {
      announce('inferbox: INFERBOX_ADMIN_TOKEN is set, so the admin token stored in the data directory is not accepted while it is.');
    }
    return { hash: hashToken(config.auth.adminToken), source: 'env' };
  }
  if (stored !== null) return { hash: stored, source: 'stored' };
  const token = mintToken('ibx_admin');
  await store.setAdminTokenHash(hashToken(token));
  // Instances starting together on one empty database: the first token stored is everyone's.
  const kept = await store.getAdminTokenHash();
  if (kept !== null && kept !== hashToken(token)) return { hash: kept, source: 'stored' };
  announce(`inferbox: generated the admin token (shown once, stored hashed in ${store.where === store.layout.root ? store.layout.adminTokenPath : store.where}):\n\n  ${token}\n`);
  return { hash: hashToken(token), source: 'generated' };
}

/** Opens the store, starts the runtime workers and the HTTP front. */
export async function startServer(config: Config, log: Logger, options: StartOptions = {}): Promise<RunningServer> {
  const store = config.store.databaseUrl === '' ? await openFsStore(config.store.dataDir, log) : await openPgStore(config.store.databaseUrl, config.store.dataDir, log);
  try {
    return await startOnStore(config, log, options, store);
  } catch (err) {
    // A start that fails (port taken, workers that never come up) leaves the data directory free.
    await store.close();
    throw err;
  }
}

async function startOnStore(config: Config, log: Logger, options: StartOptions, store: Store): Promise<RunningServer> {
  const adminToken = await adminTokenHash(config, store, options.announce ?? ((line) => log.warn(line)));
  let placer: DeploymentPlacer | undefined;
  const workers = new WorkerPool({
    count: workerCount(config),
    config: workerConfigFrom(config),
    startTimeoutMs: config.workers.startTimeoutMs,
    requestTimeoutMs: config.workers.requestTimeoutMs,
    maxQueue: config.workers.maxQueue,
    maxInflightPerDeployment: config.workers.maxInflightPerDeployment,
    maxInflightPerWorker: config.workers.maxInflightPerWorker,
    log: log.child({ component: 'workers' }),
    onRestarted: (worker) => placer?.workerRestarted(worker),
  });
  try {
    await workers.start();
  } catch (err) {
    // A start that fails leaves nothing running: no worker processes (startServer closes the store:
    // its lock, its database connections).
    await workers.close(0).catch(() => undefined);
    throw err;
  }
  const lifecycle = { draining: false };
  const scripts = new ScriptRouter(workers, config, log.child({ component: 'scripts' }));
  placer = new DeploymentPlacer({ store, workers, scripts, log: log.child({ component: 'placement' }) });
  placer.start();
  const stats = new CallStats();
  // Other instances' changes (PostgreSQL store) take the path this instance's own changes take.
  store.onChange((change) => {
    if (change.kind === 'deployment') {
      if (change.record === undefined) stats.forget(change.name);
      void placer!.applyRemote(change.name);
      return;
    }
    for (const version of change.removed) {
      workers.broadcast({ t: 'evict', name: change.name, version }).catch((err: unknown) => log.warn({ err, model: change.name, version }, 'could not unload a version another instance deleted'));
    }
  });
  const deps = { config, store, workers, scripts, placer, log, stats, adminTokenHash: adminToken.hash, lifecycle };
  const app = createApp(deps);

  let inflight = 0;
  const handler = app.callback();
  const server: Server = createServer((req, res) => {
    inflight++;
    res.once('close', () => inflight--);
    void handler(req, res);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.server.port, config.server.host, () => resolve());
  }).catch(async (err: unknown) => {
    // Port taken: the workers go too (startServer then closes the store).
    placer?.close();
    await workers.close(0).catch(() => undefined);
    throw err;
  });
  const { port } = server.address() as AddressInfo;
  const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host;
  const grpcServer = config.grpc.port === -1 ? null : await startGrpc(deps, config.server.host, config.grpc.port, log.child({ component: 'grpc' })).catch(async (err: unknown) => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    placer?.close();
    await workers.close(0);
    throw err;
  });
  if (grpcServer !== null) log.info({ port: grpcServer.port, host: config.server.host }, 'inferbox gRPC (Open Inference Protocol) listening');
  // Once both ports answer: tests and operators take this line for "up".
  log.info({ port, host: config.server.host, dataDir: store.layout.root, workers: workers.size }, 'inferbox listening');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      lifecycle.draining = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = Date.now() + config.server.shutdownGraceMs;
      // gRPC stops taking calls now too, and its calls in flight get the same grace.
      const grpcStopped = grpcServer?.close(config.server.shutdownGraceMs);
      while (inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      server.closeAllConnections();
      await stopped;
      await grpcStopped;
      placer?.close();
      await workers.close(Math.max(0, deadline - Date.now()));
      await store.close();
      log.info('inferbox stopped');
    })());

  return { url: `http://${host}:${port}`, port, grpcPort: grpcServer?.port ?? null, store, workers, adminToken: adminToken.source, close };
}
