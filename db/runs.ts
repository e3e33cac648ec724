// Repository for runs: every job the user starts (self-test now, training later) and how it ended.
import type { Db } from './database.js';

export type RunState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface RunRow {
  id: number;
  kind: string;
  name: string;
  spec: unknown;
  state: RunState;
  error: string | null;
  result: unknown;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
}

interface RawRun {
  id: number;
  kind: string;
  name: string;
  spec_json: string;
  state: RunState;
  error: string | null;
  result_json: string | null;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
}

function fromRaw(r: RawRun): RunRow {
  return {
    id: r.id,
    kind: r.kind,
    name: r.name,
    spec: JSON.parse(r.spec_json),
    state: r.state,
    error: r.error,
    result: r.result_json === null ? null : JSON.parse(r.result_json),
    createdAt: r.created_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
  };
}

/** The process that supervises a run; `started` tells it apart from a later process given the same id (null: unknown). */
export interface RunOwner {
  pid: number;
  started: string | null;
}

export function createRun(db: Db, run: { kind: string; name: string; spec: unknown; owner?: RunOwner }): RunRow {
  const info = db
    .prepare(`INSERT INTO runs (kind, name, spec_json, state, owner_pid, owner_started) VALUES (?, ?, ?, 'queued', ?, ?)`)
    .run(run.kind, run.name, JSON.stringify(run.spec), run.owner?.pid ?? null, run.owner?.started ?? null);
  return getRun(db, Number(info.lastInsertRowid))!;
}

export function getRun(db: Db, id: number): RunRow | undefined {
  const raw = db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RawRun | undefined;
  return raw && fromRaw(raw);
}

export function listRuns(db: Db, limit = 100): RunRow[] {
  const rows = db.prepare('SELECT * FROM runs ORDER BY id DESC LIMIT ?').all(limit) as RawRun[];
  return rows.map(fromRaw);
}

export function markRunStarted(db: Db, id: number): void {
  db.prepare(`UPDATE runs SET state = 'running', started_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?`).run(id);
}

export function markRunEnded(
  db: Db,
  id: number,
  end: { state: 'succeeded' | 'failed' | 'cancelled'; error?: string | null; result?: unknown },
): void {
  db.prepare(
    `UPDATE runs SET state = ?, error = ?, result_json = ?, ended_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?`,
  ).run(end.state, end.error ?? null, end.result === undefined ? null : JSON.stringify(end.result), id);
}

/** A queued or running run with the process that owns it (null for runs recorded before owners were). */
export type ActiveRun = RunRow & { owner: RunOwner | null };

export function listActiveRuns(db: Db): ActiveRun[] {
  const rows = db.prepare(`SELECT * FROM runs WHERE state IN ('queued', 'running') ORDER BY id`).all() as (RawRun & {
    owner_pid: number | null;
    owner_started: string | null;
  })[];
  return rows.map((r) => ({ ...fromRaw(r), owner: r.owner_pid === null ? null : { pid: r.owner_pid, started: r.owner_started } }));
}

/**
 * Runs left 'queued' or 'running' by a process that is gone cannot still be going: mark them failed
 * so history tells the truth. Runs whose owner lives are left alone, whichever process asks: another
 * app, server or CLI command may share this home while they train. A run with no recorded owner
 * counts as abandoned. Returns how many were marked.
 */
export function failOrphanedRuns(db: Db, ownerIsAlive: (owner: RunOwner) => boolean): number {
  const orphaned = listActiveRuns(db).filter((r) => r.owner === null || !ownerIsAlive(r.owner));
  const mark = db.prepare(
    `UPDATE runs SET state = 'failed', error = 'Tunesmith stopped while this run was in progress',
     ended_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ? AND state IN ('queued', 'running')`,
  );
  return db.transaction(() => orphaned.reduce((n, r) => n + mark.run(r.id).changes, 0))();
}
