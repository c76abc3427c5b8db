import { ServeError } from '../../errors.js';
import type { InvokeArgs, InvokeRequest, InvokeResult } from '../../protocol/messages.js';
import type { DeploymentRecord, VersionManifest } from '../../store/index.js';
import type { AppDeps } from '../deps.js';
import { PREDICT_FUNCTION } from '../../model/index.js';
import { modelRef } from '../views.js';
import type { CrashVerdict, MessageFor, Outgoing } from './worker-pool.js';

const labelRefs = new WeakMap<DeploymentRecord, Pick<InvokeRequest, 'labels'>>();

/** A deployment's labels as its calls without a script carry them (front/deployment-labels.ts); built once per stored record. */
function labelsOf(record: DeploymentRecord): Pick<InvokeRequest, 'labels'> {
  const { labels } = record;
  if (labels === undefined) return {};
  let ref = labelRefs.get(record);
  if (ref === undefined) {
    ref = { labels: { topK: labels.topK, outputs: labels.outputs.map((o) => ({ output: o.output, names: o.names, scores: o.scores })) } };
    labelRefs.set(record, ref);
  }
  return ref;
}

const batchingRefs = new WeakMap<DeploymentRecord, Pick<InvokeRequest, 'batching'>>();

/** A deployment's dynamic batching as its invokes carry it, when on (max_batch_size > 1); built once per stored record. */
export function batchingOf(record: DeploymentRecord): Pick<InvokeRequest, 'batching'> {
  let ref = batchingRefs.get(record);
  if (ref === undefined) {
    const { maxBatchSize = 1, maxDelayUs = 0 } = record.limits;
    ref = maxBatchSize > 1 ? { batching: { owner: record.name, maxBatchSize, maxDelayUs } } : {};
    batchingRefs.set(record, ref);
  }
  return ref;
}

/**
 * Runs one call of a model version (no script) on any serving runtime worker. Its tenant for fair
 * sharing is "test:<model>" (no deployment name holds a colon), so admin tests take turns with
 * deployments instead of jumping their queues. The args travel as they are: without files (typed
 * arrays) the frame codec writes the message with one JSON.stringify and the worker reads it with
 * one JSON.parse, no per-value replacer or reviver (frame.ts). Sending them as JSON text, as was
 * done before the codec skipped those, costs a stringify and a parse more, and escaping the text
 * inside the message.
 */
export async function invokeVersion(deps: AppDeps, manifest: VersionManifest, fn: string, args: InvokeArgs, options: InvokeOptions & Pick<InvokeRequest, 'tensors'> = {}): Promise<InvokeResult> {
  const { tensors, ...bounds } = options;
  // The version's files on this instance's disk first (the PostgreSQL store fetches them once).
  await deps.store.models.ensureLocal(manifest);
  return deps.workers.request<InvokeResult>(
    { t: 'invoke', model: modelRef(deps.store, manifest), fn, args, ...(tensors ? { tensors } : {}) },
    { tenant: `test:${manifest.name}`, maxQueue: deps.config.limits.maxQueue, ...bounds },
  );
}

/** How a call is bounded in time; every protocol's route (REST, OIP over REST and gRPC) passes its caller's here. */
export interface InvokeOptions {
  /** When the caller stops waiting (Date.now() time), from `requestDeadline` (front/deadline.ts). */
  readonly deadline?: number;
}

/**
 * Runs a deployment's model version on one of its workers, without its script and its labels, and
 * answers the output tensors (`InvokeRequest.tensors`): the Open Inference Protocol's call
 * (front/oip/). It waits its turn in the deployment's queue, within its max_queue and deadline,
 * like any call of the deployment.
 */
export function invokeDeploymentTensors(deps: AppDeps, name: string, args: InvokeArgs, onWorker?: (worker: number) => void, options: InvokeOptions = {}): Promise<InvokeResult> {
  const local = deps.placer.served(name).local();
  if (local !== null) return local.then(() => invokeDeploymentTensors(deps, name, args, onWorker, options));
  const messageFor: MessageFor = (worker) => {
    const served = deps.placer.served(name);
    onWorker?.(worker);
    return { msg: { t: 'invoke', model: served.model(), fn: PREDICT_FUNCTION, args, tensors: true, ...batchingOf(served.record) } };
  };
  const maxQueue = deps.placer.served(name).record.limits.maxQueue ?? deps.config.limits.maxQueue;
  const { deadline } = options;
  return deps.workers
    .request<InvokeResult>(messageFor, { tenant: name, maxQueue, workers: () => deps.placer.served(name).placement.workers, ...(deadline === undefined ? {} : { deadline }) })
    .catch((err: unknown) => {
      deps.placer.noteFailure(name, err);
      throw err;
    });
}

/**
 * Runs one call of a deployment on one of the workers it is placed on, through its script's
 * sandboxes when it has one. The call waits its turn under the deployment's in-flight caps; what it
 * runs (script, model version, workers) is the deployment as it is when a worker takes the call.
 * `onWorker` hears which worker took it.
 */
export function invokeDeployment(
  deps: AppDeps,
  record: Pick<DeploymentRecord, 'name' | 'script' | 'limits'>,
  fn: string,
  args: InvokeArgs,
  onWorker?: (worker: number) => void,
  options: InvokeOptions = {},
): Promise<InvokeResult> {
  const { name } = record;
  const { deadline } = options;
  // Refused at once rather than after waiting in the queue.
  if (record.script !== null) deps.scripts.assertNotQuarantined(record.script);
  // The version's files on this instance's disk first (the PostgreSQL store fetches them once).
  const local = deps.placer.served(name).local();
  if (local !== null) return local.then(() => invokeDeployment(deps, record, fn, args, onWorker, options));
  let again: { worker: number; msg: Outgoing; onCrash: CrashVerdict } | undefined;
  const messageFor: MessageFor = (worker) => {
    const served = deps.placer.served(name);
    const model = served.model();
    onWorker?.(worker);
    if (served.record.script === null) {
      const { preprocess } = served.record;
      return { msg: { t: 'invoke', model, fn, args, ...labelsOf(served.record), ...(preprocess ? { preprocess } : {}), ...batchingOf(served.record) } };
    }
    const sent = deps.scripts.messagesFor(served.record, served.placement, { model, fn, args, ...batchingOf(served.record) }, worker);
    again = { worker, msg: sent.full, onCrash: sent.onCrash };
    return sent;
  };
  const fail = (err: unknown): never => {
    deps.placer.noteFailure(name, err);
    throw err;
  };
  const maxQueue = record.limits.maxQueue ?? deps.config.limits.maxQueue;
  return deps.workers.request<InvokeResult>(messageFor, { tenant: name, maxQueue, workers: () => deps.placer.served(name).placement.workers, ...(deadline === undefined ? {} : { deadline }) }).catch((err: unknown) => {
    // Invokes name the script's revision only; a worker that lacks it (restarted) gets the text.
    if (!(again && err instanceof ServeError && err.code === 'SCRIPT_NOT_LOADED')) return fail(err);
    return deps.workers.request<InvokeResult>(again.msg, { worker: again.worker, onCrash: again.onCrash, ...(deadline === undefined ? {} : { deadline }) }).catch(fail);
  });
}
