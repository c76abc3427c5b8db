import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Logger } from '../log.js';

/** What the lock file holds: enough to tell whether its owner still runs, and for a person to find it. */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly started_at: string;
  /** The kernel's boot id: a different one on the same host means the owner died in a reboot. */
  readonly boot_id: string | null;
  /** The owner's start time in clock ticks since boot (/proc/<pid>/stat): tells a reused pid from the owner. */
  readonly proc_start: number | null;
  /** Which start wrote the file, so a release never removes a successor's lock. */
  readonly nonce: string;
}

/** A second instance on a data directory another live instance holds. */
export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly lockPath: string,
    readonly owner: LockOwner,
  ) {
    const sameHost = owner.host === hostname();
    super(
      `inferbox: the data directory ${dataDir} is in use by another inferbox (pid ${owner.pid} on host ${owner.host}, started ${owner.started_at}). ` +
        'One data directory serves exactly one instance: two would overwrite each other and diverge. ' +
        `Stop that instance first, or give this one its own directory (--data or INFERBOX_DATA). ` +
        (sameHost
          ? `If pid ${owner.pid} is not an inferbox, delete ${lockPath}.`
          : `That host cannot be checked from here: if no inferbox runs there on this directory any more, delete ${lockPath}.`) +
        ' Several instances share data through PostgreSQL (INFERBOX_DATABASE_URL), see docs/operations.md.',
    );
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  readonly path: string;
  readonly owner: LockOwner;
  /** Removes the lock file if it is still this start's. */
  release(): Promise<void>;
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

const BOOT_ID = readOrNull('/proc/sys/kernel/random/boot_id');

/** Field 22 of /proc/<pid>/stat (after the command name, which may hold spaces and parentheses). */
function procStart(pid: number): number | null {
  const stat = readOrNull(`/proc/${pid}/stat`);
  if (stat === null) return null;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const value = Number(fields[19]);
  return Number.isFinite(value) ? value : null;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Why the recorded owner cannot be running any more, or null when it may be. */
function staleReason(owner: LockOwner): string | null {
  if (owner.host !== hostname()) return null;
  if (owner.boot_id !== null && BOOT_ID !== null && owner.boot_id !== BOOT_ID) return 'the host rebooted since';
  // In a container every start is pid 1: a lock naming our own pid was left by an earlier life.
  if (owner.pid === process.pid) return 'its pid is this process';
  if (!pidAlive(owner.pid)) return 'its pid is not running';
  const start = owner.proc_start === null ? null : procStart(owner.pid);
  if (start !== null && start !== owner.proc_start) return 'its pid now belongs to another process';
  return null;
}

function parseOwner(text: string): LockOwner | null {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid !== 'number' || typeof o.host !== 'string' || typeof o.nonce !== 'string') return null;
    return { pid: o.pid, host: o.host, started_at: String(o.started_at ?? '?'), boot_id: o.boot_id ?? null, proc_start: o.proc_start ?? null, nonce: o.nonce };
  } catch {
    return null;
  }
}

/**
 * Creates `path` holding `text` only if no file is there: written beside it first, then hard-linked
 * into place (link fails on an existing name), so a reader never sees a lock half written.
 */
async function createExclusive(path: string, text: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', 0o644);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

async function readLock(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * A takeover guard: two starts that both find the same stale lock must not both remove it and each
 * create their own (the second would delete the first's fresh lock). Only the one holding the guard
 * removes a stale lock. A guard left by a start killed within that step is old after a minute.
 */
async function withTakeoverGuard<T>(guardPath: string, fn: () => Promise<T>): Promise<T | 'busy'> {
  if (!(await createExclusive(guardPath, String(process.pid)))) {
    const age = await stat(guardPath).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age < 60_000) return 'busy';
    await unlink(guardPath).catch(() => {});
    if (!(await createExclusive(guardPath, String(process.pid)))) return 'busy';
  }
  try {
    return await fn();
  } finally {
    await unlink(guardPath).catch(() => {});
  }
}

/**
 * Takes `<dataDir>/<lockPath>` for this process, or throws DataDirLockedError naming the live owner.
 * A lock whose owner cannot be running (dead pid on this host, a reboot, a reused pid) is taken over
 * with a warning: after a kill -9 the next start succeeds.
 */
export async function lockDataDir(dataDir: string, lockPath: string, log: Logger): Promise<DataDirLock> {
  const owner: LockOwner = {
    pid: process.pid,
    host: hostname(),
    started_at: new Date().toISOString(),
    boot_id: BOOT_ID,
    proc_start: procStart(process.pid),
    nonce: randomBytes(8).toString('hex'),
  };
  const text = `${JSON.stringify(owner)}\n`;
  const lock: DataDirLock = {
    path: lockPath,
    owner,
    async release() {
      const current = await readLock(lockPath).catch(() => null);
      if (current !== null && parseOwner(current)?.nonce === owner.nonce) await unlink(lockPath).catch(() => {});
    },
  };
  // A few rounds: between reading a stale lock and creating ours, another start may win the race.
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await createExclusive(lockPath, text)) return lock;
    const seen = await readLock(lockPath);
    if (seen === null) continue;
    const previous = parseOwner(seen);
    if (previous !== null && staleReason(previous) === null) throw new DataDirLockedError(dataDir, lockPath, previous);
    const took = await withTakeoverGuard(`${lockPath}.takeover`, async () => {
      // Still the same stale file? Otherwise someone took over first: look again.
      if ((await readLock(lockPath)) !== seen) return false;
      await unlink(lockPath);
      return createExclusive(lockPath, text);
    });
    if (took === true) {
      log.warn(
        previous === null
          ? { lock: lockPath }
          : { lock: lockPath, previous_pid: previous.pid, previous_host: previous.host, previous_started_at: previous.started_at, reason: staleReason(previous) },
        previous === null ? 'data directory lock was unreadable: taken over' : 'data directory lock left by an instance that is gone: taken over',
      );
      return lock;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const last = parseOwner((await readLock(lockPath)) ?? '');
  if (last !== null) throw new DataDirLockedError(dataDir, lockPath, last);
  throw new Error(`inferbox: could not take the data directory lock ${lockPath}: other starts keep racing for it`);
}
