import { normalizeX } from '../../api/records.js';
import type { BatchingRef, InvokeArgs, ModelRef } from '../../protocol/messages.js';
import type { Batcher } from '../models/batcher.js';
import { bindRecords, canBatch } from '../models/binding.js';
import { estimateRunMs } from '../models/inference-cost.js';
import type { ModelPool } from '../models/model-pool.js';
import { outputsToJson, requireRecords, runRecords, runRecordsSync, SLICE_MS } from '../models/run-records.js';
import type { LoadedModel, Tensor } from '../runtimes/types.js';
import { FLOW_SYNC_MODEL_SHARE, type FlowModel, type FlowRows } from '../sandbox-host/index.js';

/**
 * The model step of one request's predict flow (see Sandbox.flow): the prepared args' records go
 * through the model, and each record's outputs go back to the script, as the list postprocess takes
 * (in output order) or as the record itself, with the output names and the request's orientation
 * (the sandbox shapes the result).
 */
export class PredictFlow implements FlowModel {
  /** Time the model step took, for the access log. */
  inferMs = 0;
  /** When the model step started and ended (performance.now()), to split the script's time around it; 0 until it runs. */
  startedAt = 0;
  endedAt = 0;
  /** Time the model step waited for a batched run. */
  queueMs = 0;
  /** Rows of the batched run this call led, if it led one. */
  batchRows: number | undefined;

  constructor(
    private readonly pool: ModelPool,
    private readonly model: ModelRef,
    private readonly postprocess: boolean,
    private readonly timeoutMs: number,
    /** The deployment's dynamic batching: the model step then shares runs with concurrent calls. */
    private readonly batched?: { readonly ref: BatchingRef; readonly batcher: Batcher },
  ) {}

  runSync(prepared: unknown): string | FlowRows | null {
    // A batched step waits for other calls: only the asynchronous step can.
    if (this.batched !== undefined) return null;
    this.startedAt = performance.now();
    const lease = this.pool.acquireLoaded(this.model);
    if (lease === undefined) return null;
    try {
      const { records, split } = recordsOf(prepared, lease.model);
      // Held off the script's clock, but not off isolated-vm's watchdog: only models known to be quick.
      const expected = estimateRunMs(lease.model, records.length);
      // And only runs short enough not to need slicing: a longer one takes run(), which yields (#14).
      if (expected === undefined || expected > Math.min(this.timeoutMs * FLOW_SYNC_MODEL_SHARE, SLICE_MS)) return null;
      const started = performance.now();
      const outputs = runRecordsSync(lease.model, records);
      this.endedAt = performance.now();
      this.inferMs = this.endedAt - started;
      if (outputs === null) return null;
      const rows = this.rows(lease.model, outputs.map((o) => outputsToJson(lease.model, o)), split);
      // Known to be plain JSON without walking the rows: send the text the sandbox takes best.
      return outputs.every(allFinite) ? JSON.stringify(rows) : rows;
    } finally {
      lease.release();
    }
  }

  async run(prepared: unknown): Promise<FlowRows> {
    this.startedAt = performance.now();
    const lease = await this.pool.acquire(this.model);
    try {
      const model = lease.model;
      const { records, split } = recordsOf(prepared, model);
      const { batched } = this;
      if (batched !== undefined && records.length <= batched.ref.maxBatchSize && canBatch(model.inputs, model.outputs)) {
        const run = await batched.batcher.submit(batched.ref, this.model.key, model, bindRecords(records, model.inputs, model.outputs), records.length);
        this.endedAt = performance.now();
        this.inferMs = run.inferMs;
        this.queueMs = run.queueMs;
        this.batchRows = run.ledRows;
        return this.rows(model, run.perRecord.map((o) => outputsToJson(model, o)), split);
      }
      const started = performance.now();
      const results = await runRecords(model, records, (o) => outputsToJson(model, o));
      this.endedAt = performance.now();
      this.inferMs = this.endedAt - started;
      return this.rows(model, results, split);
    } finally {
      lease.release();
    }
  }

  private rows(model: LoadedModel, results: Record<string, unknown>[], split: boolean): FlowRows {
    if (!this.postprocess) return { rows: results, names: [], split };
    const names = model.outputs.filter((o) => o.dtype !== null).map((o) => o.name);
    return { rows: results.map((r) => names.map((n) => r[n])), names, split };
  }
}

/** The prepared args' records; plain rows map to the model's inputs. */
function recordsOf(prepared: unknown, model: LoadedModel) {
  const args = prepared as InvokeArgs;
  requireRecords(args.X);
  const { records, orientation } = normalizeX(args.X, model.inputs);
  return { records, split: orientation === 'split' };
}

/** Whether a record's outputs hold only finite numbers (the rest of what outputsToJson makes is JSON). */
function allFinite(outputs: Record<string, Tensor>): boolean {
  for (const name in outputs) {
    const { dtype, data } = outputs[name]!;
    if (dtype !== 'float32' && dtype !== 'float64' && dtype !== 'float16') continue;
    if (dtype === 'float16') return false; // decoded later: leave it to the walk
    const values = data as Float32Array | Float64Array;
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return false;
  }
  return true;
}
