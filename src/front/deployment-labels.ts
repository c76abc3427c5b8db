import { ServeError } from '../errors.js';
import type { DeploymentRecord, VersionManifest } from '../store/index.js';
import { PREDICT_FUNCTION, type TensorSpec } from '../model/index.js';
import type { AppDeps } from './deps.js';
import { invokeVersion } from './dispatch/invoke.js';
import { resultValueOf } from './predict-response.js';
import { samplePayload } from './views.js';

/**
 * Labels on a deployment without a script: validated against the model version, and whether each
 * labelled output is already probabilities decided once, here, from a run of the version's sample.
 * A run tells it for every format (ONNX, TF.js, converted Keras) where reading the graph's last op
 * would need a parser per format; a softmax output sums to 1 whatever the input, logits about never.
 */

export type Labels = NonNullable<DeploymentRecord['labels']>;

/** What a create or PATCH body says about labels: list or per-output names (null removes them), and top_k. */
export interface LabelsRequest {
  readonly labels?: readonly string[] | Readonly<Record<string, readonly string[]>> | null;
  readonly top_k?: number;
  readonly scores?: 'auto' | 'probabilities' | 'softmax' | 'sigmoid';
}

/** TorchServe's default: the 5 best classes. */
export const DEFAULT_TOP_K = 5;

/** Outputs that carry numbers (labels cannot rank strings or booleans). */
const numeric = (spec: TensorSpec) => spec.dtype !== null && spec.dtype !== 'string' && spec.dtype !== 'bool';

const lastDim = (spec: TensorSpec): number | null => {
  const d = spec.shape?.at(-1);
  return d !== undefined && d > 0 ? d : null;
};

const refuse = (message: string, field = 'labels') => new ServeError('REQUEST_INVALID', message, { field });

/** The list form goes to the one numeric output, or to the one whose last dimension has as many classes. */
function outputForList(manifest: VersionManifest, count: number): string {
  const candidates = manifest.outputs.filter(numeric);
  if (candidates.length === 1) return candidates[0]!.name;
  const fitting = candidates.filter((spec) => lastDim(spec) === count);
  if (fitting.length === 1) return fitting[0]!.name;
  const names = manifest.outputs.map((o) => `"${o.name}"${o.shape ? ` [${o.shape.join(',')}]` : ''}`).join(', ');
  throw refuse(
    `labels: the model has ${manifest.outputs.length} outputs (${names}) and ${fitting.length === 0 ? 'none' : fitting.length} of them ${fitting.length === 1 ? 'has' : 'have'} ${count} classes in the last dimension; send labels as { "<output name>": [...] }`,
  );
}

/** Output name -> class names, from the request's form. */
function namesByOutput(manifest: VersionManifest, labels: NonNullable<LabelsRequest['labels']>): Map<string, readonly string[]> {
  if (Array.isArray(labels)) return new Map([[outputForList(manifest, labels.length), labels as readonly string[]]]);
  const byOutput = new Map(Object.entries(labels as Readonly<Record<string, readonly string[]>>));
  if (byOutput.size === 0) throw refuse('labels must name at least one output: { "<output name>": [...] }');
  return byOutput;
}

/** Every last-axis row of a JSON output value (a class map counts as a row of its values). */
function rowsOf(value: unknown): number[][] {
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'number')) return [value as number[]];
    return value.flatMap(rowsOf);
  }
  if (value !== null && typeof value === 'object') return [Object.values(value) as number[]];
  return [];
}

/** Within 1e-3 of summing to 1, every value in [0, 1]: the model already answers probabilities. */
export function isProbabilityRow(row: readonly number[]): boolean {
  let sum = 0;
  for (const v of row) {
    if (!(v >= 0 && v <= 1)) return false;
    sum += v;
  }
  return Math.abs(sum - 1) <= 1e-3;
}

/** The version's sample (or zeros of its inputs) run once: each output's rows, by name. */
async function sampleOutputs(deps: AppDeps, manifest: VersionManifest): Promise<Record<string, unknown>> {
  try {
    const result = resultValueOf(await invokeVersion(deps, manifest, PREDICT_FUNCTION, { X: [samplePayload(manifest)] }));
    return (result as Record<string, unknown>[])[0] ?? {};
  } catch (err) {
    if (err instanceof ServeError) {
      throw new ServeError(err.code, `labels: the model's scores are read from a run of the version's sample, which failed: ${err.message}`, err.details);
    }
    throw err;
  }
}

/**
 * The labels a deployment keeps after a create or PATCH: the request's, or the current ones checked
 * again against a changed model version; undefined for none. `script` is what the deployment will run.
 */
export async function labelsFor(deps: AppDeps, req: LabelsRequest, manifest: VersionManifest, script: string | null, current?: DeploymentRecord): Promise<Labels | undefined> {
  if (req.labels === null) {
    if (req.top_k !== undefined) throw refuse('top_k needs labels: it cannot be set in the call that removes them', 'top_k');
    if (req.scores !== undefined) throw refuse('scores needs labels: it cannot be set in the call that removes them', 'scores');
    return undefined;
  }
  const kept = current?.labels;
  if (req.labels === undefined && kept === undefined) {
    if (req.top_k !== undefined) throw refuse('top_k needs labels: send "labels" too (a list, or { "<output name>": [...] })', 'top_k');
    if (req.scores !== undefined) throw refuse('scores needs labels: send "labels" too (a list, or { "<output name>": [...] })', 'scores');
    return undefined;
  }
  if (script !== null) {
    throw refuse("labels apply to deployments without a script: a script's postprocess gets the raw outputs. Send labels: null (PATCH) or script: false");
  }
  if (req.labels === undefined && req.top_k === undefined && req.scores === undefined && current?.modelVersion === manifest.version) return kept;

  const requested = req.labels === undefined ? new Map(kept!.outputs.map((o) => [o.output, o.names])) : namesByOutput(manifest, req.labels);
  const specs = new Map(manifest.outputs.map((o) => [o.name, o]));
  for (const output of requested.keys()) {
    const spec = specs.get(output);
    if (spec === undefined) throw refuse(`labels: model "${manifest.name}" version ${manifest.version} has no output "${output}" (its outputs: ${[...specs.keys()].join(', ')})`);
    if (!numeric(spec)) throw refuse(`labels: output "${output}" holds ${spec.dtype ?? 'no tensor'} values, not class scores`);
    const dim = lastDim(spec);
    const count = requested.get(output)!.length;
    if (dim !== null && dim !== count) throw refuse(`labels: output "${output}" has ${dim} classes (its last dimension), got ${count} labels`);
  }

  // The deployment's choice (a sigmoid multi-label head, logits that happen to look like probabilities)
  // wins over detection; "auto" goes back to detecting, and a PATCH that does not say keeps the choice.
  const scoresSet = req.scores === undefined ? kept?.scoresSet : req.scores === 'auto' ? undefined : req.scores;
  const sample = await sampleOutputs(deps, manifest);
  const outputs: Labels['outputs'] = [];
  for (const [output, names] of requested) {
    const rows = rowsOf(sample[output]);
    const width = rows[0]?.length ?? 0;
    if (width !== names.length) throw refuse(`labels: output "${output}" has ${width} classes (the width of its rows on the version's sample), got ${names.length} labels`);
    outputs.push({ output, names: [...names], scores: scoresSet ?? (rows.every(isProbabilityRow) ? 'probabilities' : 'softmax') });
  }

  const fewest = Math.min(...outputs.map((o) => o.names.length));
  // New labels keep the deployment's top_k (within their count) unless the call sets one.
  const topK = req.top_k ?? Math.min(kept?.topK ?? DEFAULT_TOP_K, fewest);
  if (topK > fewest) throw refuse(`top_k must be at most ${fewest} (the number of labels${outputs.length > 1 ? ' of the smallest labelled output' : ''}), got ${topK}`, 'top_k');
  return { topK, ...(scoresSet === undefined ? {} : { scoresSet }), outputs };
}

/**
 * A label file's names: text with one label per line (trailing blank lines dropped), a JSON list, or
 * TorchServe's index_to_name.json `{ "0": "cat", ... }` (whose values may be `[wnid, name]` pairs:
 * the last item is the name).
 */
export function labelsFromFile(body: unknown): string[] {
  if (typeof body === 'string') {
    const lines = body.replace(/^\uFEFF/, '').split(/\r?\n/).map((line) => line.trimEnd());
    while (lines.length > 0 && lines.at(-1) === '') lines.pop();
    const blank = lines.indexOf('');
    if (blank >= 0) throw refuse(`label file: line ${blank + 1} is empty (one label per line, class 0 first)`);
    if (lines.length === 0) throw refuse('label file: no labels (one label per line, class 0 first)');
    return lines;
  }
  if (Array.isArray(body)) {
    if (body.length === 0 || !body.every((v) => typeof v === 'string' && v !== '')) throw refuse('label file: a JSON list must hold non-empty strings');
    return body as string[];
  }
  if (body !== null && typeof body === 'object') {
    const entries = Object.entries(body);
    const names = new Array<string>(entries.length);
    for (const [key, value] of entries) {
      const index = /^\d+$/.test(key) ? Number(key) : -1;
      if (index < 0 || index >= entries.length) throw refuse(`label file: index_to_name keys must be the class indexes 0..${entries.length - 1}, got "${key}"`);
      const name = Array.isArray(value) ? value.at(-1) : value;
      if (typeof name !== 'string' || name === '') throw refuse(`label file: "${key}" must map to a label (a string, or [id, label])`);
      names[index] = name;
    }
    if (entries.length === 0) throw refuse('label file: no labels');
    // "01" and "1" are one index: then another is missing.
    const missing = Array.from(names.keys()).find((i) => names[i] === undefined);
    if (missing !== undefined) throw refuse(`label file: index_to_name has no class ${missing}`);
    return names;
  }
  throw refuse('label file: send text/plain (one label per line) or JSON (index_to_name.json { "0": "cat", ... }, or a list)');
}
