import type { ConsoleApi } from '../api.js';
import { ErrorBanner } from '../components/error-banner.js';
import { useLoad } from '../components/use-load.js';
import { timeText } from '../payload.js';
import { hrefOf } from '../router.js';

/** The services: each deployment with its model version, replicas and endpoint. */
export function DeploymentsPage({ api }: { api: ConsoleApi }) {
  const list = useLoad(() => api.deployments(), [api]);
  return (
    <main>
      <h1>Deployments</h1>
      <ErrorBanner error={list.error} />
      {list.value && list.value.length === 0 ? (
        <p class="empty">
          No deployments yet. Open a <a href="#/models">model</a> and use its Deploy tab.
        </p>
      ) : null}
      {list.value && list.value.length > 0 ? (
        <div class="table-scroll">
          <table class="list" data-testid="deployments-table">
            <thead>
              <tr>
                <th scope="col">name</th>
                <th scope="col">model</th>
                <th scope="col">replicas</th>
                <th scope="col">script</th>
                <th scope="col">endpoint</th>
                <th scope="col">updated</th>
              </tr>
            </thead>
            <tbody>
              {list.value.map((d) => (
                <tr key={d.deployment_name}>
                  <td>
                    <a href={hrefOf({ page: 'deployment', name: d.deployment_name, tab: 'overview' })}>{d.deployment_name}</a>
                  </td>
                  <td>
                    <a href={hrefOf({ page: 'model', name: d.model_name, version: d.model_version, tab: 'overview' })}>
                      {d.model_name} v{d.model_version}
                    </a>
                  </td>
                  <td>{d.replicas}</td>
                  <td>{d.has_script ? 'yes' : 'no'}</td>
                  <td>
                    <code class="wrap">{d.endpoint_url}</code>
                  </td>
                  <td>{timeText(d.updated)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </main>
  );
}
