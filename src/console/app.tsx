import { useMemo, useState } from 'preact/hooks';
import { ConsoleApi } from './api.js';
import { DeploymentPage } from './pages/deployment.js';
import { DeploymentsPage } from './pages/deployments.js';
import { ModelPage } from './pages/model.js';
import { ModelsPage } from './pages/models.js';
import { SignIn } from './pages/sign-in.js';
import { useRoute } from './router.js';
import { session } from './session.js';

/** The console: sign-in, then the models and deployments pages under one header. */
export function App() {
  const [token, setToken] = useState(session.adminToken);
  const api = useMemo(() => (token === null ? null : new ConsoleApi(token)), [token]);
  const route = useRoute();

  if (api === null) {
    return (
      <SignIn
        onSignedIn={(t) => {
          session.signIn(t);
          setToken(t);
        }}
      />
    );
  }
  const section = route.page === 'deployments' || route.page === 'deployment' ? 'deployments' : 'models';
  return (
    <>
      <header class="top">
        <a class="brand" href="#/models">
          inferbox
        </a>
        <nav aria-label="Main">
          <a href="#/models" aria-current={section === 'models' ? 'page' : undefined}>
            Models
          </a>
          <a href="#/deployments" aria-current={section === 'deployments' ? 'page' : undefined}>
            Deployments
          </a>
        </nav>
        <button
          type="button"
          class="secondary sign-out"
          onClick={() => {
            session.signOut();
            setToken(null);
          }}
        >
          Sign out
        </button>
      </header>
      {route.page === 'models' ? <ModelsPage api={api} /> : null}
      {route.page === 'model' ? <ModelPage key={route.name} api={api} name={route.name} version={route.version} tab={route.tab} /> : null}
      {route.page === 'deployments' ? <DeploymentsPage api={api} /> : null}
      {route.page === 'deployment' ? <DeploymentPage key={route.name} api={api} name={route.name} tab={route.tab} /> : null}
    </>
  );
}
