// Repository for exported models (merged HF folder, GGUF, Ollama Modelfile, bare adapter): where
// each went and what was written (quantisation, stop tokens), so the user can find it again.
import type { Db } from './database.js';

export interface ExportRow {
  id: number;
  runId: number | null;
  adapterId: number | null;
  format: string;
  path: string;
  bytes: number | null;
  detail: unknown;
  createdAt: string;
}

interface RawExport {
  id: number;
  run_id: number | null;
  adapter_id: number | null;
  format: string;
  path: string;
  bytes: number | null;
  detail_json: string | null;
  created_at: string;
}

function fromRaw(r: RawExport): ExportRow {
  return {
    id: r.id,
    runId: r.run_id,
    adapterId: r.adapter_id,
    format: r.format,
    path: r.path,
    bytes: r.bytes,
    detail: r.detail_json === null ? null : JSON.parse(r.detail_json),
    createdAt: r.created_at,
  };
}

export function recordExport(
  db: Db,
  e: { runId?: number | null; adapterId?: number | null; format: string; path: string; bytes?: number | null; detail?: unknown },
): ExportRow {
  const info = db
    .prepare('INSERT INTO exports (run_id, adapter_id, format, path, bytes, detail_json) VALUES (?, ?, ?, ?, ?, ?)')
    .run(e.runId ?? null, e.adapterId ?? null, e.format, e.path, e.bytes ?? null, e.detail === undefined ? null : JSON.stringify(e.detail));
  return getExport(db, Number(info.lastInsertRowid))!;
}

export function getExport(db: Db, id: number): ExportRow | undefined {
  const raw = db.prepare('SELECT * FROM exports WHERE id = ?').get(id) as RawExport | undefined;
  return raw && fromRaw(raw);
}

export function listExports(db: Db, filter: { runId?: number } = {}): ExportRow[] {
  const rows =
    filter.runId === undefined
      ? (db.prepare('SELECT * FROM exports ORDER BY id DESC').all() as RawExport[])
      : (db.prepare('SELECT * FROM exports WHERE run_id = ? ORDER BY id DESC').all(filter.runId) as RawExport[]);
  return rows.map(fromRaw);
}
