import { loadConfig } from './config.js';
import { startServer } from './front/start.js';
import { createLogger } from './log.js';

/** Process entry: config -> store, workers and front; SIGTERM/SIGINT drain and exit. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig({ env: process.env, argv: process.argv.slice(2) });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const log = createLogger({ level: config.log.level, name: 'front' });
  const server = await startServer(config, log, { announce: (line) => process.stderr.write(`${line}\n`) });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining');
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`inferbox failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
