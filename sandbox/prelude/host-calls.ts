/**
 * Calls into the host (model.run, file.image, the flow's model step). The host's Callbacks are
 * handed to setup once and kept here, in module bindings no global leads to. An asynchronous call
 * is started through an ignored Callback with an id; the host later settles it by id through
 * resolveHost, the one Reference into this module the host holds. Image decodes are also
 * throttled here, in the isolate, rather than queued on the host.
 */
import type { HostFailure, ImageNow, InferSync, StartImage, StartInfer, StartRun } from './api.js';
import { bridgeError, flowFailure } from './errors.js';
import { MapCtor, MapDelete, MapGet, MapSet, newList, PromiseCtor, push } from './intrinsics.js';

let startRun: StartRun;
let startImage: StartImage;
let inferSync: InferSync;
let startInfer: StartInfer;
let imageNow: ImageNow;
/** Called once by setup with the host's Callbacks. */
export function connectHost(run: StartRun, image: StartImage, sync: InferSync, infer: StartInfer, now: ImageNow): void {
  startRun = run;
  startImage = image;
  inferSync = sync;
  startInfer = infer;
  imageNow = now;
}

type HostCallKind = 'run' | 'image' | 'flow';
const hostCalls = new MapCtor<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void; kind: HostCallKind }>();
let hostCallSeq = 0;
function hostCall(kind: HostCallKind, start: (id: number) => void): Promise<unknown> {
  return new PromiseCtor((resolve, reject) => {
    const id = ++hostCallSeq;
    MapSet(hostCalls, id, { resolve, reject, kind });
    try {
      start(id);
    } catch (e) {
      MapDelete(hostCalls, id);
      if (kind === 'image') imagesInFlight--; // pumpImages, which started it, moves on to the next
      if (kind === 'run') runsInFlight--;
      throw e;
    }
  });
}

/**
 * Decodes in flight per sandbox. More image() calls wait here, in the isolate, so a script that
 * starts thousands at once holds neither their byte copies nor their decodes on the host.
 */
const MAX_IMAGES_IN_FLIGHT = 2;
let imagesInFlight = 0;
const imageQueue = newList<(() => void) | undefined>();
let imageQueueHead = 0;
function pumpImages(): void {
  while (imagesInFlight < MAX_IMAGES_IN_FLIGHT && imageQueueHead < imageQueue.length) {
    const start = imageQueue[imageQueueHead]!;
    imageQueue[imageQueueHead++] = undefined;
    if (imageQueueHead === imageQueue.length) {
      imageQueue.length = 0;
      imageQueueHead = 0;
    }
    imagesInFlight++;
    start();
  }
}
/** Runs `start` (which must not throw) once fewer than MAX_IMAGES_IN_FLIGHT decodes are in flight. */
export function queueImage(start: () => void): void {
  push(imageQueue, start);
  pumpImages();
}
/**
 * Whether the current call's function has not yet answered: from its start until it returns, or
 * until the promise it returned settles. image() after that (from a continuation the script left
 * running) takes the asynchronous path, where the host refuses it as it always has, even while the
 * call's entry is still running those continuations.
 */
let callOpen = false;
export function setCallOpen(open: boolean): void {
  callOpen = open;
}
/**
 * The decode answered now, inside the host's call (a small PNG), when no other decode is in flight
 * or queued (so answers keep their order): the image, a HostFailure (`code` in it), or null to
 * queue it (queueImage, decodeOnHost).
 */
export function decodeNow(bytes: Uint8Array, options: unknown, field: string, name: string): unknown {
  if (!canAnswerNow()) return null;
  return imageNow(bytes, options, field, name);
}
/** Whether an image() may be answered at once: the call is open and no other decode is in flight or queued. */
export function canAnswerNow(): boolean {
  return callOpen && imagesInFlight === 0 && imageQueueHead === imageQueue.length;
}
/** One decode on the host; only from a start queued by queueImage, which counts it in flight. */
export function decodeOnHost(bytes: Uint8Array, options: unknown, field: string, name: string): Promise<InferboxImage> {
  return hostCall('image', (id) => startImage(id, bytes, options, field, name)) as Promise<InferboxImage>;
}
/**
 * model.run calls started and not yet answered. Past this many, model.run throws here, in the
 * isolate, at once: a script that fires thousands without awaiting (or a Promise.all over a huge
 * batch) costs the host nothing, and its loop stops at the first refusal. A throw rather than a
 * rejected promise: 50,000 rejections (an Error and a promise each, then reported unhandled) kept
 * the isolate's thread busy for hundreds of milliseconds (bench: noisy neighbour, flooding). The
 * host holds the same bound (MAX_HOST_CALLS_IN_FLIGHT in bridge.ts).
 */
const MAX_RUNS_IN_FLIGHT = 64;
let runsInFlight = 0;
/** model.run: `feeds` crosses as the script made it (the host reads it as plain data). */
export function runOnHost(feeds: InferboxFeeds): Promise<Record<string, unknown>> {
  if (runsInFlight >= MAX_RUNS_IN_FLIGHT) {
    const message = `model.run(): ${MAX_RUNS_IN_FLIGHT} calls are already in flight in this sandbox; await them before starting more (or pass several records to one model.run)`;
    throw bridgeError('SCRIPT_FAILED', message);
  }
  runsInFlight++;
  return hostCall('run', (id) => startRun(id, feeds)) as Promise<Record<string, unknown>>;
}
/** The flow's model step while the host is inside the flow call: its answer, or null to go asynchronous. */
export function inferNow(payload: unknown): unknown {
  return inferSync(payload);
}
/** The flow's model step as an asynchronous host call (a failure rejects with a flow failure). */
export function inferLater(payload: unknown): Promise<unknown> {
  return hostCall('flow', (id) => startInfer(id, payload));
}

/** Settles host call `id`; payload is its answer, or a HostFailure. */
export function resolveHost(id: number, ok: boolean, payload: unknown): void {
  // Never throws: an exception leaving here would be read by isolated-vm outside any time limit.
  try {
    const call = MapGet(hostCalls, id);
    if (call === undefined) return;
    MapDelete(hostCalls, id);
    if (call.kind === 'run') runsInFlight--;
    if (ok) {
      call.resolve(payload);
    } else {
      const { code, message, details } = payload as HostFailure;
      call.reject(call.kind === 'flow' ? flowFailure(code, message, details) : bridgeError(code, message, details));
    }
    if (call.kind === 'image') {
      imagesInFlight--;
      pumpImages();
    }
  } catch {
    // the script broke its own promise machinery; its call will time out
  }
}
