import type pg from 'pg';
import type { Logger } from '../../log.js';

/**
 * The schema, one step per version, applied in order at start. Never edit a released step: add
 * the next one. Each step runs in its own transaction with its version recorded.
 */
export const MIGRATIONS: readonly { readonly version: number; readonly name: string; readonly sql: string }[] = [
  {
    version: 1,
    name: 'models, versions, artifacts, deployments, settings',
    sql: `
      -- The last version number given per model, so a deleted version's number is never given
      -- again while the model has versions; its row lock orders concurrent publishes.
      CREATE TABLE models (
        name text PRIMARY KEY,
        last_version integer NOT NULL
      );
      -- A version's files, in chunks of at most 1 MiB per file, streamed in and out.
      CREATE TABLE artifacts (
        id bigserial PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE artifact_chunks (
        artifact_id bigint NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
        path text NOT NULL,
        seq integer NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (artifact_id, path, seq)
      );
      -- Model weights hardly compress: store them as they are, without trying.
      ALTER TABLE artifact_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
      CREATE TABLE versions (
        name text NOT NULL,
        version integer NOT NULL,
        artifact_id bigint NOT NULL REFERENCES artifacts (id),
        manifest jsonb NOT NULL,
        script text,
        PRIMARY KEY (name, version)
      );
      CREATE TABLE deployments (
        name text PRIMARY KEY,
        record jsonb NOT NULL
      );
      CREATE INDEX deployments_model ON deployments ((record->>'modelName'));
      CREATE TABLE settings (
        key text PRIMARY KEY,
        value text NOT NULL
      );
    `,
  },
];

/** Any constant: the key of the advisory lock instances take around migrations. */
const MIGRATION_LOCK = 7_405_019_017;

/**
 * Applies the steps this database lacks. Two instances starting together take turns on a
 * session advisory lock: the second finds the steps applied and does nothing.
 */
export async function migrate(pool: pg.Pool, log: Logger): Promise<void> {
  const client = await pool.connect();
  // A connection cut while held (see PgStore.query) must not end the process: the start fails instead.
  let broken = false;
  const onError = (err: Error) => {
    broken = true;
    log.warn({ err: err.message }, 'the database connection of the migrations failed');
  };
  client.on('error', onError);
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query('CREATE TABLE IF NOT EXISTS inferbox_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
      const { rows } = await client.query<{ version: number }>('SELECT version FROM inferbox_migrations');
      const applied = new Set(rows.map((r) => r.version));
      const newest = Math.max(0, ...applied);
      const known = Math.max(...MIGRATIONS.map((m) => m.version));
      if (newest > known) throw new Error(`the database's schema is version ${newest}, newer than this inferbox knows (${known}): upgrade inferbox`);
      for (const step of MIGRATIONS) {
        if (applied.has(step.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(step.sql);
          await client.query('INSERT INTO inferbox_migrations (version, name) VALUES ($1, $2)', [step.version, step.name]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw err;
        }
        log.info({ version: step.version, migration: step.name }, 'applied a database migration');
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}
