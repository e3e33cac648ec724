// API handlers of the wizard steps (model, data, chat, checks). They sit beside the run and system
// handlers of app-context.ts and share its database, supervisor and event hub.
import { existsSync } from 'node:fs';
import type { Db } from '../../db/database.js';
import { listDatasets } from '../../db/datasets.js';
import { chatPrompt } from '../chat/chat-prompt.js';
import { inspectDataset } from '../data/dataset-view.js';
import { previewDataFile } from '../data/detect-format.js';
import { importInWorker } from '../data/import-in-worker.js';
import { removeDataset } from '../data/remove-dataset.js';
import type { BuiltinTemplateName } from '../model/chat-template.js';
import { inspectModelFolder, ModelFolderError } from '../model/inspect-model.js';
import type { GenerateResult } from '../trainer/jobs/generate.js';
import type { ScoreResult } from '../trainer/jobs/score.js';
import type { RunningJob, Supervisor } from '../trainer/supervisor.js';
import { ApiError, type Dataset } from './contract.js';
import type { Handlers } from './dispatch.js';
import type { EventHub } from './event-hub.js';

export type WizardMethod = 'models.inspect' | 'models.recent' | 'data.preview' | 'data.import' | 'datasets.list' | 'datasets.inspect' | 'datasets.remove' | 'chat.generate' | 'chat.cancel' | 'score.text';

/** Errors that are the user's input (a wrong path, a bad file) become bad_request with their message. */
function asBadRequest<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError('bad_request', err instanceof Error ? err.message : String(err));
  }
}

function requireFile(file: string): void {
  if (!existsSync(file)) throw new ApiError('bad_request', `${file} does not exist: expected a data file (JSON, JSONL, CSV, TSV or text)`);
}

/** The dataset without its (possibly large) import report, which data.import returns once. */
function datasetOut(d: Dataset & { report?: unknown }): Dataset {
  const { report: _report, ...rest } = d;
  return rest;
}

async function outcomeOf(job: RunningJob): Promise<unknown> {
  const outcome = await job.done;
  if (outcome.state === 'failed') throw new ApiError('bad_request', outcome.error);
  if (outcome.state === 'cancelled') throw new ApiError('conflict', 'stopped');
  return outcome.result;
}

/** The engine's load-time checks of a model folder, in a trainer process (the engine stays out of this one). */
async function checkModelInTrainer(supervisor: Supervisor, dir: string): Promise<void> {
  const outcome = await supervisor.start({ kind: 'check-model', model: dir }).done;
  if (outcome.state === 'failed') throw new Error(outcome.error);
  if (outcome.state === 'cancelled') throw new Error(`the check of ${dir} was stopped`);
}

export function wizardHandlers(deps: { db: Db; databasePath: string; supervisor: Supervisor; hub: EventHub }): Pick<Handlers, WizardMethod> {
  const { db, supervisor, hub } = deps;
  const chats = new Map<string, RunningJob>();
  return {
    'models.inspect': async ({ path }) => {
      try {
        return { model: await inspectModelFolder(db, path, (dir) => checkModelInTrainer(supervisor, dir)) };
      } catch (err) {
        if (err instanceof ModelFolderError) throw new ApiError('bad_request', err.message);
        throw new ApiError('bad_request', `${path}: ${(err as Error).message}`);
      }
    },
    'models.recent': async ({ limit }) => {
      const rows = db.prepare('SELECT id, path, name, created_at AS createdAt FROM models ORDER BY id DESC LIMIT ?').all(limit) as {
        id: number;
        path: string;
        name: string;
        createdAt: string;
      }[];
      return { models: rows.map((r) => ({ ...r, exists: existsSync(r.path) })) };
    },
    'data.preview': async ({ file, container, format, mapping, rows }) => {
      requireFile(file);
      return { preview: asBadRequest(() => previewDataFile(file, { container, format, mapping, rows })) };
    },
    'data.import': async ({ file, model, template, ...options }) => {
      requireFile(file);
      try {
        const outcome = await importInWorker({ databasePath: deps.databasePath, file, options, model, template }, (p) =>
          hub.emit({ type: 'data.import.progress', file, rowsRead: p.rowsRead, validRows: p.validRows, issues: p.issues, bytesRead: p.bytesRead, totalBytes: p.totalBytes }),
        );
        return outcome.outcome === 'imported' ? { ...outcome, dataset: datasetOut(outcome.dataset) } : outcome;
      } catch (err) {
        throw new ApiError('bad_request', (err as Error).message);
      }
    },
    'datasets.list': async () => ({ datasets: listDatasets(db).map(datasetOut) }),
    'datasets.inspect': async (params) => {
      const view = asBadRequest(() => inspectDataset(db, { ...params, template: params.template as BuiltinTemplateName | 'model' | undefined }));
      return { ...view, dataset: datasetOut(view.dataset) };
    },
    'datasets.remove': async ({ id }) => {
      if (!removeDataset(db, id)) throw new ApiError('not_found', `no dataset with id ${id}`);
      return { removed: true as const };
    },
    'chat.generate': async ({ streamId, model, message, template, maxTokens, temperature, seed, adapter, quant }) => {
      if (chats.has(streamId)) throw new ApiError('conflict', `a chat stream "${streamId}" is already running`);
      const prompt = asBadRequest(() => chatPrompt(model, message, template as BuiltinTemplateName | 'model' | undefined));
      const job = supervisor.start(
        { kind: 'generate', model, prompt, maxTokens, temperature, seed, topK: 0, topP: 1, stop: [], adapter, quant },
        { text: (text) => hub.emit({ type: 'chat.text', streamId, text }) },
      );
      chats.set(streamId, job);
      try {
        const result = (await outcomeOf(job)) as GenerateResult;
        return { text: result.text, stopReason: result.stopReason, prompt };
      } finally {
        chats.delete(streamId);
      }
    },
    'chat.cancel': async ({ streamId }) => {
      const job = chats.get(streamId);
      job?.cancel();
      return { cancelled: job !== undefined };
    },
    'score.text': async ({ model, text, adapter, quant }) => {
      const result = (await outcomeOf(supervisor.start({ kind: 'score', model, text, adapter, quant }))) as ScoreResult;
      return { count: result.count, totalNll: result.totalNll, meanNll: result.meanNll, perplexity: result.perplexity };
    },
  };
}
