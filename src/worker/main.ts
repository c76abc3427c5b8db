import { Socket } from 'node:net';
import { toServeError } from '../errors.js';
import { createLogger } from '../log.js';
import { encodeFrame, FrameDecoder } from '../protocol/frame.js';
import type { WorkerMessage, WorkerReply, WorkerRequest } from '../protocol/messages.js';
import { Batcher } from './models/batcher.js';
import { handleRequest } from './handle.js';
import { createHostBridge } from './scripts/host-bridge.js';
import { ModelPool } from './models/model-pool.js';
import { resolveRuntime, runtimeBackends, tfjsBackendName } from './runtimes/index.js';
import { ScriptHost } from './scripts/script-host.js';
import { parseWorkerConfig } from '../protocol/worker-config.js';

/**
 * Entry of a runtime worker process. The front spawns it with the frame channel on fd 3 and its
 * settings as JSON in argv[2]; it exits when the channel closes.
 */
const config = parseWorkerConfig(process.argv[2]);
const log = createLogger({ level: config.logLevel, name: 'worker' });
const channel = new Socket({ fd: 3, readable: true, writable: true });
const send = (msg: WorkerMessage) => channel.write(encodeFrame(msg));

const pool = new ModelPool({
  maxModels: config.pool.maxModels,
  maxBytes: config.pool.maxBytes,
  log,
  load: (ref) => resolveRuntime(ref.format).load(ref.dir, ref.mainFile, { intraOpThreads: config.intraOpThreads }),
});
let retiring = false;
/** An isolate's thread that would not stop keeps a core busy until this process ends: ask to be replaced. */
const retire = (reason: string) => {
  if (retiring) return;
  retiring = true;
  log.error({ reason }, 'asking the front to replace this worker');
  send({ t: 'retire', reason });
};
const scripts = new ScriptHost(pool, (model, images) => createHostBridge(pool, model, { maxPixels: config.maxImagePixels }, images), log, config.sandboxEntries, retire);

const deps = { pool, scripts, config, batcher: new Batcher() };

async function serve(req: WorkerRequest): Promise<void> {
  let reply: WorkerReply;
  try {
    reply = { t: 'reply', id: req.id, ok: true, value: await handleRequest(req, deps) };
  } catch (err) {
    const e = toServeError(err);
    if (e.code === 'INTERNAL') log.error({ err, id: req.id }, 'request failed');
    const error = e.details === undefined ? { code: e.code, message: e.message } : { code: e.code, message: e.message, details: e.details };
    reply = { t: 'reply', id: req.id, ok: false, error };
  }
  // Before the reply, on the same ordered channel: whoever awaited the reply sees the backend too.
  announceTfjsBackend();
  send(reply);
}

let announcedTfjs = tfjsBackendName();
/** tfjs starts on the first tfjs model; tell the front once it has, and which backend it picked. */
function announceTfjsBackend(): void {
  const name = tfjsBackendName();
  if (name === announcedTfjs) return;
  announcedTfjs = name;
  send({ t: 'backend', format: 'tfjs', backend: name });
}

const decoder = new FrameDecoder();
channel.on('data', (chunk: Buffer) => {
  for (const msg of decoder.push(chunk)) void serve(msg as WorkerRequest);
});

async function shutdown(code: number): Promise<void> {
  await scripts.disposeAll().catch(() => undefined);
  await pool.clear().catch(() => undefined);
  process.exit(code);
}

// The front owns our life: when the channel closes (front exited or asked us to stop), leave.
channel.on('close', () => void shutdown(0));
channel.on('error', (err) => {
  log.error({ err }, 'worker channel failed');
  void shutdown(1);
});
process.on('SIGTERM', () => channel.end());
process.on('uncaughtException', (err) => {
  log.fatal({ err }, 'worker crashed');
  process.exit(1);
});

send({ t: 'ready', pid: process.pid, backends: runtimeBackends() });
log.debug('worker ready');
