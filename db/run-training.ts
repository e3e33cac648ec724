// The training-specific facts about a run (method, base model, dataset) that migration 2 added as
// columns on runs, so history can be filtered by them without parsing spec_json.
import type { Db } from './database.js';

export type TrainingMethod = 'lisa' | 'qlora' | 'lora' | 'full' | 'zo';

export interface RunTrainingInfo {
  method: TrainingMethod | null;
  modelId: number | null;
  datasetId: number | null;
}

export function setRunTrainingInfo(db: Db, runId: number, info: Partial<RunTrainingInfo>): void {
  const changed = db
    .prepare(
      `UPDATE runs SET method = COALESCE(@method, method), model_id = COALESCE(@modelId, model_id),
       dataset_id = COALESCE(@datasetId, dataset_id) WHERE id = @runId`,
    )
    .run({ runId, method: info.method ?? null, modelId: info.modelId ?? null, datasetId: info.datasetId ?? null }).changes;
  if (changed === 0) throw new Error(`run ${runId} does not exist`);
}

export function getRunTrainingInfo(db: Db, runId: number): RunTrainingInfo | undefined {
  return db.prepare('SELECT method, model_id AS modelId, dataset_id AS datasetId FROM runs WHERE id = ?').get(runId) as
    | RunTrainingInfo
    | undefined;
}

/** Runs that trained on a dataset: the UI warns before deleting a dataset that history refers to. */
export function runsUsingDataset(db: Db, datasetId: number): number[] {
  return (db.prepare('SELECT id FROM runs WHERE dataset_id = ? ORDER BY id').all(datasetId) as { id: number }[]).map((r) => r.id);
}
