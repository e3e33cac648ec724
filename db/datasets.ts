// Repository for datasets: one row per import, with the counts and report the import produced.
// Examples live in their own table (db/examples.ts) and go with the dataset when it is deleted.
// A dataset still being imported (state 'importing', see db/dataset-imports.ts) is invisible here:
// every reader and writer below sees only 'ready' ones.
import type { Db } from './database.js';

export type Container = 'json' | 'jsonl' | 'csv' | 'tsv' | 'txt';
export type ExampleKind = 'chat' | 'text';

export interface DatasetRow {
  id: number;
  name: string;
  sourcePath: string;
  sourceBytes: number;
  container: Container;
  format: string;
  kind: ExampleKind;
  mapping: unknown;
  modelId: number | null;
  template: string | null;
  rowCount: number;
  trainCount: number;
  valCount: number;
  skippedInvalid: number;
  skippedDuplicate: number;
  splitSeed: number;
  valFraction: number;
  report: unknown;
  createdAt: string;
}

export type NewDataset = Omit<DatasetRow, 'id' | 'createdAt' | 'rowCount' | 'trainCount' | 'valCount'>;

interface RawDataset {
  id: number;
  name: string;
  source_path: string;
  source_bytes: number;
  container: Container;
  format: string;
  kind: ExampleKind;
  mapping_json: string | null;
  model_id: number | null;
  template: string | null;
  row_count: number;
  train_count: number;
  val_count: number;
  skipped_invalid: number;
  skipped_duplicate: number;
  split_seed: number;
  val_fraction: number;
  report_json: string | null;
  created_at: string;
}

function fromRaw(r: RawDataset): DatasetRow {
  return {
    id: r.id,
    name: r.name,
    sourcePath: r.source_path,
    sourceBytes: r.source_bytes,
    container: r.container,
    format: r.format,
    kind: r.kind,
    mapping: r.mapping_json === null ? null : JSON.parse(r.mapping_json),
    modelId: r.model_id,
    template: r.template,
    rowCount: r.row_count,
    trainCount: r.train_count,
    valCount: r.val_count,
    skippedInvalid: r.skipped_invalid,
    skippedDuplicate: r.skipped_duplicate,
    splitSeed: r.split_seed,
    valFraction: r.val_fraction,
    report: r.report_json === null ? null : JSON.parse(r.report_json),
    createdAt: r.created_at,
  };
}

/**
 * Inserts the dataset row with zero counts, 'importing' and owned by this process: invisible until
 * the importer publishes it (db/dataset-imports.ts).
 */
export function insertImportingDataset(db: Db, d: NewDataset): number {
  const info = db
    .prepare(
      `INSERT INTO datasets (name, source_path, source_bytes, container, format, kind, mapping_json, model_id, template,
         row_count, train_count, val_count, skipped_invalid, skipped_duplicate, split_seed, val_fraction, report_json,
         state, import_pid, import_heartbeat_at)
       VALUES (@name, @sourcePath, @sourceBytes, @container, @format, @kind, @mapping, @modelId, @template,
         0, 0, 0, @skippedInvalid, @skippedDuplicate, @splitSeed, @valFraction, @report, 'importing', @pid,
         strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`,
    )
    .run({
      ...d,
      mapping: d.mapping === null || d.mapping === undefined ? null : JSON.stringify(d.mapping),
      report: d.report === null || d.report === undefined ? null : JSON.stringify(d.report),
      pid: process.pid,
    });
  return Number(info.lastInsertRowid);
}

/** Recounts rows and splits from the examples table, so the numbers can never drift from the data. */
export function refreshDatasetCounts(db: Db, datasetId: number): void {
  db.prepare(
    `UPDATE datasets SET
       row_count   = (SELECT COUNT(*) FROM examples WHERE dataset_id = @id),
       train_count = (SELECT COUNT(*) FROM examples WHERE dataset_id = @id AND split = 'train'),
       val_count   = (SELECT COUNT(*) FROM examples WHERE dataset_id = @id AND split = 'val')
     WHERE id = @id`,
  ).run({ id: datasetId });
}

export function updateDatasetReport(db: Db, datasetId: number, fields: { skippedInvalid: number; skippedDuplicate: number; report: unknown }): void {
  db.prepare('UPDATE datasets SET skipped_invalid = ?, skipped_duplicate = ?, report_json = ? WHERE id = ?').run(
    fields.skippedInvalid,
    fields.skippedDuplicate,
    JSON.stringify(fields.report),
    datasetId,
  );
}

export function setDatasetSplit(db: Db, datasetId: number, split: { seed: number; valFraction: number }): void {
  db.prepare('UPDATE datasets SET split_seed = ?, val_fraction = ? WHERE id = ?').run(split.seed, split.valFraction, datasetId);
}

export function getDataset(db: Db, id: number): DatasetRow | undefined {
  const raw = db.prepare(`SELECT * FROM datasets WHERE id = ? AND state = 'ready'`).get(id) as RawDataset | undefined;
  return raw && fromRaw(raw);
}

export function listDatasets(db: Db): DatasetRow[] {
  return (db.prepare(`SELECT * FROM datasets WHERE state = 'ready' ORDER BY id DESC`).all() as RawDataset[]).map(fromRaw);
}

export function renameDataset(db: Db, id: number, name: string): boolean {
  return db.prepare(`UPDATE datasets SET name = ? WHERE id = ? AND state = 'ready'`).run(name, id).changes > 0;
}

/** Deletes the dataset and, through the foreign key's cascade, all of its examples. */
export function deleteDataset(db: Db, id: number): boolean {
  return db.prepare(`DELETE FROM datasets WHERE id = ? AND state = 'ready'`).run(id).changes > 0;
}
