// The server-side memory check of a training spec: jobs.start refuses a run the estimator says will
// not fit, before any process starts, so neither the API nor the CLI can start one by accident. The
// message says how much it needs, how much there is, and a setting that would fit.
import type { Db } from '../../db/database.js';
import { getDataset } from '../../db/datasets.js';
import { ApiError, type TrainSpec } from '../api/contract.js';
import { formatBytes } from '../common/format.js';
import { checkFit, type FitCheck } from '../estimate/memory-estimate.js';
import { modelShapeFromConfig } from '../estimate/model-shape.js';
import { estimateInputForSpec } from '../estimate/spec-estimate.js';
import type { TrainingBudget } from '../estimate/training-budget.js';

/**
 * Tokens of the dataset's longest training example, when the import templated it for this model
 * with the template the run will use (examples.total_tokens); null when unknown.
 */
function longestExample(db: Db, spec: TrainSpec, modelId: number): number | null {
  const dataset = getDataset(db, spec.datasetId);
  if (!dataset || dataset.modelId !== modelId) return null;
  if (spec.template !== undefined && spec.template !== (dataset.template ?? 'model')) return null;
  const row = db.prepare(`SELECT MAX(total_tokens) AS n FROM examples WHERE dataset_id = ? AND split = 'train'`).get(spec.datasetId) as { n: number | null };
  return row.n;
}

export function checkTrainMemory(db: Db, spec: TrainSpec, config: unknown, modelId: number, budget: TrainingBudget): FitCheck {
  const shape = modelShapeFromConfig(config);
  return checkFit(estimateInputForSpec(spec, shape, longestExample(db, spec, modelId)), budget.bytes);
}

/** Throws bad_request when the run will not fit; `override` names how a user may insist (the CLI flag). */
export function refuseIfTooBig(fit: FitCheck, budget: TrainingBudget, spec: TrainSpec, override: string | null): void {
  if (fit.fits) return;
  const what = `${spec.method} with sequences of ${spec.seqLen} tokens × batch ${spec.batchSize}`;
  const fix = fit.suggestion ? `It would fit with ${fit.suggestion}.` : 'No smaller setting of this method fits: choose a smaller model.';
  throw new ApiError(
    'bad_request',
    `params.spec: this run (${what}) needs about ${formatBytes(fit.estimate.total)} but ${formatBytes(budget.bytes)} of ${budget.label} is available. ${fix}${override ? ` To start it anyway: ${override}.` : ''}`,
  );
}
