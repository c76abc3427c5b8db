import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readlink, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { spawnServer, type ServerProcess } from '../helpers/server-process.js';

const TOKEN = 'lock-test-admin-token';
const ARGS = ['--workers-count', '1'];

/** Starts a server on `dataDir`; a refused start resolves with its exit message instead. */
async function tryStart(dataDir: string): Promise<{ server: ServerProcess } | { refused: string }> {
  try {
    return { server: await spawnServer({ dataDir, adminToken: TOKEN, args: ARGS }) };
  } catch (err) {
    return { refused: (err as Error).message };
  }
}

async function lockOwner(dataDir: string): Promise<{ pid: number; host: string }> {
  return JSON.parse(await readFile(join(dataDir, 'instance.lock'), 'utf8')) as { pid: number; host: string };
}

describe('one instance per data directory (real server processes)', () => {
  const dirs: string[] = [];
  const running: ServerProcess[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'inferbox-lock-'));
    dirs.push(dir);
    return dir;
  };
  after(async () => {
    for (const s of running) await s.kill9().catch(() => {});
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('refuses a second instance naming the directory, the other pid and what to do; a clean stop frees it; kill -9 is recovered', async () => {
    const dataDir = await tempDir();
    const first = await spawnServer({ dataDir, adminToken: TOKEN, args: ARGS });
    running.push(first);
    assert.equal((await lockOwner(dataDir)).pid, first.child.pid);

    const second = await tryStart(dataDir);
    assert.ok('refused' in second, 'a second instance on the same data directory must not start');
    assert.match(second.refused, /exited \(1\) before listening/);
    assert.ok(second.refused.includes(dataDir), second.refused);
    assert.ok(second.refused.includes(`pid ${first.child.pid}`), second.refused);
    assert.match(second.refused, /Stop that instance first, or give this one its own directory/);
    assert.doesNotMatch(second.refused, /\n\s+at /, 'a refusal is a message, not a stack trace');
    // The refused start changed nothing: the first still serves and still holds the lock.
    assert.equal((await first.client.health()).status, 'ok');
    assert.equal((await lockOwner(dataDir)).pid, first.child.pid);

    assert.equal(await first.stop(), 0);
    assert.equal(existsSync(join(dataDir, 'instance.lock')), false, 'a clean shutdown releases the lock');

    const third = await spawnServer({ dataDir, adminToken: TOKEN, args: ARGS });
    running.push(third);
    await third.kill9();
    assert.equal((await lockOwner(dataDir)).pid, third.child.pid, 'kill -9 leaves the lock behind');
    // As a kill between writing the lock's temporary file and linking it would leave it.
    const leftover = join(dataDir, `instance.lock.${third.child.pid}.0123abcd.tmp`);
    await writeFile(leftover, '{}');

    const fourth = await spawnServer({ dataDir, adminToken: TOKEN, args: ARGS });
    running.push(fourth);
    const takeover = await fourth.waitForLine((l) => typeof l.msg === 'string' && l.msg.includes('taken over'));
    assert.equal(takeover.previous_pid, third.child.pid);
    assert.equal(takeover.reason, 'its pid is not running');
    assert.equal((await lockOwner(dataDir)).pid, fourth.child.pid);
    assert.equal(existsSync(leftover), false, 'the dead start\'s temporary file is removed');
    assert.equal(await fourth.stop(), 0);
  });

  it('of three instances started at once on one directory, exactly one runs', async () => {
    const dataDir = await tempDir();
    const results = await Promise.all([tryStart(dataDir), tryStart(dataDir), tryStart(dataDir)]);
    const started = results.flatMap((r) => ('server' in r ? [r.server] : []));
    running.push(...started);
    assert.equal(started.length, 1, results.map((r) => ('refused' in r ? r.refused : 'started')).join('\n'));
    for (const r of results) if ('refused' in r) assert.ok(r.refused.includes(`pid ${started[0]!.child.pid}`), r.refused);
    assert.equal(await started[0]!.stop(), 0);
  });

  it('a lock from another host or container is checked by its heartbeat: refused while fresh, taken over once stale', async () => {
    const dataDir = await tempDir();
    const lockPath = join(dataDir, 'instance.lock');
    const aMinuteAgo = new Date(Date.now() - 60_000);
    const foreign = { pid: 4242, host: `not-${hostname()}`, started_at: '2026-01-01T00:00:00.000Z', boot_id: null, proc_start: null, pid_ns: null, nonce: 'aa' };
    await writeFile(lockPath, JSON.stringify(foreign));
    const refused = await tryStart(dataDir);
    assert.ok('refused' in refused);
    assert.ok(refused.refused.includes(`pid 4242 on host not-${hostname()}`), refused.refused);
    assert.match(refused.refused, /cannot be checked from here \(another host or container\), but it refreshed the lock \d+ s ago; a lock not refreshed for 20 s is taken over/);
    assert.equal((await lockOwner(dataDir)).pid, 4242, 'a refused start leaves the lock alone');

    await utimes(lockPath, aMinuteAgo, aMinuteAgo);
    const started = await tryStart(dataDir);
    assert.ok('server' in started, 'refused' in started ? started.refused : '');
    running.push(started.server);
    const takeover = await started.server.waitForLine((l) => typeof l.msg === 'string' && l.msg.includes('taken over'));
    assert.equal(takeover.previous_host, `not-${hostname()}`);
    assert.match(String(takeover.reason), /^not refreshed for \d+ s$/);
    assert.equal(await started.server.stop(), 0);

    // This host, another pid namespace (a container): a live pid here says nothing; the heartbeat decides.
    await writeFile(lockPath, JSON.stringify({ ...foreign, host: hostname(), pid: process.pid, pid_ns: 'pid:[1]' }));
    const refusedNs = await tryStart(dataDir);
    assert.ok('refused' in refusedNs);
    assert.match(refusedNs.refused, /another host or container/);
  });

  it('takes over a lock from before a reboot, and keeps its own lock fresh while it runs', async () => {
    const dataDir = await tempDir();
    const lockPath = join(dataDir, 'instance.lock');
    // Same host, same pid as a live process (this test's), but another boot: the owner died in a reboot.
    const stale = { pid: process.pid, host: hostname(), started_at: '2026-01-01T00:00:00.000Z', boot_id: 'an-earlier-boot', proc_start: null, pid_ns: null, nonce: 'cc' };
    await writeFile(lockPath, JSON.stringify(stale));
    const started = await tryStart(dataDir);
    assert.ok('server' in started, 'refused' in started ? started.refused : '');
    const server = started.server;
    running.push(server);
    const takeover = await server.waitForLine((l) => typeof l.msg === 'string' && l.msg.includes('taken over'));
    assert.equal(takeover.reason, 'the host rebooted since');

    // The heartbeat: an mtime set a minute back comes forward again.
    const aMinuteAgo = new Date(Date.now() - 60_000);
    await utimes(lockPath, aMinuteAgo, aMinuteAgo);
    while ((await stat(lockPath)).mtimeMs <= aMinuteAgo.getTime()) await new Promise((r) => setTimeout(r, 200));

    // Someone else's lock in its place: the server says so loudly, and its stop leaves that lock alone.
    await writeFile(lockPath, JSON.stringify({ ...stale, boot_id: null, pid: 1234, nonce: 'dd' }));
    const lost = await server.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('lost the data directory lock'));
    assert.equal(lost.level, 50);
    assert.equal(lost.other_pid, 1234);
    assert.equal(await server.stop(), 0);
    assert.equal((await lockOwner(dataDir)).pid, 1234);
  });

  it('tells a live owner from a reused pid by the process start time', async () => {
    const dataDir = await tempDir();
    const lockPath = join(dataDir, 'instance.lock');
    const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    const stat = await readFile('/proc/self/stat', 'utf8');
    const procStart = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    // This test process is alive: as the recorded owner with its true start time, it holds the directory.
    const pidNs = await readlink('/proc/self/ns/pid');
    const owner = { pid: process.pid, host: hostname(), started_at: '2026-01-01T00:00:00.000Z', boot_id: bootId, proc_start: procStart, pid_ns: pidNs, nonce: 'bb' };
    await writeFile(lockPath, JSON.stringify(owner));
    const refused = await tryStart(dataDir);
    assert.ok('refused' in refused);
    assert.ok(refused.refused.includes(`If pid ${process.pid} is not an inferbox, delete ${lockPath}`), refused.refused);

    // The same pid with another start time: the owner is gone and its pid was given to another process.
    await writeFile(lockPath, JSON.stringify({ ...owner, proc_start: procStart + 1 }));
    const started = await tryStart(dataDir);
    assert.ok('server' in started, 'refused' in started ? started.refused : '');
    running.push(started.server);
    const takeover = await started.server.waitForLine((l) => typeof l.msg === 'string' && l.msg.includes('taken over'));
    assert.equal(takeover.reason, 'its pid now belongs to another process');
    assert.equal(await started.server.stop(), 0);
  });
});
