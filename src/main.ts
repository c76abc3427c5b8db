import { realpathSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type Config } from './config.js';
import { startServer, type RunningServer } from './front/start.js';
import { createLogger } from './log.js';
import { DataDirLockedError } from './store/index.js';

const TOKEN_HINT: Record<RunningServer['adminToken'], string> = {
  generated: 'admin token: printed above, shown once',
  env: 'admin token: INFERBOX_ADMIN_TOKEN',
  stored: 'admin token: the one printed on the first start (lost it? start with INFERBOX_ADMIN_TOKEN=<a token of your choice>)',
};

/** The one line a person reads when the server is up: where it is, where its data is, how to sign in. */
function readyLine(server: RunningServer, config: Config): string {
  const open = config.server.host === '0.0.0.0' || config.server.host === '::' ? `http://localhost:${server.port}` : server.url;
  return `inferbox ready: web console and API at ${open} · data in ${server.store.where} · ${TOKEN_HINT[server.adminToken]}`;
}

/** Config -> store, workers and front; SIGTERM/SIGINT drain and exit. */
async function start(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<void> {
  let config;
  try {
    config = loadConfig({ env, argv });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const log = createLogger({ level: config.log.level, name: 'front' });
  let server: RunningServer | undefined;
  let pending: string | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    // A signal while starting (the HTTP port can already answer while gRPC still binds) waits for
    // the start, then drains as usual: the default action would end the process with its lock held.
    if (server === undefined) {
      // A second one (Ctrl-C again) does not wait.
      if (pending !== undefined) process.exit(1);
      pending = signal;
      return;
    }
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
  server = await startServer(config, log, { announce: (line) => process.stderr.write(`${line}\n`) });
  process.stderr.write(`${readyLine(server, config)}\n`);
  if (pending !== undefined) stop(pending);
}

/**
 * The server as the process's job: config from the flags in `argv` (docs/config.md), then `env`;
 * the ready line on stderr once it listens (when the promise resolves). A bad configuration exits 2,
 * a failure to start exits 1. Run by `node dist/src/main.js` and by `inferbox serve`.
 */
export function serve(argv: readonly string[] = process.argv.slice(2), env: Readonly<Record<string, string | undefined>> = process.env): Promise<void> {
  return start(argv, env).catch((err: unknown) => {
    // Not a bug: the message says what to do, a stack would bury it.
    if (err instanceof DataDirLockedError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`inferbox failed to start: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}

/** True when this module is the process entry (`node dist/src/main.js`), not imported (by the CLI). */
function isEntry(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  const self = realpathSync(fileURLToPath(import.meta.url));
  // `node dist/src/main` names the file without its extension.
  return [entry, `${entry}${extname(self)}`].some((path) => {
    try {
      return realpathSync(path) === self;
    } catch {
      return false;
    }
  });
}

if (isEntry()) void serve();
