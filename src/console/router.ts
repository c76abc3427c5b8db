import { useEffect, useState } from 'preact/hooks';

/**
 * Hash routes (#/models/mnist/1/script): the server serves one page at /, and a reload or a shared
 * link opens the same view. Segments are URI-encoded, so any model name round-trips.
 */

export type Route =
  | { readonly page: 'models' }
  | { readonly page: 'model'; readonly name: string; readonly version: string | null; readonly tab: ModelTab }
  | { readonly page: 'deployments' }
  | { readonly page: 'deployment'; readonly name: string; readonly tab: DeploymentTab };

export const MODEL_TABS = ['overview', 'test', 'script', 'deploy'] as const;
export type ModelTab = (typeof MODEL_TABS)[number];
export const DEPLOYMENT_TABS = ['overview', 'test', 'stats', 'code'] as const;
export type DeploymentTab = (typeof DEPLOYMENT_TABS)[number];

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter((p) => p !== '').map(decodeURIComponent);
  if (parts[0] === 'models' && parts[1] !== undefined) {
    const tab = (MODEL_TABS as readonly string[]).includes(parts[3] ?? '') ? (parts[3] as ModelTab) : 'overview';
    return { page: 'model', name: parts[1], version: parts[2] ?? null, tab };
  }
  if (parts[0] === 'deployments' && parts[1] !== undefined) {
    const tab = (DEPLOYMENT_TABS as readonly string[]).includes(parts[2] ?? '') ? (parts[2] as DeploymentTab) : 'overview';
    return { page: 'deployment', name: parts[1], tab };
  }
  if (parts[0] === 'deployments') return { page: 'deployments' };
  return { page: 'models' };
}

export function hrefOf(route: Route): string {
  const e = encodeURIComponent;
  switch (route.page) {
    case 'models':
      return '#/models';
    case 'deployments':
      return '#/deployments';
    case 'model':
      return `#/models/${e(route.name)}${route.version === null ? '' : `/${e(route.version)}`}${route.tab === 'overview' || route.version === null ? '' : `/${route.tab}`}`;
    case 'deployment':
      return `#/deployments/${e(route.name)}${route.tab === 'overview' ? '' : `/${route.tab}`}`;
  }
}

export function navigate(route: Route): void {
  location.hash = hrefOf(route);
}

/** The current route, following the address bar. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
