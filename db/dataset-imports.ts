// The database side of a staged dataset import. One transaction for a whole large file would hold
// SQLite's single write lock for as long as the import takes, and every other writer (a training
// run's metrics, the app's own writes) would wait for it or fail with "database is locked". So an
// import writes its dataset row as 'importing' (invisible to every reader, see db/datasets.ts),
// adds the examples in short transactions of a couple of thousand rows, then makes the dataset
// 'ready' in one short last transaction. All-or-nothing still holds: until that last transaction
// nothing is visible, a failed import removes what it staged, and what a killed one left behind is
// removed the next time the database is opened.
import type { Db } from './database.js';
import { exampleInserter, type NewExample } from './examples.js';

/** Rows per short transaction when removing staged examples or marking validation rows. */
const ROWS_PER_TRANSACTION = 1000;

/**
 * A staged import whose heartbeat is older than this is abandoned even if a process with its id
 * runs (ids are reused, e.g. a restarted container's app is process 1 again). A live import renews
 * it every batch, well under a second apart.
 */
const STALE_IMPORT_MINUTES = 10;

/** Adds one batch of staged examples, and renews the import's heartbeat, in one transaction. */
export function stagedExampleWriter(db: Db, datasetId: number): (batch: readonly NewExample[]) => void {
  const insert = exampleInserter(db, datasetId);
  const heartbeat = db.prepare(`UPDATE datasets SET import_heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?`);
  return db.transaction((batch: readonly NewExample[]) => {
    for (const e of batch) insert(e);
    heartbeat.run(datasetId);
  });
}

/** Moves the rows at these positions to the validation split, a thousand per transaction. */
export function markValidationRows(db: Db, datasetId: number, positions: readonly number[]): void {
  const toVal = db.prepare(`UPDATE examples SET split = 'val' WHERE dataset_id = ? AND position = ?`);
  const some = db.transaction((slice: readonly number[]) => {
    for (const position of slice) toVal.run(datasetId, position);
  });
  for (let i = 0; i < positions.length; i += ROWS_PER_TRANSACTION) some(positions.slice(i, i + ROWS_PER_TRANSACTION));
}

/**
 * Makes a staged dataset visible, with its counts and report, in one short transaction. The counts
 * are read from the examples first (no lock held), so they can never drift from the data.
 */
export function publishDatasetImport(db: Db, datasetId: number, outcome: { skippedInvalid: number; skippedDuplicate: number; report: unknown }): void {
  const count = db.prepare(`SELECT COUNT(*) FROM examples WHERE dataset_id = ? AND split = ?`).pluck();
  const train = count.get(datasetId, 'train') as number;
  const val = count.get(datasetId, 'val') as number;
  const published = db
    .prepare(
      `UPDATE datasets SET state = 'ready', import_pid = NULL, row_count = ?, train_count = ?, val_count = ?,
         skipped_invalid = ?, skipped_duplicate = ?, report_json = ?
       WHERE id = ? AND state = 'importing'`,
    )
    .run(train + val, train, val, outcome.skippedInvalid, outcome.skippedDuplicate, JSON.stringify(outcome.report), datasetId);
  if (published.changes !== 1) {
    throw new Error(`the staged rows of dataset ${datasetId} were removed as abandoned while it was importing (stalled for ${STALE_IMPORT_MINUTES} minutes?); nothing was imported`);
  }
}

/**
 * Removes a staged import: its examples a thousand per transaction (other writers get the lock
 * in between), then its dataset row. Only ever touches an 'importing' dataset.
 */
export function discardDatasetImport(db: Db, datasetId: number): void {
  const isStaged = db.prepare(`SELECT 1 FROM datasets WHERE id = ? AND state = 'importing'`).pluck();
  if (!isStaged.get(datasetId)) return;
  const someExamples = db.prepare(
    `DELETE FROM examples WHERE rowid IN (SELECT rowid FROM examples WHERE dataset_id = ? LIMIT ${ROWS_PER_TRANSACTION})`,
  );
  while (someExamples.run(datasetId).changes > 0) {
    // each DELETE is its own short transaction
  }
  db.prepare(`DELETE FROM datasets WHERE id = ? AND state = 'importing'`).run(datasetId);
}

/** Whether a process with this id is running (on this machine: the database is a local file). */
function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the staged rows of imports whose process is gone (killed, crashed, power cut) or that
 * have not moved for minutes. An import still running in another process, or in a worker of this
 * one, is left alone. Returns the ids of the imports removed.
 */
export function removeAbandonedImports(db: Db): number[] {
  const staged = db
    .prepare(
      `SELECT id, import_pid AS pid,
         COALESCE(import_heartbeat_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-${STALE_IMPORT_MINUTES} minutes'), 1) AS stale
       FROM datasets WHERE state = 'importing'`,
    )
    .all() as { id: number; pid: number | null; stale: 0 | 1 }[];
  const abandoned = staged.filter((s) => s.stale === 1 || s.pid === null || (s.pid !== process.pid && !processIsAlive(s.pid)));
  for (const { id } of abandoned) discardDatasetImport(db, id);
  return abandoned.map((a) => a.id);
}

