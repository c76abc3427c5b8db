import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type pg from 'pg';

/** Bytes per bytea row: big enough that a 1 GiB model is ~1,000 rows, small enough to hold one in memory. */
export const CHUNK_BYTES = 1024 * 1024;
/** Rows read per query when a version is fetched. */
const ROWS_PER_READ = 4;

/** Every file under `dir`, as paths relative to it with '/' separators. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'));
  }
  return out.sort();
}

/**
 * Streams every file of a staged version into `artifactId`'s chunks, inside the caller's
 * transaction: one chunk in memory at a time. An empty file is one empty chunk, so it is listed.
 */
export async function writeArtifact(client: pg.PoolClient, artifactId: string, dir: string, skip: ReadonlySet<string>): Promise<void> {
  for (const path of await filesUnder(dir)) {
    if (skip.has(path)) continue;
    let seq = 0;
    for await (const chunk of createReadStream(join(dir, path), { highWaterMark: CHUNK_BYTES })) {
      await client.query('INSERT INTO artifact_chunks (artifact_id, path, seq, data) VALUES ($1, $2, $3, $4)', [artifactId, path, seq++, chunk]);
    }
    if (seq === 0) await client.query('INSERT INTO artifact_chunks (artifact_id, path, seq, data) VALUES ($1, $2, 0, $3)', [artifactId, path, Buffer.alloc(0)]);
  }
}

/**
 * Writes the artifact's files under `dir`, a few chunks per query, and returns each file's sha256
 * (hashed as it is written) so the caller can check them against the manifest.
 */
export async function readArtifact(client: pg.PoolClient, artifactId: string, dir: string): Promise<Map<string, string>> {
  const { rows } = await client.query<{ path: string }>('SELECT DISTINCT path FROM artifact_chunks WHERE artifact_id = $1 ORDER BY path', [artifactId]);
  const hashes = new Map<string, string>();
  for (const { path } of rows) {
    const target = join(dir, ...path.split('/'));
    if (relative(dir, target).startsWith('..')) throw new Error(`artifact path ${JSON.stringify(path)} leaves its folder`);
    await mkdir(dirname(target), { recursive: true });
    const handle = await open(target, 'w', 0o600);
    const hash = createHash('sha256');
    try {
      for (let next = 0; ; ) {
        const page = await client.query<{ seq: number; data: Buffer }>(
          'SELECT seq, data FROM artifact_chunks WHERE artifact_id = $1 AND path = $2 AND seq >= $3 ORDER BY seq LIMIT $4',
          [artifactId, path, next, ROWS_PER_READ],
        );
        for (const row of page.rows) {
          if (row.seq !== next) throw new Error(`artifact ${artifactId} file ${path}: chunk ${next} is missing`);
          hash.update(row.data);
          await handle.write(row.data);
          next++;
        }
        if (page.rows.length < ROWS_PER_READ) break;
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    hashes.set(path, hash.digest('hex'));
  }
  return hashes;
}
