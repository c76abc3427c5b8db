/**
 * CPU profiles of the bench's processes, and what they say.
 *
 * `npm run bench -- --profile <dir>` gives the server (front and every runtime worker) and the
 * floor server the environment `profilingEnv(dir)` returns. Node 20 refuses `--cpu-prof` in
 * NODE_OPTIONS, and the workers are spawned by the front with their own execArgv, so instead
 * NODE_OPTIONS preloads a small CommonJS file (allowed there, and inherited by the workers) that
 * starts V8's sampling profiler through `node:inspector` and writes a `.cpuprofile` when the process
 * exits (`process.exit` included; a SIGKILL-ed process writes none). The files open in Chrome
 * DevTools or speedscope like `--cpu-prof`'s.
 *
 * Summaries, by hand:
 *   node --import tsx test/bench/cpu-profile.ts <file.cpuprofile> [--top 30] [--skip-seconds 5]
 * prints the top functions by self time, self time by package / source file, and the time spent
 * under (inclusive) each source file of ours, as shares of the profile's busy time (idle excluded).
 * `--callers <function name>` prints instead the stacks (innermost first) under which that function
 * spent its self time, e.g. `--callers writeBuffer` to tell a pipe write from a socket write.
 * `--stages` prints the time by stage of a request (STAGES below: body parsing, auth, routing,
 * metrics, frame encoding, ...), each sample counted once, for its innermost frame that names a stage.
 *
 * Read the socket writes with care: V8's profiler samples on wall-clock time, so when a write wakes
 * another process (the client, a worker) and the kernel switches to it, the time until this
 * process runs again is counted as the write's. On the 2-core machine of docs/benchmarks.md that
 * made `writeBuffer` (the pipe write to a worker) 31 % of the front's samples, where `perf` counted
 * 14 % of the front's CPU in the kernel altogether. --stages therefore lists those writes apart and
 * gives the other stages' shares without them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

/** µs between samples: finer than --cpu-prof's 1 ms default, since an iris request takes ~300 µs. */
const SAMPLING_INTERVAL_US = 200;

const PRELOAD = `'use strict';
// Written by test/bench/cpu-profile.ts: profiles this process and writes the profile at exit.
const inspector = require('node:inspector');
const fs = require('node:fs');
const path = require('node:path');
const session = new inspector.Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: ${SAMPLING_INTERVAL_US} });
session.post('Profiler.start');
const script = process.argv[1] ? process.argv[1].split(path.sep).slice(-2).join('-') : 'node';
process.on('exit', () => {
  // An in-process inspector session answers synchronously, so this runs inside the exit handler.
  session.post('Profiler.stop', (err, res) => {
    if (!err) fs.writeFileSync(path.join(__dirname, script + '.' + process.pid + '.cpuprofile'), JSON.stringify(res.profile));
  });
});
`;

/** Writes the preload into `dir` and returns the environment that makes a Node process load it. */
export function profilingEnv(dir: string): Record<string, string> {
  const preload = join(resolve(dir), 'cpu-profile-preload.cjs');
  writeFileSync(preload, PRELOAD);
  const existing = process.env.NODE_OPTIONS ? `${process.env.NODE_OPTIONS} ` : '';
  return { NODE_OPTIONS: `${existing}--require ${preload}` };
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  /** Sampled time that was not (idle), in ms. */
  readonly busyMs: number;
  readonly idleMs: number;
  /** [name, ms] by self time, largest first. */
  readonly functions: readonly [string, number][];
  readonly packages: readonly [string, number][];
  /** Time with at least one frame of this source file of ours on the stack. */
  readonly inclusiveFiles: readonly [string, number][];
}

/** Where a frame comes from: a package under node_modules, a file of ours, node's internals, or V8/native. */
function origin(url: string): string {
  if (url === '') return '(native / V8)';
  if (url.startsWith('node:')) return 'node: internals';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const [a, b] = path.slice(modules + '/node_modules/'.length).split('/');
    return a?.startsWith('@') ? `${a}/${b}` : a!;
  }
  const ours = /\/(dist\/src|src|test)\/(.*)$/.exec(path);
  return ours ? `${ours[1]}/${ours[2]}` : path;
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  if (url === '') return functionName || '(anonymous)';
  return `${functionName || '(anonymous)'} ${origin(url)}:${lineNumber + 1}`;
}

/** Self and inclusive times of one profile; samples in the first `skipMs` (start-up) are left out. */
export function summarize(profile: CpuProfile, skipMs = 0): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const packages = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let idle = 0;
  let busy = 0;
  let t = profile.startTime;
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t - profile.startTime < skipMs * 1000) return;
    const node = byId.get(id)!;
    if (node.callFrame.functionName === '(idle)') {
      idle += delta;
      return;
    }
    busy += delta;
    add(self, frameName(node), delta);
    add(packages, origin(node.callFrame.url), delta);
    const files = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const o = origin(byId.get(at)!.callFrame.url);
      if (o.startsWith('dist/src/') || o.startsWith('src/') || o.startsWith('test/')) files.add(o);
    }
    for (const f of files) add(inclusive, f, delta);
  });
  const sorted = (m: Map<string, number>) => [...m].map(([k, v]) => [k, v / 1000] as [string, number]).sort((a, b) => b[1] - a[1]);
  return { busyMs: busy / 1000, idleMs: idle / 1000, functions: sorted(self), packages: sorted(packages), inclusiveFiles: sorted(inclusive) };
}

/** The stacks (innermost first, `depth` frames) under which `functionName` had self time, with their ms. */
export function callersOf(profile: CpuProfile, functionName: string, depth = 8, skipMs = 0): [string, number][] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stacks = new Map<string, number>();
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t - profile.startTime < skipMs * 1000 || byId.get(id)!.callFrame.functionName !== functionName) return;
    const frames: string[] = [];
    for (let at: number | undefined = id; at !== undefined && frames.length < depth; at = parent.get(at)) frames.push(frameName(byId.get(at)!));
    const key = frames.join(' < ');
    stacks.set(key, (stacks.get(key) ?? 0) + delta);
  });
  return [...stacks].map(([k, v]) => [k, v / 1000] as [string, number]).sort((a, b) => b[1] - a[1]);
}

/**
 * The stages of a request, innermost first wins, matched on `<function> <url>` of each frame.
 * Socket writes (leaf `writeBuffer`/`writev`/`write*String`) are their own stages (see above).
 */
const STAGES: readonly (readonly [string, RegExp])[] = [
  ['garbage collector', /^\(garbage collector\)/],
  ['frame encode (protocol/frame.ts)', /^(encodeFrame|toJson|needsReplacer|stringifyWithoutBufferToJSON|replacer|kindOf|writeAll) .*protocol\/frame\./],
  ['frame decode (protocol/frame.ts)', /protocol\/frame\./],
  ['onnxruntime run', /onnx-session\.|onnxruntime-node|onnxruntime-common/],
  ['worker: records -> tensors, outputs -> JSON', /worker\/models\/(binding|run-records)\.|model\/tensor\.|worker\/runtimes\/onnx\./],
  ['worker: message dispatch, model pool', /src\/worker\/|lru-cache/],
  ['body: read + JSON.parse (@koa/bodyparser, co-body, raw-body, bourne)', /bodyparser|co-body|raw-body|bourne|iconv-lite|inflation|\/bytes\//],
  ['body: JSON depth check (front/body.ts)', /front\/body\./],
  ['args: zod + request-args', /zod|api\/schemas\.|request-args\./],
  ['auth: token hash (sha256 per request)', /auth\/|internal\/crypto/],
  ['metrics middleware (prom-client)', /front\/metrics\.|prom-client/],
  ['access log (pino)', /access-log\.|pino|sonic-boom/],
  ['request id', /request-id\./],
  ['call stats', /call-stats\./],
  ['error handler', /error-handler\./],
  ['front: worker-pool dispatch', /worker-pool\.|dispatch\/invoke\./],
  ['front: svc route, store lookups, response body', /routes\/svc\.|front\/views\.|src\/store\/|predict-response\./],
  ['response: koa respond, headers (JSON.stringify of the body)', /koa\/lib\/response|^respond |_http_outgoing|on-finished|ee-first/],
  ['routing (@koa/router)', /@koa\/router|path-to-regexp/],
  ['koa core (compose, context, type-is, ...)', /\/koa\/|koa-compose|delegates|type-is|mime|media-typer|content-type|\/vary\/|statuses|accepts|negotiator|parseurl|http-errors|cookies/],
  ['HTTP parse, server (node:_http_*)', /_http_server|_http_common|_http_incoming/],
  ['floor handler (floor-server.ts)', /floor-server/],
  ['node streams, net (reads included)', /node:(net|internal\/streams|internal\/stream_base_commons)|^onStreamRead /],
  ['event loop, promises, timers', /^\((program|root)\)|^runMicrotasks|processTicksAndRejections|processImmediate|listOnTimeout|node:timers|internal\/timers/],
];
const WRITES = /^(writeBuffer|writev|writeUtf8String|writeLatin1String|writeAsciiString)$/;

/** Time by stage (see STAGES); socket writes apart, split by whether a worker pipe or an HTTP socket was written. */
export function stages(profile: CpuProfile, skipMs = 0): { busyMs: number; writes: [string, number][]; stages: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const writes = new Map<string, number>();
  const out = new Map<string, number>();
  let busy = 0;
  let t = profile.startTime;
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    const leaf = byId.get(id)!;
    if (t - profile.startTime < skipMs * 1000 || leaf.callFrame.functionName === '(idle)') return;
    busy += delta;
    const frames: string[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      frames.push(`${f.functionName || '(anonymous)'} ${f.url}`);
    }
    if (WRITES.test(leaf.callFrame.functionName)) {
      const pipe = frames.some((f) => /worker-pool\.|src\/worker\/main\./.test(f));
      add(writes, pipe ? 'pipe write, front <-> worker (writeBuffer)' : 'HTTP socket write (writev)', delta);
      return;
    }
    add(out, frames.map((f) => STAGES.find(([, rx]) => rx.test(f))?.[0]).find((s) => s !== undefined) ?? `other: ${frameName(leaf)}`, delta);
  });
  const sorted = (m: Map<string, number>) => [...m].map(([k, v]) => [k, v / 1000] as [string, number]).sort((a, b) => b[1] - a[1]);
  return { busyMs: busy / 1000, writes: sorted(writes), stages: sorted(out) };
}

export function readProfile(path: string): CpuProfile {
  return JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
}

/** The summary as text: shares of the busy time. */
export function formatSummary(s: ProfileSummary, top: number): string {
  const pct = (ms: number) => `${((100 * ms) / s.busyMs).toFixed(1).padStart(5)} %`;
  const list = (rows: readonly [string, number][]) => rows.slice(0, top).map(([k, ms]) => `  ${pct(ms)}  ${ms.toFixed(0).padStart(6)} ms  ${k}`).join('\n');
  return [
    `busy ${s.busyMs.toFixed(0)} ms, idle ${s.idleMs.toFixed(0)} ms`,
    'self time by function:',
    list(s.functions),
    'self time by package / file:',
    list(s.packages),
    'inclusive time by our source file:',
    list(s.inclusiveFiles),
  ].join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '30' },
      'skip-seconds': { type: 'string', default: '0' },
      callers: { type: 'string' },
      depth: { type: 'string', default: '8' },
      stages: { type: 'boolean', default: false },
    },
  });
  const skipMs = Number(values['skip-seconds']) * 1000;
  for (const file of positionals) {
    const profile = readProfile(file);
    if (values.stages) {
      const r = stages(profile, skipMs);
      const writesMs = r.writes.reduce((n, [, ms]) => n + ms, 0);
      const rest = r.busyMs - writesMs;
      const line = (k: string, ms: number, of: number) => `  ${((100 * ms) / of).toFixed(1).padStart(5)} %  ${ms.toFixed(0).padStart(6)} ms  ${k}`;
      process.stdout.write(
        `== ${file}: busy ${r.busyMs.toFixed(0)} ms\nsocket writes, share of busy (wall time, see the note in cpu-profile.ts):\n${r.writes.map(([k, ms]) => line(k, ms, r.busyMs)).join('\n')}\n` +
          `stages, share of busy without those writes (${rest.toFixed(0)} ms):\n${r.stages.slice(0, Number(values.top)).map(([k, ms]) => line(k, ms, rest)).join('\n')}\n\n`,
      );
    } else if (values.callers !== undefined) {
      const rows = callersOf(profile, values.callers, Number(values.depth), skipMs).slice(0, Number(values.top));
      process.stdout.write(`== ${file}: ${values.callers} by stack\n${rows.map(([k, ms]) => `  ${ms.toFixed(0).padStart(6)} ms  ${k}`).join('\n')}\n\n`);
    } else {
      process.stdout.write(`== ${file}\n${formatSummary(summarize(profile, skipMs), Number(values.top))}\n\n`);
    }
  }
}
