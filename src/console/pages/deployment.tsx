import { useState } from 'preact/hooks';
import type { DeploymentView, ModelVersionView, PlacementView } from '../../api/types.js';
import type { ConsoleApi } from '../api.js';
import { CallForm } from '../components/call-form.js';
import { CopyButton } from '../components/copy-button.js';
import { ErrorBanner } from '../components/error-banner.js';
import { outcomeOf, ResultPanes, type CallOutcome } from '../components/result-panes.js';
import { Field, Tabs } from '../components/tabs.js';
import { useLoad } from '../components/use-load.js';
import { generateCode, type BodyKind, type Language } from '../codegen.js';
import { samplePayload, timeText } from '../payload.js';
import { hrefOf, navigate, type DeploymentTab } from '../router.js';
import { session } from '../session.js';
import { LabelsCard, PreprocessCard } from './deployment-io.js';
import { imageFields } from './model.js';

const TABS: readonly { id: DeploymentTab; title: string }[] = [
  { id: 'overview', title: 'Overview' },
  { id: 'test', title: 'Test' },
  { id: 'stats', title: 'Calls' },
  { id: 'code', title: 'Generate code' },
];

/** One service: endpoint and token, replicas and version, its sandboxes, a test, its calls, and code to call it. */
export function DeploymentPage({ api, name, tab }: { api: ConsoleApi; name: string; tab: DeploymentTab }) {
  const deployment = useLoad(() => api.deployment(name), [api, name]);
  const d = deployment.value;
  const version = useLoad(async () => (d ? api.version(d.model_name, d.model_version) : undefined), [api, d?.model_name, d?.model_version]);
  return (
    <main>
      <p class="crumbs">
        <a href="#/deployments">Deployments</a> /
      </p>
      <h1>{name}</h1>
      <ErrorBanner error={deployment.error ?? version.error} />
      {d ? (
        <>
          <Tabs tabs={TABS} current={tab} label="Deployment" href={(t) => hrefOf({ page: 'deployment', name, tab: t })} />
          {tab === 'overview' ? <Overview api={api} d={d} v={version.value} onChanged={deployment.reload} /> : null}
          {tab === 'test' && version.value ? <TestTab api={api} d={d} v={version.value} /> : null}
          {tab === 'stats' ? <StatsTab api={api} name={name} /> : null}
          {tab === 'code' && version.value ? <CodeTab d={d} v={version.value} /> : null}
        </>
      ) : null}
    </main>
  );
}

/** The token, if this tab received it (at creation or renewal): hidden until revealed. */
function TokenRow({ api, name }: { api: ConsoleApi; name: string }) {
  const [token, setToken] = useState(() => session.serviceToken(name));
  const [shown, setShown] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const renew = async () => {
    if (token !== null && !confirm('Replace the token? The current one stops working at once.')) return;
    setError(null);
    try {
      const fresh = await api.rotateToken(name);
      session.keepServiceToken(name, fresh.access_token);
      setToken(fresh.access_token);
      setShown(true);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div>
      <dt>token</dt>
      <dd>
        {token !== null ? (
          <>
            <code data-testid="service-token">{shown ? token : '•'.repeat(24)}</code>{' '}
            <button type="button" class="secondary" onClick={() => setShown(!shown)} aria-pressed={shown}>
              {shown ? 'Hide' : 'Reveal'}
            </button>{' '}
            <CopyButton text={token} />{' '}
          </>
        ) : (
          <span class="hint">Shown only to the browser tab that created it (the server keeps a hash). </span>
        )}
        <button type="button" class="secondary" onClick={renew}>
          New token
        </button>
        <ErrorBanner error={error} />
      </dd>
    </div>
  );
}

/** "workers 0 and 1 · sandboxes 2 on 0, 1 on 1 · kept apart after SCRIPT_TIMEOUT until …". */
function placementText(p: PlacementView): string {
  const workers = p.workers.length <= 1 ? `worker ${p.workers[0] ?? 'none yet'}` : `workers ${p.workers.slice(0, -1).join(', ')} and ${p.workers.at(-1)}`;
  const boxes = Object.entries(p.sandboxes).map(([w, n]) => `${n} on ${w}`);
  return [workers, boxes.length > 0 ? `sandboxes ${boxes.join(', ')}` : '', p.misbehaving ? `kept apart after ${p.misbehaving.reason} until ${timeText(p.misbehaving.until)}` : '']
    .filter((part) => part !== '')
    .join(' · ');
}

function Overview({ api, d, v, onChanged }: { api: ConsoleApi; d: DeploymentView; v: ModelVersionView | undefined; onChanged: () => void }) {
  const model = useLoad(() => api.model(d.model_name), [api, d.model_name]);
  const stats = useLoad(() => api.stats(d.deployment_name), [api, d.deployment_name, d.updated]);
  const [replicas, setReplicas] = useState(d.replicas);
  const [version, setVersion] = useState(d.model_version);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const apply = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.patchDeployment(d.deployment_name, { replicas, model_version: version });
      onChanged();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    if (!confirm(`Delete the service "${d.deployment_name}"? Its endpoint stops answering.`)) return;
    try {
      await api.deleteDeployment(d.deployment_name);
      session.forgetServiceToken(d.deployment_name);
      navigate({ page: 'deployments' });
    } catch (err) {
      setError(err);
    }
  };
  const sandboxes = stats.value?.sandboxes;

  return (
    <section>
      <dl class="facts">
        <div>
          <dt>endpoint</dt>
          <dd>
            <code class="wrap" data-testid="endpoint-url">
              {d.endpoint_url}
            </code>{' '}
            <CopyButton text={d.endpoint_url} />
          </dd>
        </div>
        <TokenRow api={api} name={d.deployment_name} />
        <div>
          <dt>model</dt>
          <dd>
            <a href={hrefOf({ page: 'model', name: d.model_name, version: d.model_version, tab: 'overview' })}>
              {d.model_name} version {d.model_version}
            </a>
          </dd>
        </div>
        <div>
          <dt>script</dt>
          <dd>{d.has_script ? 'yes' : 'none'}</dd>
        </div>
        <div>
          <dt>sandboxes</dt>
          <dd data-testid="sandbox-state">
            {sandboxes ? (sandboxes.state === 'none' ? 'none (no script)' : `${sandboxes.state}, ${sandboxes.replicas} replica(s)${sandboxes.crashes > 0 ? `, ${sandboxes.crashes} worker crash(es)` : ''}`) : '…'}
          </dd>
        </div>
        <div>
          <dt>placement</dt>
          <dd data-testid="placement">{placementText(d.placement)}</dd>
        </div>
        <div>
          <dt>limits</dt>
          <dd>
            {d.timeout_ms} ms per call, {d.memory_limit_mb} MB per sandbox; at most {d.max_records} records and {d.max_elements} values per call; a {d.request_timeout_ms} ms deadline, at most {d.max_queue} calls queued
          </dd>
        </div>
        <div>
          <dt>batching</dt>
          <dd data-testid="batching">{d.max_batch_size > 1 ? `up to ${d.max_batch_size} rows per model run, waiting up to ${d.max_delay_us} µs for more calls` : 'off'}</dd>
        </div>
        <div>
          <dt>created</dt>
          <dd>{timeText(d.created)}</dd>
        </div>
        <div>
          <dt>updated</dt>
          <dd>{timeText(d.updated)}</dd>
        </div>
      </dl>
      <form class="card" onSubmit={apply}>
        <h2>Change</h2>
        <div class="row">
          <Field label="Model version" hint="The new version's sandboxes start before the switch; calls keep being served.">
            <select value={version} onChange={(e) => setVersion(e.currentTarget.value)}>
              {(model.value?.versions ?? []).map((v) => (
                <option key={v.model_version} value={v.model_version}>
                  {v.model_version}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Replicas" hint="Runtime workers that serve it; with a script, its sandboxes too.">
            <input type="number" min={1} max={64} value={replicas} onInput={(e) => setReplicas(Number(e.currentTarget.value))} />
          </Field>
        </div>
        <div class="actions">
          <button type="submit" disabled={busy || (replicas === d.replicas && version === d.model_version)}>
            {busy ? 'Applying…' : 'Apply'}
          </button>
          <button type="button" class="danger" onClick={remove}>
            Delete the service
          </button>
        </div>
      </form>
      <ErrorBanner error={error ?? model.error ?? stats.error} />
      <PreprocessCard api={api} d={d} v={v} onChanged={onChanged} />
      {/* A script's postprocess gets the raw outputs: labels are for deployments without one. */}
      {d.has_script ? null : <LabelsCard api={api} d={d} v={v} onChanged={onChanged} />}
    </section>
  );
}

function TestTab({ api, d, v }: { api: ConsoleApi; d: DeploymentView; v: ModelVersionView }) {
  const [fn, setFn] = useState('predict');
  const [outcome, setOutcome] = useState<CallOutcome | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <section>
      <p class="hint">Calls the service as a client would, with ?debug=true so what the script printed comes back too.</p>
      <CallForm
        initialJson={samplePayload(v)}
        fileFields={imageFields(v)}
        busy={busy}
        submitLabel="Call the service"
        onSubmit={async (body) => {
          setBusy(true);
          setOutcome(await outcomeOf(() => api.callService(d.deployment_name, fn.trim() || 'predict', body)));
          setBusy(false);
        }}
      >
        <Field label="Function">
          <input value={fn} onInput={(e) => setFn(e.currentTarget.value)} data-testid="function-name" />
        </Field>
      </CallForm>
      <ResultPanes outcome={outcome} />
    </section>
  );
}

function StatsTab({ api, name }: { api: ConsoleApi; name: string }) {
  const stats = useLoad(() => api.stats(name), [api, name]);
  const s = stats.value;
  return (
    <section>
      <div class="actions">
        <button type="button" class="secondary" onClick={stats.reload}>
          Refresh
        </button>
        {s ? <span class="hint">Counted since {timeText(s.since)} (the server's start).</span> : null}
      </div>
      <ErrorBanner error={stats.error} />
      {s && s.functions.length === 0 ? <p class="empty">No calls yet.</p> : null}
      {s && s.functions.length > 0 ? (
        <div class="table-scroll">
          <table class="list" data-testid="stats-table">
            <thead>
              <tr>
                <th scope="col">function</th>
                <th scope="col">calls</th>
                <th scope="col">errors</th>
                <th scope="col">avg ms</th>
                <th scope="col">median ms</th>
                <th scope="col">min ms</th>
                <th scope="col">max ms</th>
                <th scope="col">first call</th>
                <th scope="col">last call</th>
              </tr>
            </thead>
            <tbody>
              {s.functions.map((f) => (
                <tr key={f.function}>
                  <td>
                    <code>{f.function}</code>
                  </td>
                  <td>{f.count}</td>
                  <td>{f.errors}</td>
                  <td>{f.latency_ms.avg}</td>
                  <td>{f.latency_ms.median}</td>
                  <td>{f.latency_ms.min}</td>
                  <td>{f.latency_ms.max}</td>
                  <td>{timeText(f.first_call)}</td>
                  <td>{timeText(f.last_call)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

const LANGUAGES: readonly { id: Language; title: string }[] = [
  { id: 'curl', title: 'curl' },
  { id: 'python', title: 'Python (requests)' },
  { id: 'javascript', title: 'JavaScript (fetch)' },
];

function CodeTab({ d, v }: { d: DeploymentView; v: ModelVersionView }) {
  const images = imageFields(v);
  const [language, setLanguage] = useState<Language>('curl');
  const [kind, setKind] = useState<BodyKind>(images.length > 0 ? 'file' : 'json');
  const [field, setField] = useState(images[0] ?? v.inputs[0]?.name ?? 'file');
  const [fileName, setFileName] = useState('image.png');
  const token = session.serviceToken(d.deployment_name);
  const code = generateCode(language, kind, { url: d.endpoint_url, token: token ?? '<your token>', json: samplePayload(v), field, fileName });
  return (
    <section>
      {token === null ? <p class="hint">This tab does not know the service's token: the code shows &lt;your token&gt;. Get a new token on the Overview tab to fill it in.</p> : null}
      <div class="row">
        <Field label="Language">
          <select value={language} onChange={(e) => setLanguage(e.currentTarget.value as Language)} data-testid="code-language">
            {LANGUAGES.map((l) => (
              <option key={l.id} value={l.id}>
                {l.title}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Body">
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value as BodyKind)} data-testid="code-body">
            <option value="json">JSON (the sample payload)</option>
            <option value="file">a file upload</option>
          </select>
        </Field>
        {kind === 'file' ? (
          <>
            <Field label="Form field">
              <input value={field} onInput={(e) => setField(e.currentTarget.value)} data-testid="code-field" />
            </Field>
            <Field label="File name">
              <input value={fileName} onInput={(e) => setFileName(e.currentTarget.value)} data-testid="code-file-name" />
            </Field>
          </>
        ) : null}
      </div>
      <pre class="code" data-testid="generated-code">
        {code}
      </pre>
      <div class="actions">
        <CopyButton text={code} label="Copy the code" />
      </div>
    </section>
  );
}
