/**
 * What the scenarios that need more than one load row get from the runner (run.ts), and what they
 * give back: a section of docs/benchmarks.md with its own table and goal lines.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { InferboxClient } from '../../src/client/index.js';

export interface BenchServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** The front's pid; the workers' are in GET /healthz (`workersOf`). */
  readonly frontPid: number;
  readonly dataDir: string;
  /** An admin client of this server. */
  readonly client: InferboxClient;
}

export interface BenchContext {
  /** The server every scenario shares (front + its runtime workers, built JS). */
  readonly server: BenchServer;
  /** An admin client of that server. */
  readonly client: InferboxClient;
  /** `--seconds`: the measured time of one row. */
  readonly seconds: number;
  /** Environment to give a child process the bench starts, so `--profile` profiles it too. */
  readonly childEnv: NodeJS.ProcessEnv;
  /** Starts another server on its own temp data dir, with extra environment (config keys); stopped by the runner. */
  startServer(env: Record<string, string>): Promise<BenchServer>;
  /** A progress line on stderr. */
  progress(text: string): void;
}

export interface BenchSection {
  /** The `###` heading. */
  readonly title: string;
  /** Markdown under it: a table, goal lines. */
  readonly markdown: string;
}

export function fmt(ms: number): string {
  return ms < 10 ? ms.toFixed(3) : ms.toFixed(1);
}

export function markdownTable(header: readonly string[], align: readonly ('l' | 'r')[], rows: readonly (readonly (string | number)[])[]): string {
  return [`| ${header.join(' | ')} |`, `|${align.map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** The q-quantile of values (sorted copy, nearest rank below). */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** Resident memory of a process from /proc/<pid>/status (VmRSS), in bytes. */
export function rssBytes(pid: number): number {
  const line = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!line) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(line[1]) * 1024;
}

/** Clock ticks per second of /proc/<pid>/stat's times: 100 on Linux (USER_HZ). */
const TICKS_PER_S = 100;

/** User + system CPU time a process has used so far, in ms, from /proc/<pid>/stat (10 ms resolution). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S; // utime, stime: fields 14 and 15
}

export interface WorkerProcess {
  readonly index: number;
  readonly role: 'serving' | 'scratch';
  readonly pid: number;
}

/** The runtime workers and their pids, as GET /healthz lists them. */
export async function workersOf(url: string): Promise<WorkerProcess[]> {
  const health = (await (await fetch(`${url}/healthz`)).json()) as { workers: { index: number; role: 'serving' | 'scratch'; pid: number | null }[] };
  return health.workers.filter((w) => w.pid !== null).map((w) => ({ index: w.index, role: w.role, pid: w.pid! }));
}

/** One `inferbox_model_pool{stat="..."}` value from GET /metrics (summed over the workers). */
export async function poolStat(url: string, stat: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = new RegExp(`^inferbox_model_pool\\{stat="${stat}"\\} (\\S+)$`, 'm').exec(text);
  return line ? Number(line[1]) : 0;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** SIGTERM, then waits for the exit (so a profiled process has written its profile). */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}
