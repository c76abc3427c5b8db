import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferboxClient } from '../../src/client/index.js';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/front/start.js';
import { createLogger } from '../../src/log.js';
import { memoryLog } from './memory-log.js';

export const ADMIN_TOKEN = 'test-admin-token';

export interface TestServer extends RunningServer {
  readonly dataDir: string;
  /** The admin client. */
  readonly client: InferboxClient;
  /** Every JSON log line the front wrote. */
  readonly logs: Record<string, unknown>[];
}

/**
 * Boots the real front with real runtime workers on port 0 and a temp data dir.
 * `env` overrides config like the process environment would; `dataDir` reuses a directory (restarts).
 */
export async function startTestServer(options: { env?: Record<string, string>; dataDir?: string; keepData?: boolean; announce?: (line: string) => void } = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'inferbox-test-')));
  const config = loadConfig({
    env: {
      PORT: '0',
      INFERBOX_GRPC_PORT: '0',
      HOST: '127.0.0.1',
      INFERBOX_DATA: dataDir,
      INFERBOX_ADMIN_TOKEN: ADMIN_TOKEN,
      INFERBOX_WORKERS_COUNT: '2',
      INFERBOX_LOG_LEVEL: 'warn',
      ...options.env,
    },
  });
  const logs: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'info', name: 'front' }, memoryLog(logs));
  const server = await startServer(config, log, options.announce ? { announce: options.announce } : {});
  const client = new InferboxClient({ baseUrl: server.url, token: config.auth.adminToken || undefined });
  return {
    ...server,
    dataDir,
    client,
    logs,
    close: async () => {
      await server.close();
      if (options.dataDir === undefined && !options.keepData) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
