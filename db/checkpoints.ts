// Repository for training checkpoints. The optimizer and weight state lives in a folder on disk; the
// row says which step it holds, so "resume" can list what exists without scanning folders.
import type { Db } from './database.js';

export interface CheckpointRow {
  id: number;
  runId: number;
  step: number;
  path: string;
  bytes: number | null;
  createdAt: string;
}

const columns = 'id, run_id AS runId, step, path, bytes, created_at AS createdAt';

export function recordCheckpoint(db: Db, c: { runId: number; step: number; path: string; bytes?: number | null }): CheckpointRow {
  db.prepare(
    `INSERT INTO checkpoints (run_id, step, path, bytes) VALUES (?, ?, ?, ?)
     ON CONFLICT (run_id, step) DO UPDATE SET path = excluded.path, bytes = excluded.bytes`,
  ).run(c.runId, c.step, c.path, c.bytes ?? null);
  return db.prepare(`SELECT ${columns} FROM checkpoints WHERE run_id = ? AND step = ?`).get(c.runId, c.step) as CheckpointRow;
}

export function listCheckpoints(db: Db, runId: number): CheckpointRow[] {
  return db.prepare(`SELECT ${columns} FROM checkpoints WHERE run_id = ? ORDER BY step`).all(runId) as CheckpointRow[];
}

export function latestCheckpoint(db: Db, runId: number): CheckpointRow | undefined {
  return db.prepare(`SELECT ${columns} FROM checkpoints WHERE run_id = ? ORDER BY step DESC LIMIT 1`).get(runId) as
    | CheckpointRow
    | undefined;
}

export function deleteCheckpoint(db: Db, id: number): boolean {
  return db.prepare('DELETE FROM checkpoints WHERE id = ?').run(id).changes > 0;
}
