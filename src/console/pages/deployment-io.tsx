import { useEffect, useState } from 'preact/hooks';
import type { DeploymentView, ModelVersionView } from '../../api/types.js';
import { ApiError, type ConsoleApi, type DeploymentChange } from '../api.js';
import { ErrorBanner } from '../components/error-banner.js';
import { Field } from '../components/tabs.js';
import { useLoad } from '../components/use-load.js';

const blockText = (block: unknown) => JSON.stringify(block ?? {}, null, 2);

/** Where a version's implied block came from, in words (docs/uploads.md#what-the-model-file-says). */
export function ImpliedBlock({ v }: { v: ModelVersionView }) {
  if (!v.preprocess) return null;
  const from = v.preprocess_source?.from === 'keras_layers' ? "the model's Keras preprocessing layers" : v.preprocess_source?.from === 'onnx_metadata_props' ? "the model's ONNX metadata_props" : 'the model file';
  return (
    <section class="card" data-testid="implied-preprocess">
      <h2>Implied image preprocessing</h2>
      <p class="hint">
        Read from {from}; a new deployment of this version takes it unless it is given its own (change it on the deployment's page).
      </p>
      <pre data-testid="implied-block">{blockText(v.preprocess)}</pre>
      {v.preprocess_source ? <p data-testid="implied-reason">{v.preprocess_source.reason}</p> : null}
    </section>
  );
}

/** A PATCH whose failure is shown next to the form that sent it. */
function useChange(api: ConsoleApi, d: DeploymentView, onChanged: () => void) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async (call: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await call();
      onChanged();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { error, setError, busy, run, patch: (body: DeploymentChange) => run(() => api.patchDeployment(d.deployment_name, body)) };
}

/** The deployment's preprocess block: shown, whether it is the version's implied one, and edited as JSON. */
export function PreprocessCard({ api, d, v, onChanged }: { api: ConsoleApi; d: DeploymentView; v: ModelVersionView | undefined; onChanged: () => void }) {
  const [text, setText] = useState(() => blockText(d.preprocess));
  const change = useChange(api, d, onChanged);
  useEffect(() => setText(blockText(d.preprocess)), [d.updated]);
  const save = (e: Event) => {
    e.preventDefault();
    let block: unknown;
    try {
      block = JSON.parse(text);
    } catch (err) {
      change.setError(new ApiError(0, 'BODY_NOT_JSON', `the block is not valid JSON: ${(err as Error).message}`));
      return;
    }
    if (block === null || typeof block !== 'object' || Array.isArray(block)) {
      change.setError(new ApiError(0, 'BODY_NOT_JSON', 'the block must be a JSON object: { "<image input>": { "scale": 0.0039 } }'));
      return;
    }
    void change.patch({ preprocess: Object.keys(block).length === 0 ? null : (block as DeploymentView['preprocess']) });
  };
  const state = d.preprocess === null ? 'none: uploaded images are fed raw 0..255 pixels at the model’s size' : d.preprocess_inferred ? 'the block the model version implies' : 'set for this deployment';
  return (
    <form class="card" onSubmit={save} data-testid="preprocess-card">
      <h2>Image preprocessing</h2>
      <p class="hint">
        What the pipeline without a script does to an uploaded image, per image input: <code>width</code>, <code>height</code>, <code>fit</code>, <code>color</code>, <code>layout</code>,{' '}
        <code>scale</code>, <code>mean</code>, <code>std</code>, <code>dtype</code> (docs/uploads.md).
      </p>
      <p>
        Now: <span data-testid="preprocess-state">{state}</span>
        {d.preprocess_inferred && v?.preprocess_source ? <span class="hint"> — {v.preprocess_source.reason}</span> : null}
      </p>
      <Field label="Block (JSON)" hint="{} or an empty block removes it.">
        <textarea class="json-body" rows={Math.min(12, Math.max(4, text.split('\n').length + 1))} value={text} onInput={(e) => setText(e.currentTarget.value)} data-testid="preprocess-editor" spellcheck={false} />
      </Field>
      <div class="actions">
        <button type="submit" disabled={change.busy} data-testid="save-preprocess">
          {change.busy ? 'Saving…' : 'Save the block'}
        </button>
        {d.preprocess !== null ? (
          <button type="button" class="secondary" disabled={change.busy} onClick={() => void change.patch({ preprocess: null })} data-testid="remove-preprocess">
            Remove it
          </button>
        ) : null}
        {v?.preprocess && !d.preprocess_inferred ? (
          <button type="button" class="secondary" disabled={change.busy} onClick={() => setText(blockText(v.preprocess))}>
            Start from the version’s implied block
          </button>
        ) : null}
      </div>
      <ErrorBanner error={change.error} />
    </form>
  );
}

/** Labels and top_k: the labelled outputs, a label file or typed labels, and top_k. */
export function LabelsCard({ api, d, v, onChanged }: { api: ConsoleApi; d: DeploymentView; v: ModelVersionView | undefined; onChanged: () => void }) {
  const current = useLoad(() => (d.labels ? api.labels(d.deployment_name) : Promise.resolve(null)), [api, d.deployment_name, d.updated]);
  const outputs = v?.outputs.map((o) => o.name) ?? [];
  const [output, setOutput] = useState(d.labels?.outputs[0]?.output ?? outputs[0] ?? '');
  const [text, setText] = useState('');
  const [topK, setTopK] = useState(d.labels?.top_k ?? 5);
  // Without labels yet, top_k goes with the first ones only if the user set it (else the server's default).
  const [topKSet, setTopKSet] = useState(false);
  const labelsChange = useChange(api, d, onChanged);
  const topKChange = useChange(api, d, onChanged);
  useEffect(() => {
    if (d.labels) setTopK(d.labels.top_k);
  }, [d.updated]);
  useEffect(() => {
    if (output === '' && outputs[0]) setOutput(outputs[0]);
  }, [outputs.join()]);
  const pick = async (file: File | undefined) => {
    if (file) setText(await file.text());
  };
  const upload = (e: Event) => {
    e.preventDefault();
    void labelsChange.run(() => api.putLabels(d.deployment_name, text, { ...(outputs.length > 1 && output ? { output } : {}), ...(d.labels || !topKSet ? {} : { top_k: topK }) }));
  };
  return (
    <section class="card" data-testid="labels-card">
      <h2>Labels</h2>
      <p class="hint">A labelled output answers its best classes as {'[{ "label", "score" }]'} per record, best first (softmax first when the scores are logits). Not with a script.</p>
      {d.labels ? (
        <ul data-testid="labels-now">
          {d.labels.outputs.map((o) => (
            <li key={o.output}>
              <code>{o.output}</code>: {o.count} labels, scores {o.scores === 'softmax' ? 'softmaxed logits' : o.scores === 'sigmoid' ? 'sigmoid of logits' : 'the model’s probabilities'}{d.labels!.scores_set === 'auto' ? '' : ' (as set)'}
              {current.value?.labels[o.output] ? <span class="hint"> ({current.value.labels[o.output]!.slice(0, 5).join(', ')}{o.count > 5 ? ', …' : ''})</span> : null}
            </li>
          ))}
          <li>
            top_k <span data-testid="labels-top-k">{d.labels.top_k}</span>
          </li>
        </ul>
      ) : (
        <p data-testid="labels-now">None: outputs answer the model’s raw scores.</p>
      )}
      <form onSubmit={upload}>
        <div class="row">
          {outputs.length > 1 ? (
            <Field label="Output">
              <select value={output} onChange={(e) => setOutput(e.currentTarget.value)} data-testid="labels-output">
                {outputs.map((o) => (
                  <option key={o} value={o}>
                    {o}
                  </option>
                ))}
              </select>
            </Field>
          ) : null}
          <Field label="Label file" hint="One label per line (class 0 first), or TorchServe's index_to_name.json.">
            <input type="file" accept=".txt,.json,text/plain,application/json" onChange={(e) => void pick(e.currentTarget.files?.[0])} data-testid="labels-file" />
          </Field>
        </div>
        <Field label="Labels">
          <textarea rows={6} value={text} onInput={(e) => setText(e.currentTarget.value)} placeholder={'cat\ndog\n…'} data-testid="labels-text" spellcheck={false} />
        </Field>
        <div class="actions">
          <button type="submit" disabled={labelsChange.busy || text.trim() === ''} data-testid="save-labels">
            {labelsChange.busy ? 'Saving…' : 'Save the labels'}
          </button>
          {d.labels ? (
            <button type="button" class="secondary" disabled={labelsChange.busy} onClick={() => void labelsChange.patch({ labels: null })} data-testid="remove-labels">
              Remove the labels
            </button>
          ) : null}
        </div>
        <ErrorBanner error={labelsChange.error} />
      </form>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void topKChange.patch({ top_k: topK });
        }}
      >
        <div class="row">
          <Field label="top_k" hint={d.labels ? 'How many classes each record answers.' : 'Sent with the first labels.'}>
            <input type="number" min={1} value={topK} onInput={(e) => {
                setTopK(Number(e.currentTarget.value));
                setTopKSet(true);
              }}
              data-testid="top-k"
            />
          </Field>
        </div>
        {d.labels ? (
          <div class="actions">
            <button type="submit" disabled={topKChange.busy || topK === d.labels.top_k} data-testid="save-top-k">
              Save top_k
            </button>
          </div>
        ) : null}
        <ErrorBanner error={topKChange.error} />
      </form>
    </section>
  );
}
