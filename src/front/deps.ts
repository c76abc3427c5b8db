import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import type { CallStats } from './call-stats.js';
import type { DeploymentPlacer } from './dispatch/deployment-placer.js';
import type { ScriptRouter } from './dispatch/script-router.js';
import type { WorkerPool } from './dispatch/worker-pool.js';

/** Everything the front's routes use, passed explicitly (no module singletons). */
export interface AppDeps {
  readonly config: Config;
  readonly store: Store;
  readonly workers: WorkerPool;
  readonly scripts: ScriptRouter;
  /** Which workers serve each deployment; what its requests run. */
  readonly placer: DeploymentPlacer;
  readonly log: Logger;
  /** Per-deployment function call statistics (GET /api/v1/deployments/{name}/stats). */
  readonly stats: CallStats;
  /** sha-256 of the admin token. */
  readonly adminTokenHash: string;
  /** Set when SIGTERM started draining: /readyz turns 503. */
  readonly lifecycle: { draining: boolean };
}
