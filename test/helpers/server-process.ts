import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { InferboxClient } from '../../src/client/index.js';

/** The built entry `npm start` runs; `npm test` and `npm run test:soak` build it first. */
const MAIN_JS = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));

/** One JSON log line of the front or of one of its workers (they share its stdout). */
export type LogLine = Record<string, unknown> & { msg?: string };

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** The admin client. */
  readonly client: InferboxClient;
  /** Every log line so far, front and workers. */
  readonly lines: readonly LogLine[];
  /** Resolves with the first line from index `since` of `lines` on (logged or to come) that `match` accepts. */
  waitForLine(match: (line: LogLine) => boolean, since?: number): Promise<LogLine>;
  /** The pids of the runtime workers, from /healthz. */
  workerPids(): Promise<number[]>;
  /** SIGKILL, as a crash or the OOM killer would: no drain, no cleanup. Resolves once the front is gone. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for the exit (the graceful path). */
  stop(): Promise<number | null>;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts the server as `npm start` does (`node --no-node-snapshot dist/src/main.js`), on port 0 and
 * `dataDir`, and resolves once it listens. `args` are extra flags (docs/config.md), `env` extra
 * environment variables (e.g. INFERBOX_DATABASE_URL).
 */
export async function spawnServer(options: { dataDir: string; adminToken: string; args?: readonly string[]; env?: Readonly<Record<string, string>> }): Promise<ServerProcess> {
  if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} is missing: run npm run build`);
  const child = spawn(
    process.execPath,
    ['--no-node-snapshot', MAIN_JS, '--port', '0', '--grpc-port', '0', '--host', '127.0.0.1', '--data', options.dataDir, '--admin-token', options.adminToken, ...(options.args ?? [])],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } },
  );
  const lines: LogLine[] = [];
  const waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return;
    }
    lines.push(line);
    for (const w of [...waiters]) {
      if (!w.match(line)) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(line);
    }
  });
  const waitForLine = (match: (line: LogLine) => boolean, since = 0) =>
    new Promise<LogLine>((resolve) => {
      const seen = lines.slice(since).find(match);
      if (seen) resolve(seen);
      else waiters.push({ match, resolve });
    });
  const listening = await Promise.race([
    waitForLine((l) => l.msg === 'inferbox listening'),
    exited.then((code) => {
      throw new Error(`the server exited (${code}) before listening: ${stderr}`);
    }),
  ]);
  const url = `http://127.0.0.1:${listening.port as number}`;
  const client = new InferboxClient({ baseUrl: url, token: options.adminToken });
  return {
    child,
    url,
    client,
    lines,
    waitForLine,
    async workerPids() {
      return ((await client.health()).workers as { pid: number }[]).map((w) => w.pid);
    },
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
