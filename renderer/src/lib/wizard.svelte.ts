// What the wizard steps share: the chosen model, dataset and run. Kept in localStorage so a reload
// (or reopening the app) lands where the user was; everything else is re-read from the backend.
import type { ModelSummary } from '../../../main/api/contract';

interface WizardState {
  modelPath: string;
  model: ModelSummary | null;
  datasetId: number | null;
  /** The training run the Train, Evaluate and Export steps show. */
  runId: number | null;
}

const KEY = 'tunesmith.wizard';

function restore(): WizardState {
  const blank: WizardState = { modelPath: '', model: null, datasetId: null, runId: null };
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? '{}') as Partial<WizardState>;
    return { ...blank, modelPath: saved.modelPath ?? '', datasetId: saved.datasetId ?? null, runId: saved.runId ?? null };
  } catch {
    return blank;
  }
}

export const wizard: WizardState = $state(restore());

/** Call after changing `wizard`; the model summary itself is not stored (it is re-read on load). */
export function saveWizard(): void {
  localStorage.setItem(KEY, JSON.stringify({ modelPath: wizard.modelPath, datasetId: wizard.datasetId, runId: wizard.runId }));
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Joins a folder and a name with the folder's own separator (the backend may run on Windows). */
export function joinPath(dir: string, name: string): string {
  const sep = dir.includes('\\') && !dir.includes('/') ? '\\' : '/';
  return dir.endsWith(sep) ? dir + name : dir + sep + name;
}
