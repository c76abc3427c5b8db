import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * A throwaway PostgreSQL server for tests: Debian's binaries (`.ci/run` installs the `postgresql`
 * package when they are missing), a cluster in a temp directory owned by the `postgres` user (the
 * server refuses to run as root), on 127.0.0.1 and a free port, with trust authentication. One
 * server per test process (`sharedPostgres()`), a fresh database per test (`createDatabase()`); the
 * server is stopped and its directory removed when the process exits.
 */
export interface PostgresServer {
  readonly port: number;
  /** A new empty database; its connection URL. */
  createDatabase(): Promise<string>;
  /** pg_ctl stop -m fast: connections are cut, as in a database restart or outage. */
  stop(): void;
  /** pg_ctl start again on the same port and cluster. */
  start(): void;
}

/** Why a server cannot run here, or null when it can. */
export type PostgresAvailability = { server: PostgresServer; reason: null } | { server: null; reason: string };

function binDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length === 0 ? null : join(root, versions[0]!, 'bin');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Runs a server binary as the postgres user when we are root (it refuses root), else as ourselves. */
function asPostgres(bin: string, args: string[]): string[] {
  return process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', bin, ...args] : [bin, ...args];
}

function run(argv: string[]): void {
  execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
}

async function startPostgres(): Promise<PostgresServer> {
  const bin = binDir();
  if (bin === null) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (install Debian\'s postgresql package)');
  const dir = mkdtempSync(join(tmpdir(), 'inferbox-pg-'));
  const data = join(dir, 'data');
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const port = await freePort();
  const ctl = (args: string[]) => run(asPostgres(join(bin, 'pg_ctl'), ['-D', data, ...args]));
  const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  let running = false;
  const cleanup = () => {
    if (running) {
      // Synchronous: this runs in the process's 'exit' handler.
      const [cmd, ...args] = asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']);
      spawnSync(cmd!, args, { stdio: 'ignore' });
    }
    running = false;
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', cleanup);
  try {
    run(asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']));
    ctl(['-o', options, '-l', join(dir, 'server.log'), '-w', 'start']);
    running = true;
  } catch (err) {
    cleanup();
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`PostgreSQL did not start: ${e.stderr?.toString().trim() || e.message}`);
  }
  let n = 0;
  const admin = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    port,
    async createDatabase() {
      const name = `t${process.pid}_${++n}`;
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stop() {
      ctl(['-m', 'fast', '-w', 'stop']);
      running = false;
    },
    start() {
      ctl(['-o', options, '-l', join(dir, 'server.log'), '-w', 'start']);
      running = true;
    },
  };
}

let shared: Promise<PostgresAvailability> | undefined;

/**
 * The process's server, started on first use. In CI (`CI=true`) a server that cannot start throws:
 * the tests fail, never skip. Elsewhere the reason is printed and returned for `{ skip: reason }`.
 */
export function sharedPostgres(): Promise<PostgresAvailability> {
  return (shared ??= startPostgres().then(
    (server) => ({ server, reason: null }),
    (err: Error) => {
      if (process.env.CI === 'true') throw err;
      const reason = `PostgreSQL tests skipped: ${err.message}`;
      process.stderr.write(`${reason}\n`);
      return { server: null, reason };
    },
  ));
}
