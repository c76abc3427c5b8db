import { randomBytes } from 'node:crypto';
import { open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** fsync a directory so a rename or create inside it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The temp file beside `path` that writeFileAtomic writes before its rename: `.<name>.<12 hex>.tmp`. */
function atomicTempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/** True for a name atomicTempPath gives (and so for what a crash between write and rename leaves). */
export function isAtomicTempName(name: string): boolean {
  return /^\..+\.[0-9a-f]{12}\.tmp$/.test(name);
}

/**
 * Removes the temp files of atomic writes a crash left in `dir` (not recursive) and returns their names.
 * Only call it before any write can be in flight in `dir` (when the store opens). A missing `dir` has none.
 */
export async function removeAtomicLeftovers(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw err;
  }
  const removed: string[] = [];
  for (const entry of entries) {
    if (!entry.isFile() || !isAtomicTempName(entry.name)) continue;
    await rm(join(dir, entry.name), { force: true });
    removed.push(entry.name);
  }
  if (removed.length > 0) await fsyncDir(dir);
  return removed;
}

/** temp file + fsync + rename + fsync(dir): readers see the old file or the new one, never half. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = atomicTempPath(path);
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(path));
}

/** Moves a finished directory into place in one rename (same filesystem). */
export async function renameDirAtomic(from: string, to: string): Promise<void> {
  await rename(from, to);
  await fsyncDir(dirname(to));
}
