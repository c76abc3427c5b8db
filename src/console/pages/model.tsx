import { useState } from 'preact/hooks';
import type { ModelVersionView } from '../../api/types.js';
import { imageLayoutOf } from '../../model/image-layout.js';
import { ApiError, type ConsoleApi } from '../api.js';
import { CallForm } from '../components/call-form.js';
import { CodeEditor, type EditorDocument } from '../components/code-editor.js';
import { ErrorBanner } from '../components/error-banner.js';
import { outcomeOf, ResultPanes, type CallOutcome } from '../components/result-panes.js';
import { Field, Tabs } from '../components/tabs.js';
import { TensorTable } from '../components/tensor-table.js';
import { useLoad } from '../components/use-load.js';
import { bytesText, randomPayload, samplePayload, timeText } from '../payload.js';
import { hrefOf, navigate, type ModelTab } from '../router.js';
import { session } from '../session.js';
import { ImpliedBlock } from './deployment-io.js';

const TABS: readonly { id: ModelTab; title: string }[] = [
  { id: 'overview', title: 'Overview' },
  { id: 'test', title: 'Test' },
  { id: 'script', title: 'Script' },
  { id: 'deploy', title: 'Deploy' },
];

/** Fields a form starts with: the model's image-shaped inputs, which take an uploaded image. */
export const imageFields = (v: ModelVersionView) => v.inputs.filter((i) => imageLayoutOf(i) !== null).map((i) => i.name);

/** One model: its versions, and per version the seed's overview, test, script and deploy tabs. */
export function ModelPage({ api, name, version, tab }: { api: ConsoleApi; name: string; version: string | null; tab: ModelTab }) {
  const model = useLoad(() => api.model(name), [api, name]);
  const m = model.value;
  const current = m ? (m.versions.find((v) => v.model_version === (version ?? m.latest_version)) ?? null) : null;
  const [error, setError] = useState<unknown>(null);

  const remove = async (what: 'version' | 'model') => {
    if (!current || !confirm(what === 'model' ? `Delete the model "${name}" and all its versions?` : `Delete version ${current.model_version} of "${name}"?`)) return;
    setError(null);
    try {
      if (what === 'model' || m!.versions.length === 1) {
        await api.deleteModel(name);
        navigate({ page: 'models' });
      } else {
        await api.deleteVersion(name, current.model_version);
        navigate({ page: 'model', name, version: null, tab: 'overview' });
        model.reload();
      }
    } catch (err) {
      setError(err);
    }
  };

  return (
    <main>
      <p class="crumbs">
        <a href="#/models">Models</a> /
      </p>
      <div class="title-row">
        <h1>{name}</h1>
        {m ? (
          <Field label="Version">
            <select value={current?.model_version ?? ''} onChange={(e) => navigate({ page: 'model', name, version: e.currentTarget.value, tab })} data-testid="version-select">
              {m.versions.map((v) => (
                <option key={v.model_version} value={v.model_version}>
                  {v.model_version}
                  {v.model_version === m.latest_version ? ' (latest)' : ''}
                </option>
              ))}
            </select>
          </Field>
        ) : null}
      </div>
      <ErrorBanner error={model.error ?? error} />
      {m && !current ? <ErrorBanner error={new ApiError(404, 'MODEL_NOT_FOUND', `model "${name}" has no version ${version}`)} /> : null}
      {current ? (
        <>
          <Tabs tabs={TABS} current={tab} label="Model version" href={(t) => hrefOf({ page: 'model', name, version: current.model_version, tab: t })} />
          {tab === 'overview' ? <Overview v={current} onDelete={remove} /> : null}
          {tab === 'test' ? <TestTab api={api} v={current} /> : null}
          {tab === 'script' ? <ScriptTab api={api} v={current} /> : null}
          {tab === 'deploy' ? <DeployTab api={api} v={current} /> : null}
        </>
      ) : null}
    </main>
  );
}

function Overview({ v, onDelete }: { v: ModelVersionView; onDelete: (what: 'version' | 'model') => void }) {
  const rows: [string, string][] = [
    ['format', v.source_format === v.format ? v.format : `${v.source_format} (served as ${v.format})`],
    ['runtime', v.backend],
    ...(v.keras_version ? ([['Keras version', v.keras_version]] as [string, string][]) : []),
    ['mining function', v.mining_function ?? '(none)'],
    ['size', bytesText(v.size)],
    ['sha256', v.sha256],
    ['created', timeText(v.created)],
    ...(v.description ? ([['description', v.description]] as [string, string][]) : []),
  ];
  return (
    <section data-testid="overview">
      <dl class="facts">
        {rows.map(([k, value]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{k === 'sha256' ? <code>{value}</code> : value}</dd>
          </div>
        ))}
        {v.evaluation ? (
          <div>
            <dt>{v.evaluation.metric === 'accuracy' ? 'accuracy' : 'R²'}</dt>
            <dd data-testid="evaluation">
              {v.evaluation.value.toFixed(4)} <span class="hint">on {v.evaluation.samples} test samples{v.evaluation.y_test_kind ? `, y_test as ${v.evaluation.y_test_kind.replace('_', '-')}` : ''}</span>
            </dd>
          </div>
        ) : null}
      </dl>
      <div class="two-col">
        <TensorTable title="Inputs" tensors={v.inputs} />
        <TensorTable title="Outputs" tensors={v.outputs} />
      </div>
      <ImpliedBlock v={v} />
      <div class="actions danger-zone">
        <button type="button" class="danger" onClick={() => onDelete('version')}>
          Delete version {v.model_version}
        </button>
        <button type="button" class="danger" onClick={() => onDelete('model')}>
          Delete the model
        </button>
      </div>
    </section>
  );
}

function TestTab({ api, v }: { api: ConsoleApi; v: ModelVersionView }) {
  const [outcome, setOutcome] = useState<CallOutcome | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <section>
      <p class="hint">{v.sample ? 'The stored sample (the first row of x_test), ready to send.' : 'No sample was stored with this version: zeros of each input’s shape. Edit them, or fill random values.'}</p>
      <CallForm
        key={`${v.model_name}/${v.model_version}`}
        initialJson={samplePayload(v)}
        fileFields={imageFields(v)}
        busy={busy}
        submitLabel="Submit"
        onRandom={() => randomPayload(v.inputs)}
        onSubmit={async (body) => {
          setBusy(true);
          setOutcome(await outcomeOf(() => api.test(v.model_name, v.model_version, body)));
          setBusy(false);
        }}
      />
      <ResultPanes outcome={outcome} />
    </section>
  );
}

/** The seed's "realtime prediction": generate a script, edit it, save it, and test it as an API. */
function ScriptTab({ api, v }: { api: ConsoleApi; v: ModelVersionView }) {
  const [doc, setDoc] = useState<EditorDocument | null>(null);
  const [script, setScript] = useState('');
  const show = (text: string) => {
    setDoc((d) => ({ id: (d?.id ?? 0) + 1, text }));
    setScript(text);
  };
  const saved = useLoad(async () => {
    const text = await api.script(v.model_name, v.model_version);
    show(text ?? '');
    return text;
  }, [api, v.model_name, v.model_version]);
  const [fn, setFn] = useState('predict');
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [outcome, setOutcome] = useState<CallOutcome | null>(null);
  const [busy, setBusy] = useState(false);

  const generate = async () => {
    if (script.trim() !== '' && !confirm('Replace the editor’s script with a generated one?')) return;
    setError(null);
    try {
      show(await api.scriptTemplate(v.model_name, v.model_version));
      setStatus('Generated from the model’s inputs and outputs: every function is optional and, as generated, answers like no script.');
    } catch (err) {
      setError(err);
    }
  };
  const save = async () => {
    setError(null);
    setStatus(null);
    try {
      const answer = await api.saveScript(v.model_name, v.model_version, script);
      setStatus(`Saved (${answer.bytes} bytes). Functions: ${answer.functions.join(', ') || 'none'}.`);
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section class="script-tab">
      <div class="actions">
        <button type="button" class="secondary" onClick={generate} data-testid="generate-script">
          Generate script
        </button>
        <button type="button" onClick={save} disabled={script.trim() === ''} data-testid="save-script">
          Save
        </button>
        {saved.value === null && script === '' ? <span class="hint">This version has no saved script yet: generate one to start from.</span> : null}
      </div>
      {status ? (
        <p class="status" role="status" data-testid="script-status">
          {status}
        </p>
      ) : null}
      <ErrorBanner error={saved.error ?? error} />
      {doc !== null ? <CodeEditor document={doc} onChange={setScript} label="Script (JavaScript or TypeScript)" /> : null}
      <h2>Test as API</h2>
      <CallForm
        key={`${v.model_name}/${v.model_version}`}
        initialJson={samplePayload(v)}
        fileFields={imageFields(v)}
        busy={busy}
        submitLabel="Test as API"
        onSubmit={async (body) => {
          setBusy(true);
          setOutcome(await outcomeOf(() => api.testScript(v.model_name, v.model_version, script, fn.trim() || 'predict', body)));
          setBusy(false);
        }}
      >
        <Field label="Function" hint="predict runs the hooks around the model; any other function of the script is called as it is.">
          <input value={fn} onInput={(e) => setFn(e.currentTarget.value)} data-testid="function-name" />
        </Field>
      </CallForm>
      <ResultPanes outcome={outcome} />
    </section>
  );
}

function DeployTab({ api, v }: { api: ConsoleApi; v: ModelVersionView }) {
  const saved = useLoad(() => api.script(v.model_name, v.model_version), [api, v.model_name, v.model_version]);
  const [name, setName] = useState(`${v.model_name}-svc`);
  const [replicas, setReplicas] = useState(1);
  const [withScript, setWithScript] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const hasScript = typeof saved.value === 'string';

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const d = await api.deploy({ deployment_name: name.trim(), model_name: v.model_name, model_version: v.model_version, replicas, script: hasScript && withScript });
      session.keepServiceToken(d.deployment_name, d.access_token);
      navigate({ page: 'deployment', name: d.deployment_name, tab: 'overview' });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card">
      <h2>Deploy version {v.model_version} as a service</h2>
      <form onSubmit={submit}>
        <div class="row">
          <Field label="Service name">
            <input required value={name} onInput={(e) => setName(e.currentTarget.value)} data-testid="deployment-name" />
          </Field>
          <Field label="Replicas" hint="Runtime workers that serve it; with a script, its sandboxes too.">
            <input type="number" min={1} max={64} value={replicas} onInput={(e) => setReplicas(Number(e.currentTarget.value))} />
          </Field>
        </div>
        <label class="check">
          <input type="checkbox" checked={hasScript && withScript} disabled={!hasScript} onChange={(e) => setWithScript(e.currentTarget.checked)} data-testid="with-script" />
          {hasScript ? 'With the saved script' : 'No saved script: the service answers the model’s raw outputs (add one in the Script tab)'}
        </label>
        <div class="actions">
          <button type="submit" disabled={busy || saved.loading} data-testid="deploy">
            {busy ? 'Deploying…' : 'Deploy'}
          </button>
        </div>
      </form>
      <ErrorBanner error={saved.error ?? error} />
    </section>
  );
}
