// Staged imports: rows go in by short transactions under a dataset no reader sees, other writers
// get the lock in between, the dataset appears whole or not at all, and what a dead import left
// behind is removed the next time the database is opened.
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate, openDatabase, type Db } from '../../../db/database.js';
import { removeAbandonedImports, stagedExampleWriter } from '../../../db/dataset-imports.js';
import { deleteDataset, getDataset, insertImportingDataset, listDatasets, renameDataset, type NewDataset } from '../../../db/datasets.js';
import { countExamples } from '../../../db/examples.js';
import { recordMetric } from '../../../db/metrics.js';
import { migrations } from '../../../db/migrations.js';
import { createRun } from '../../../db/runs.js';
import { importDataset, ImportRejectedError } from '../../../main/data/import-dataset.js';
import { tempHome } from '../../helpers/temp-home.js';

const rowsFile = (dir: string, rows: number, bad: number[] = []): string => {
  const file = join(dir, `rows-${rows}.jsonl`);
  const lines = Array.from({ length: rows }, (_, i) => (bad.includes(i) ? '{"prompt": "broken' : JSON.stringify({ prompt: `q${i}`, completion: `a${i}` })));
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
};

const stagedDataset: NewDataset = {
  name: 'staged',
  sourcePath: '/data/x.jsonl',
  sourceBytes: 1,
  container: 'jsonl',
  format: 'text',
  kind: 'text',
  mapping: null,
  modelId: null,
  template: null,
  skippedInvalid: 0,
  skippedDuplicate: 0,
  splitSeed: 1,
  valFraction: 0.1,
  report: null,
};

const allRows = (db: Database.Database, table: 'datasets' | 'examples'): number => db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number;

describe('staged dataset imports', () => {
  let home: ReturnType<typeof tempHome>;
  let file: string;
  let db: Db;
  beforeEach(() => {
    home = tempHome();
    file = join(home.dir, 'tunesmith.db');
    db = openDatabase(file);
  });
  afterEach(() => {
    if (db.open) db.close();
    home.cleanup();
  });

  it('stages rows in short transactions no reader sees, letting other writers in between', () => {
    const other = openDatabase(file);
    other.pragma('busy_timeout = 0'); // any lock held across batches fails the write below at once
    const runId = createRun(other, { kind: 'train', name: 'r', spec: {} }).id;
    const seen: { staged: number; listed: number }[] = [];
    const { dataset } = importDataset(db, rowsFile(home.dir, 10_000), {
      progressIntervalMs: 0,
      onProgress: (p) => {
        if (p.rowsRead % 2500 !== 0 || p.rowsRead === 10_000) return;
        recordMetric(other, runId, { step: p.rowsRead, loss: 1 }); // throws SQLITE_BUSY if the import holds the lock
        seen.push({ staged: allRows(other, 'examples'), listed: listDatasets(other).length });
      },
    });
    expect(seen.length).toBe(3);
    // Committed in batches (another connection counts them), yet listed nowhere until the end.
    for (const s of seen) expect(s.listed).toBe(0);
    expect(seen.at(-1)!.staged).toBeGreaterThan(0);
    expect(listDatasets(other)).toEqual([expect.objectContaining({ id: dataset.id, rowCount: 10_000, trainCount: 9000, valCount: 1000 })]);
    expect(countExamples(other, dataset.id, 'val')).toBe(1000);
    other.close();
  });

  it('a rejected file leaves nothing behind, staged rows included', () => {
    expect(() => importDataset(db, rowsFile(home.dir, 7000, [6500]))).toThrow(ImportRejectedError);
    expect(allRows(db, 'datasets')).toBe(0);
    expect(allRows(db, 'examples')).toBe(0);
  });

  it('readers, renames and deletes see only finished datasets', () => {
    const id = insertImportingDataset(db, stagedDataset);
    stagedExampleWriter(db, id)([{ position: 0, sourceLine: 1, example: { kind: 'text', text: 'hi' }, contentHash: 'h', split: 'train' }]);
    expect(getDataset(db, id)).toBeUndefined();
    expect(listDatasets(db)).toEqual([]);
    expect(renameDataset(db, id, 'x')).toBe(false);
    expect(deleteDataset(db, id)).toBe(false);
    expect(allRows(db, 'examples')).toBe(1);
  });

  it('removes on the next open what an import whose process died (or stalled for minutes) staged, and keeps a live one', () => {
    const finished = importDataset(db, rowsFile(home.dir, 50)).dataset;
    const dead = spawnSync(process.execPath, ['-e', '']).pid!; // exited by now
    const deadId = insertImportingDataset(db, stagedDataset);
    const liveId = insertImportingDataset(db, stagedDataset);
    const staleId = insertImportingDataset(db, stagedDataset);
    db.prepare('UPDATE datasets SET import_pid = ? WHERE id = ?').run(dead, deadId);
    db.prepare('UPDATE datasets SET import_pid = ? WHERE id IN (?, ?)').run(process.ppid, liveId, staleId);
    // Its process id is taken by a live process now, but the import has not moved for 11 minutes.
    db.prepare(`UPDATE datasets SET import_heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-11 minutes') WHERE id = ?`).run(staleId);
    const rows = Array.from({ length: 4500 }, (_, i) => ({ position: i, sourceLine: i + 1, example: { kind: 'text' as const, text: `t${i}` }, contentHash: `h${i}`, split: 'train' as const }));
    stagedExampleWriter(db, deadId)(rows);
    stagedExampleWriter(db, liveId)(rows.slice(0, 10));
    db.close();

    db = openDatabase(file);
    const ids = (db.prepare('SELECT id FROM datasets ORDER BY id').pluck().all() as number[]);
    expect(ids).toEqual([finished.id, liveId]);
    expect(db.prepare('SELECT COUNT(*) FROM examples WHERE dataset_id = ?').pluck().get(deadId)).toBe(0);
    expect(db.prepare('SELECT COUNT(*) FROM examples WHERE dataset_id = ?').pluck().get(liveId)).toBe(10);
    expect(listDatasets(db).map((d) => [d.id, d.rowCount])).toEqual([[finished.id, 50]]);
    expect(removeAbandonedImports(db)).toEqual([]);
    expect(db.pragma('foreign_key_check')).toEqual([]);
  });

  it('datasets from before staged imports stay visible after the migration', () => {
    const raw = new Database(join(home.dir, 'old.db'));
    migrate(raw, migrations.slice(0, 2));
    raw
      .prepare(
        `INSERT INTO datasets (name, source_path, source_bytes, container, format, kind, row_count, train_count, val_count, split_seed, val_fraction)
         VALUES ('old', '/data/old.jsonl', 10, 'jsonl', 'alpaca', 'chat', 0, 0, 0, 1, 0.1)`,
      )
      .run();
    raw.close();
    const upgraded = openDatabase(join(home.dir, 'old.db'));
    expect(listDatasets(upgraded).map((d) => d.name)).toEqual(['old']);
    upgraded.close();
  });
});
