// Repository for model folders the user has pointed Tunesmith at. Only the path, config.json and a
// hash are stored: weights stay on disk where the user keeps them.
import type { Db } from './database.js';

export interface ModelRow {
  id: number;
  path: string;
  name: string;
  config: unknown;
  hash: string | null;
  createdAt: string;
}

interface RawModel {
  id: number;
  path: string;
  name: string;
  config_json: string;
  hash: string | null;
  created_at: string;
}

function fromRaw(r: RawModel): ModelRow {
  return { id: r.id, path: r.path, name: r.name, config: JSON.parse(r.config_json), hash: r.hash, createdAt: r.created_at };
}

/** Records a model folder, or refreshes its config and hash if the same path was added before. */
export function upsertModel(db: Db, model: { path: string; name: string; config: unknown; hash?: string | null }): ModelRow {
  db.prepare(
    `INSERT INTO models (path, name, config_json, hash) VALUES (@path, @name, @config, @hash)
     ON CONFLICT (path) DO UPDATE SET name = excluded.name, config_json = excluded.config_json, hash = excluded.hash`,
  ).run({ path: model.path, name: model.name, config: JSON.stringify(model.config), hash: model.hash ?? null });
  return getModelByPath(db, model.path)!;
}

export function getModel(db: Db, id: number): ModelRow | undefined {
  const raw = db.prepare('SELECT * FROM models WHERE id = ?').get(id) as RawModel | undefined;
  return raw && fromRaw(raw);
}

export function getModelByPath(db: Db, path: string): ModelRow | undefined {
  const raw = db.prepare('SELECT * FROM models WHERE path = ?').get(path) as RawModel | undefined;
  return raw && fromRaw(raw);
}

export function listModels(db: Db): ModelRow[] {
  return (db.prepare('SELECT * FROM models ORDER BY id').all() as RawModel[]).map(fromRaw);
}

export function deleteModel(db: Db, id: number): boolean {
  return db.prepare('DELETE FROM models WHERE id = ?').run(id).changes > 0;
}
