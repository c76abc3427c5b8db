import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { link, open, readdir, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
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
  /** The owner's pid namespace: its pid means something here only when it is ours (containers each have their own). */
  readonly pid_ns: string | null;
  /** Which start wrote the file, so a release never removes a successor's lock. */
  readonly nonce: string;
}

/** How often the owner touches its lock, and how long a lock whose owner cannot be checked from here stays valid untouched. */
export const LOCK_HEARTBEAT_MS = 5_000;
export const LOCK_STALE_MS = 20_000;

/** A second instance on a data directory another live instance holds. */
export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly lockPath: string,
    readonly owner: LockOwner,
    /** Whether the owner's pid was checked here (same host and pid namespace), or only the lock's heartbeat. */
    readonly checked: boolean,
    readonly ageMs: number,
  ) {
    super(
      `inferbox: the data directory ${dataDir} is in use by another inferbox (pid ${owner.pid} on host ${owner.host}, started ${owner.started_at}). ` +
        'One data directory serves exactly one instance: two would overwrite each other and diverge. ' +
        'Stop that instance first, or give this one its own directory (--data or INFERBOX_DATA). ' +
        (checked
          ? `If pid ${owner.pid} is not an inferbox, delete ${lockPath}.`
          : `Its pid cannot be checked from here (another host or container), but it refreshed the lock ${Math.round(ageMs / 1000)} s ago; ` +
            `a lock not refreshed for ${LOCK_STALE_MS / 1000} s is taken over, so if that instance is gone, start again then.`) +
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
const PID_NS = (() => {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
})();

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

/**
 * Why the recorded owner cannot be running any more, or null when it may be. Its pid is checked when
 * it ran on this host in this pid namespace; otherwise only the lock's heartbeat (its mtime) tells.
 */
function staleReason(owner: LockOwner, ageMs: number): string | null {
  if (owner.host === hostname()) {
    if (owner.boot_id !== null && BOOT_ID !== null && owner.boot_id !== BOOT_ID) return 'the host rebooted since';
    if (pidCheckable(owner)) {
      // A lock naming this very process: an earlier open in this process, never another instance.
      if (owner.pid === process.pid) return 'its pid is this process';
      if (!pidAlive(owner.pid)) return 'its pid is not running';
      const start = owner.proc_start === null ? null : procStart(owner.pid);
      if (start !== null && start !== owner.proc_start) return 'its pid now belongs to another process';
      return null;
    }
  }
  return ageMs > LOCK_STALE_MS ? `not refreshed for ${Math.round(ageMs / 1000)} s` : null;
}

function pidCheckable(owner: LockOwner): boolean {
  return owner.host === hostname() && owner.pid_ns === PID_NS;
}

function parseOwner(text: string): LockOwner | null {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid !== 'number' || typeof o.host !== 'string' || typeof o.nonce !== 'string') return null;
    return {
      pid: o.pid,
      host: o.host,
      started_at: String(o.started_at ?? '?'),
      boot_id: o.boot_id ?? null,
      proc_start: o.proc_start ?? null,
      pid_ns: o.pid_ns ?? null,
      nonce: o.nonce,
    };
  } catch {
    return null;
  }
}

/** Hard links refused by the filesystem (some FUSE, SMB and FAT mounts): the lock falls back to O_EXCL. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK', 'EXDEV']);

/**
 * Creates `path` holding `text` only if no file is there: written beside it first, then hard-linked
 * into place (link fails on an existing name), so a reader never sees a lock half written. Where
 * links are refused, `open(path, 'wx')`: atomic too, but a reader may see it empty for a moment
 * (`lockDataDir` waits for a young empty lock rather than taking it over).
 */
async function createExclusive(path: string, text: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeSynced(tmp, 'wx', text);
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_LINKS.has(code)) throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
  try {
    await writeSynced(path, 'wx', text);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

async function writeSynced(path: string, flags: string, text: string): Promise<void> {
  const handle = await open(path, flags, 0o644);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The temporary files of createExclusive that a start killed between its write and its unlink left behind. */
async function removeLeftovers(lockPath: string): Promise<void> {
  const name = basename(lockPath).replace(/[.]/g, '\\.');
  const pattern = new RegExp(`^${name}(?:\\.takeover)?\\.(\\d+)\\.[0-9a-f]{8}\\.tmp$`);
  const entries = await readdir(dirname(lockPath)).catch(() => []);
  for (const entry of entries) {
    const pid = pattern.exec(entry)?.[1];
    // Another start's, mid-write, when its pid runs.
    if (pid !== undefined && !pidAlive(Number(pid))) await unlink(join(dirname(lockPath), entry)).catch(() => {});
  }
}

/** How long ago `path` was last written (0 when it is gone: treated as just made). */
async function ageMs(path: string): Promise<number> {
  return stat(path).then(
    (s) => Date.now() - s.mtimeMs,
    () => 0,
  );
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
    if ((await ageMs(guardPath)) < 60_000) return 'busy';
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
 * A lock whose owner cannot be running (dead pid on this host, a reboot, a reused pid, no heartbeat
 * for LOCK_STALE_MS) is taken over with a warning: after a kill -9 the next start succeeds.
 * While held, the lock's mtime is refreshed every LOCK_HEARTBEAT_MS.
 */
export async function lockDataDir(dataDir: string, lockPath: string, log: Logger): Promise<DataDirLock> {
  const owner: LockOwner = {
    pid: process.pid,
    host: hostname(),
    started_at: new Date().toISOString(),
    boot_id: BOOT_ID,
    proc_start: procStart(process.pid),
    pid_ns: PID_NS,
    nonce: randomBytes(8).toString('hex'),
  };
  const text = `${JSON.stringify(owner)}\n`;
  const taken = async (): Promise<DataDirLock> => {
    await removeLeftovers(lockPath);
    const heartbeat = setInterval(() => void beat(), LOCK_HEARTBEAT_MS).unref();
    const beat = async () => {
      const current = await readLock(lockPath).catch(() => null);
      const holder = current === null ? null : parseOwner(current);
      if (holder?.nonce === owner.nonce) {
        const now = new Date();
        await utimes(lockPath, now, now).catch(() => {});
      } else if (current === null) {
        // Deleted by hand while this instance runs: put it back, or the next start would not see us.
        await createExclusive(lockPath, text).catch(() => false);
      } else {
        clearInterval(heartbeat);
        log.error(
          { lock: lockPath, other_pid: holder?.pid, other_host: holder?.host },
          'lost the data directory lock: another instance took this directory over (this one stopped refreshing it?); stop one of them now',
        );
      }
    };
    return {
      path: lockPath,
      owner,
      async release() {
        clearInterval(heartbeat);
        const current = await readLock(lockPath).catch(() => null);
        if (current !== null && parseOwner(current)?.nonce === owner.nonce) await unlink(lockPath).catch(() => {});
      },
    };
  };
  // Several rounds: between reading a stale lock and creating ours, another start may win the race.
  const deadline = Date.now() + 10_000;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    if (await createExclusive(lockPath, text)) return taken();
    const seen = await readLock(lockPath);
    if (seen === null) continue;
    const age = await ageMs(lockPath);
    const previous = parseOwner(seen);
    if (previous === null) {
      // Unreadable and just made: another start between its O_EXCL open and its write. Wait for it.
      if (age < 5_000) continue;
    } else if (staleReason(previous, age) === null) {
      throw new DataDirLockedError(dataDir, lockPath, previous, pidCheckable(previous), age);
    }
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
          : {
              lock: lockPath,
              previous_pid: previous.pid,
              previous_host: previous.host,
              previous_started_at: previous.started_at,
              reason: staleReason(previous, age),
            },
        previous === null ? 'data directory lock was unreadable: taken over' : 'data directory lock left by an instance that is gone: taken over',
      );
      return taken();
    }
  }
  throw new Error(`inferbox: could not take the data directory lock ${lockPath}: other starts kept racing for it for 10 s`);
}
