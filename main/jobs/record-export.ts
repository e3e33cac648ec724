// A finished export job goes into the exports table (db/exports.ts), tied to the training run whose
// folder it exported, so the Export step and `exports.list` can find it again.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Db } from '../../db/database.js';
import { recordExport, type ExportRow } from '../../db/exports.js';
import { listRuns } from '../../db/runs.js';
import type { ExportSpec, TrainSpec } from '../api/contract.js';
import type { ExportResult } from '../trainer/jobs/export.js';

function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? folderBytes(path) : statSync(path).size;
  }
  return total;
}

/** The newest training run that wrote into `runDir` (a resumed run shares its folder). */
export function trainRunOfFolder(db: Db, runDir: string): { id: number; spec: TrainSpec } | null {
  const dir = resolve(runDir);
  const run = listRuns(db, 10_000).find((r) => r.kind === 'train' && resolve((r.spec as TrainSpec).out) === dir);
  return run ? { id: run.id, spec: run.spec as TrainSpec } : null;
}

export function recordExportRun(db: Db, exportRunId: number, spec: ExportSpec, result: ExportResult): ExportRow {
  const train = trainRunOfFolder(db, spec.run);
  return recordExport(db, {
    runId: train?.id ?? null,
    format: result.format,
    path: result.out,
    bytes: folderBytes(result.out),
    detail: { dtype: result.dtype, exportRunId, reloadRelError: result.reloadRelError, method: train?.spec.method ?? null, launch: result.launch ?? null },
  });
}
