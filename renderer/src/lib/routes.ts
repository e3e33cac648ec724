// The app's pages: the six wizard steps in order, then run history and the system panel.
export interface Route {
  id: string;
  label: string;
  group: 'steps' | 'app';
}

export const routes: Route[] = [
  { id: 'model', label: 'Model', group: 'steps' },
  { id: 'data', label: 'Data', group: 'steps' },
  { id: 'method', label: 'Method', group: 'steps' },
  { id: 'train', label: 'Train', group: 'steps' },
  { id: 'evaluate', label: 'Evaluate', group: 'steps' },
  { id: 'export', label: 'Export', group: 'steps' },
  { id: 'runs', label: 'Runs', group: 'app' },
  { id: 'system', label: 'System', group: 'app' },
];

export const defaultRoute = 'system';

export function routeFromHash(hash: string): string {
  const id = hash.replace(/^#\/?/, '');
  return routes.some((r) => r.id === id) ? id : defaultRoute;
}
