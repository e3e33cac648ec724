// Runs a dataset import in a worker thread (see import-worker.ts) and resolves with its outcome;
// the caller gets progress as it goes.
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { DatasetRow } from '../../db/datasets.js';
import { packagePath } from '../paths.js';
import type { ImportOptions, ImportProgress, ImportReport } from './import-dataset.js';

export interface ImportWorkerRequest {
  databasePath: string;
  file: string;
  /** Serializable options only: no callbacks, no length check (the worker builds it from `model`). */
  options: Omit<ImportOptions, 'onProgress' | 'lengthCheck'>;
  model?: string;
  template?: string;
}

export type ImportWorkerMessage =
  | { type: 'progress'; progress: ImportProgress }
  | { type: 'imported'; dataset: DatasetRow; report: ImportReport }
  | { type: 'rejected'; message: string; report: ImportReport }
  | { type: 'error'; message: string };

export type ImportOutcome = { outcome: 'imported'; dataset: DatasetRow; report: ImportReport } | { outcome: 'rejected'; message: string; report: ImportReport };

/** The compiled worker: like the trainer, workers run built JavaScript, never TypeScript sources. */
function workerEntry(): string {
  const entry = packagePath('dist', 'main', 'data', 'import-worker.js');
  if (!existsSync(entry)) throw new Error(`import worker ${entry} is missing: run "npm run build" first`);
  return entry;
}

export function importInWorker(request: ImportWorkerRequest, onProgress: (p: ImportProgress) => void = () => {}): Promise<ImportOutcome> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerEntry(), { workerData: request });
    let settled = false;
    worker.on('message', (m: ImportWorkerMessage) => {
      if (m.type === 'progress') return onProgress(m.progress);
      settled = true;
      if (m.type === 'imported') resolve({ outcome: 'imported', dataset: m.dataset, report: m.report });
      else if (m.type === 'rejected') resolve({ outcome: 'rejected', message: m.message, report: m.report });
      else reject(new Error(m.message));
    });
    worker.on('error', (err) => {
      settled = true;
      reject(err);
    });
    worker.on('exit', (code) => {
      if (!settled) reject(new Error(`the import worker stopped (exit code ${code}) before it finished; nothing was imported`));
    });
  });
}
