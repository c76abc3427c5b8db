import { useState } from 'preact/hooks';
import type { ConsoleApi } from '../api.js';
import { ErrorBanner } from '../components/error-banner.js';
import { Field } from '../components/tabs.js';
import { useLoad } from '../components/use-load.js';
import { bytesText, timeText } from '../payload.js';
import { hrefOf, navigate } from '../router.js';

/** The models: a list, and the form that publishes a model or a new version of one. */
export function ModelsPage({ api }: { api: ConsoleApi }) {
  const models = useLoad(() => api.models(), [api]);
  return (
    <main>
      <h1>Models</h1>
      <ErrorBanner error={models.error} />
      {models.value && models.value.length === 0 ? <p class="empty">No models yet: publish one below.</p> : null}
      {models.value && models.value.length > 0 ? (
        <div class="table-scroll">
          <table class="list" data-testid="models-table">
            <thead>
              <tr>
                <th scope="col">name</th>
                <th scope="col">format</th>
                <th scope="col">latest version</th>
                <th scope="col">created</th>
                <th scope="col">size</th>
              </tr>
            </thead>
            <tbody>
              {models.value.map((m) => (
                <tr key={m.model_name}>
                  <td>
                    <a href={hrefOf({ page: 'model', name: m.model_name, version: null, tab: 'overview' })}>{m.model_name}</a>
                    {m.description ? <span class="hint"> {m.description}</span> : null}
                  </td>
                  <td>{m.source_format === m.format ? m.format : `${m.source_format} → ${m.format}`}</td>
                  <td>{m.latest_version}</td>
                  <td>{timeText(m.created)}</td>
                  <td>{bytesText(m.size)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <PublishForm api={api} onPublished={(name, version) => navigate({ page: 'model', name, version, tab: 'overview' })} />
    </main>
  );
}

const MINING_FUNCTIONS = ['', 'classification', 'regression', 'clustering', 'other'] as const;

/** x_test / y_test: a .json file wins over the text box; both are sent as JSON text. */
async function jsonField(file: File | null, text: string, name: string): Promise<string | null> {
  const raw = file ? await file.text() : text.trim();
  if (raw === '') return null;
  try {
    JSON.parse(raw);
  } catch (err) {
    throw new Error(`${name} is not valid JSON: ${(err as Error).message}`);
  }
  return raw;
}

function PublishForm({ api, onPublished }: { api: ConsoleApi; onPublished: (name: string, version: string) => void }) {
  const [files, setFiles] = useState<File[]>([]);
  const [name, setName] = useState('');
  const [mining, setMining] = useState('');
  const [description, setDescription] = useState('');
  const [xTest, setXTest] = useState({ file: null as File | null, text: '' });
  const [yTest, setYTest] = useState({ file: null as File | null, text: '' });
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [dragging, setDragging] = useState(false);

  const addFiles = (list: FileList | null) => {
    if (!list) return;
    const added = [...list];
    setFiles((fs) => [...fs, ...added.filter((f) => !fs.some((g) => g.name === f.name))]);
    // The model's name defaults to the first file's name, as a publish from a notebook would use.
    if (name === '' && added[0]) setName(added[0].name.replace(/\.[^.]+$/, '').replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 64));
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const form = new FormData();
      form.append('name', name.trim());
      if (mining) form.append('mining_function', mining);
      if (description.trim()) form.append('description', description.trim());
      const x = await jsonField(xTest.file, xTest.text, 'x_test');
      const y = await jsonField(yTest.file, yTest.text, 'y_test');
      if (x !== null) form.append('x_test', x);
      if (y !== null) form.append('y_test', y);
      for (const f of files) form.append('file', f, f.name);
      setProgress(0);
      const published = await api.publish(form, setProgress);
      onPublished(published.model_name, published.model_version);
    } catch (err) {
      setError(err);
    } finally {
      setProgress(null);
    }
  };

  return (
    <section class="card">
      <h2>Publish a model</h2>
      <p class="hint">
        ONNX, a Keras <code>.h5</code> or <code>.keras</code> file, a TensorFlow.js <code>model.json</code> with its weight files, or a zip of them. Publishing an existing name adds a version.
      </p>
      <form onSubmit={submit} class="publish-form">
        <div
          class={dragging ? 'drop-zone dragging' : 'drop-zone'}
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={(e) => {
            e.preventDefault();
            setDragging(false);
            addFiles(e.dataTransfer?.files ?? null);
          }}
        >
          <Field label="Model file(s)" hint="Drop files here, or choose them. Several parts for TF.js (model.json and its .bin shards).">
            <input type="file" multiple onChange={(e) => addFiles(e.currentTarget.files)} data-testid="model-files" />
          </Field>
          {files.length > 0 ? (
            <ul class="chosen" aria-label="Chosen files">
              {files.map((f) => (
                <li key={f.name}>
                  {f.name} <span class="hint">{bytesText(f.size)}</span>{' '}
                  <button type="button" class="link" aria-label={`Remove ${f.name}`} onClick={() => setFiles((fs) => fs.filter((g) => g !== f))}>
                    remove
                  </button>
                </li>
              ))}
            </ul>
          ) : null}
        </div>
        <div class="row">
          <Field label="Name">
            <input required value={name} onInput={(e) => setName(e.currentTarget.value)} data-testid="model-name" />
          </Field>
          <Field label="Mining function">
            <select value={mining} onChange={(e) => setMining(e.currentTarget.value)}>
              {MINING_FUNCTIONS.map((m) => (
                <option key={m} value={m}>
                  {m === '' ? '(none)' : m}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <Field label="Description">
          <input value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </Field>
        <details>
          <summary>Test data (optional): x_test and y_test</summary>
          <p class="hint">The first row of x_test becomes the model's stored sample; with y_test the page shows accuracy (classification) or R² (regression). JSON: records like {'[{ "input_1": [5.1, 3.5, 1.4, 0.2] }]'}.</p>
          <div class="row">
            <Field label="x_test (JSON)">
              <textarea rows={3} value={xTest.text} onInput={(e) => setXTest({ ...xTest, text: e.currentTarget.value })} />
            </Field>
            <Field label="or an x_test .json file">
              <input type="file" accept=".json,application/json" onChange={(e) => setXTest({ ...xTest, file: e.currentTarget.files?.[0] ?? null })} />
            </Field>
          </div>
          <div class="row">
            <Field label="y_test (JSON)">
              <textarea rows={2} value={yTest.text} onInput={(e) => setYTest({ ...yTest, text: e.currentTarget.value })} />
            </Field>
            <Field label="or a y_test .json file">
              <input type="file" accept=".json,application/json" onChange={(e) => setYTest({ ...yTest, file: e.currentTarget.files?.[0] ?? null })} />
            </Field>
          </div>
        </details>
        {progress !== null ? (
          <div class="progress">
            <progress max={1} value={progress} aria-label="Upload progress" />
            <span>{progress < 1 ? `${Math.round(progress * 100)}% sent` : 'Sent: the server is reading the model…'}</span>
          </div>
        ) : null}
        <div class="actions">
          <button type="submit" disabled={files.length === 0 || progress !== null} data-testid="publish">
            Publish
          </button>
        </div>
      </form>
      <ErrorBanner error={error} />
    </section>
  );
}
