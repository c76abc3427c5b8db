import { performance } from 'node:perf_hooks';
import { ServeError } from '../../errors.js';
import { sliceBatch } from '../../model/index.js';
import type { BatchingRef } from '../../protocol/messages.js';
import type { DType, LoadedModel, Tensor } from '../runtimes/types.js';
import { splitOutputs, type Batch } from './binding.js';
import { recordRun } from './inference-cost.js';

/** What one call's share of batched runs gave: outputs per record, and its stage times. */
export interface BatchedOutputs {
  readonly perRecord: Record<string, Tensor>[];
  /** Waiting in the batcher, from the call's submit to the start of its (last) run. */
  readonly queueMs: number;
  /** The runs the call was part of, whole (shared with the other calls in them). */
  readonly inferMs: number;
  /** Rows of the run the call led (was the first call of), when it led one. */
  readonly ledRows?: number;
}

/** One bound group of a call's records (a Batch of binding.ts) waiting for a run. */
interface Part {
  readonly batch: Batch;
  readonly model: LoadedModel;
  /** Entries of the first dimension the part feeds. */
  readonly rows: number;
  /** Inputs' dtypes and shapes past the first dimension: parts stack only with equal ones. */
  readonly signature: string;
  readonly submitted: number;
  readonly settle: (outputs: Record<string, Tensor> | Error, queueMs: number, runMs: number, ledRows: number | undefined) => void;
}

interface Queue {
  /** The settings of the deployment's latest call: a PATCH changes them without a new model key. */
  ref: BatchingRef;
  parts: Part[];
  rows: number;
  /** A flush is scheduled (setImmediate or a timer). */
  scheduled: boolean;
}

const yieldTurn = (run: () => void) => setImmediate(run);

/**
 * Dynamic batching in one worker: calls of one deployment to one model version, arriving while the
 * worker is busy (onnxruntime's run blocks the event loop) or within `maxDelayUs` of each other, are
 * stacked along the first dimension into one model run of at most `maxBatchSize` rows, and the
 * outputs are split back per call. Each call's records are bound (validated) before they are
 * submitted, so a bad call fails alone; only a failure of the run itself reaches every call in it.
 *
 * A queue is flushed after the I/O turn that filled it (setImmediate), or `maxDelayUs` after its
 * first call, or at once when it holds `maxBatchSize` rows. One flush makes one run; what is left
 * waits for the next turn, so replies go out and new calls join between runs.
 */
export class Batcher {
  private readonly queues = new Map<string, Queue>();
  private readonly counters = { runs: 0, rows: 0 };

  /** Runs `batches` (one call's bound records) in shared runs; resolves with the call's outputs per record. */
  submit(ref: BatchingRef, modelKey: string, model: LoadedModel, batches: readonly Batch[], records: number): Promise<BatchedOutputs> {
    const key = `${ref.owner}\u0000${modelKey}`;
    let queue = this.queues.get(key);
    if (queue === undefined) this.queues.set(key, (queue = { ref, parts: [], rows: 0, scheduled: false }));
    else queue.ref = ref;
    const perRecord = new Array<Record<string, Tensor>>(records);
    const submitted = performance.now();
    let pending = batches.length;
    let queueMs = 0;
    let inferMs = 0;
    let ledRows: number | undefined;
    let failed = false;
    return new Promise<BatchedOutputs>((resolve, reject) => {
      for (const batch of batches) {
        const settle: Part['settle'] = (outputs, waited, ran, led) => {
          if (failed) return;
          if (outputs instanceof Error) {
            failed = true;
            reject(outputs);
            return;
          }
          try {
            splitOutputs(batch, outputs).forEach((o, i) => {
              perRecord[batch.recordIndices[i]!] = o;
            });
          } catch (err) {
            failed = true;
            reject(err);
            return;
          }
          queueMs = Math.max(queueMs, waited);
          inferMs += ran;
          if (led !== undefined) ledRows = Math.max(ledRows ?? 0, led);
          if (--pending === 0) resolve({ perRecord, queueMs, inferMs, ...(ledRows === undefined ? {} : { ledRows }) });
        };
        const rows = batch.rows.reduce((a, b) => a + b, 0);
        queue.parts.push({ batch, model, rows, signature: signatureOf(batch.feeds), submitted, settle });
        queue.rows += rows;
      }
      this.schedule(key, queue!);
    });
  }

  /** Runs made and rows run since the worker started. */
  stats(): { runs: number; rows: number } {
    return { ...this.counters };
  }

  private schedule(key: string, queue: Queue): void {
    if (queue.scheduled) {
      if (queue.rows < queue.ref.maxBatchSize) return;
      // Full: do not wait out the delay (the pending timer finds the queue emptier, or empty).
    }
    queue.scheduled = true;
    const flush = () => {
      queue.scheduled = false;
      this.flush(key, queue);
    };
    const delayMs = queue.ref.maxDelayUs / 1000;
    // Timers have millisecond resolution: a delay under 1 ms waits for the turn only.
    if (queue.rows >= queue.ref.maxBatchSize || delayMs < 1) yieldTurn(flush);
    else setTimeout(flush, Math.round(delayMs));
  }

  private flush(key: string, queue: Queue): void {
    if (queue.parts.length === 0) return;
    const { maxBatchSize } = queue.ref;
    const first = queue.parts[0]!;
    const taken: Part[] = [first];
    let rows = first.rows;
    const rest: Part[] = [];
    for (let i = 1; i < queue.parts.length; i++) {
      const part = queue.parts[i]!;
      if (part.signature === first.signature && part.model === first.model && rows + part.rows <= maxBatchSize) {
        taken.push(part);
        rows += part.rows;
      } else rest.push(part);
    }
    queue.parts = rest;
    queue.rows -= rows;
    if (rest.length > 0) {
      queue.scheduled = true;
      yieldTurn(() => {
        queue.scheduled = false;
        this.flush(key, queue);
      });
    } else if (!queue.scheduled) this.queues.delete(key);
    void this.run(taken, rows);
  }

  private async run(parts: Part[], rows: number): Promise<void> {
    const started = performance.now();
    const model = parts[0]!.model;
    let outputs: Record<string, Tensor>;
    try {
      const feeds = parts.length === 1 ? parts[0]!.batch.feeds : stack(parts.map((p) => p.batch.feeds));
      // Synchronous where the runtime can (onnxruntime): a promise less per run.
      outputs = model.runSync(feeds) ?? (await model.run(feeds));
    } catch (err) {
      const error = err instanceof Error ? err : new ServeError('INFERENCE_FAILED', String(err));
      for (const p of parts) p.settle(error, started - p.submitted, 0, undefined);
      return;
    }
    const ms = performance.now() - started;
    recordRun(model, rows, ms);
    this.counters.runs++;
    this.counters.rows += rows;
    if (parts.length === 1) {
      parts[0]!.settle(outputs, started - parts[0]!.submitted, ms, rows);
      return;
    }
    let start = 0;
    const slices = parts.map((p) => {
      const from = start;
      start += p.rows;
      return { from, to: start };
    });
    parts.forEach((p, i) => {
      const { from, to } = slices[i]!;
      let mine: Record<string, Tensor> | Error;
      try {
        mine = sliceOutputs(outputs, rows, from, to);
      } catch (err) {
        mine = err instanceof Error ? err : new Error(String(err));
      }
      p.settle(mine, started - p.submitted, ms, i === 0 ? rows : undefined);
    });
  }
}

function signatureOf(feeds: Readonly<Record<string, Tensor>>): string {
  let s = '';
  for (const name in feeds) {
    const t = feeds[name]!;
    s += `${name}:${t.dtype}:${t.shape.slice(1).join('x')};`;
  }
  return s;
}

/** Feeds of several parts concatenated along the first dimension (their signatures are equal). */
function stack(all: readonly Readonly<Record<string, Tensor>>[]): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const name in all[0]!) {
    const parts = all.map((f) => f[name]!);
    const { dtype } = parts[0]!;
    const rows = parts.reduce((n, t) => n + t.shape[0]!, 0);
    const shape = [rows, ...parts[0]!.shape.slice(1)];
    feeds[name] = { dtype, shape, data: concat(dtype, parts.map((t) => t.data)) } as Tensor;
  }
  return feeds;
}

function concat(dtype: DType, datas: readonly Tensor['data'][]): Tensor['data'] {
  if (dtype === 'string') return (datas as string[][]).flat();
  const typed = datas as unknown as readonly Float32Array[];
  const total = typed.reduce((n, d) => n + d.length, 0);
  const out = new (typed[0]!.constructor as new (n: number) => Float32Array)(total);
  let offset = 0;
  for (const d of typed) {
    out.set(d as Float32Array, offset);
    offset += d.length;
  }
  return out as Tensor['data'];
}

/** One part's rows [from, to) of each output; an output without one row per stacked row fails the run. */
function sliceOutputs(outputs: Readonly<Record<string, Tensor>>, rows: number, from: number, to: number): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const name in outputs) {
    const tensor = outputs[name]!;
    if (tensor.shape[0] !== rows) {
      throw new ServeError('INFERENCE_FAILED', `output '${name}' has ${tensor.shape[0]} rows for a batched run of ${rows}; set the deployment's max_batch_size to 1`);
    }
    out[name] = sliceBatch(tensor, from, to);
  }
  return out;
}
