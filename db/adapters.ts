// Repository for trained LoRA adapters: the config as JSON and each tensor as its own blob. Saving is
// one transaction, so an adapter is either complete in the database or absent.
import type { Db } from './database.js';

export type TensorDtype = 'F32' | 'BF16' | 'F16';

export interface AdapterTensor {
  name: string;
  dtype: TensorDtype;
  shape: number[];
  /** Little-endian, row-major bytes. */
  data: Uint8Array;
}

export interface AdapterRow {
  id: number;
  runId: number | null;
  modelId: number | null;
  name: string;
  config: unknown;
  createdAt: string;
}

interface RawAdapter {
  id: number;
  run_id: number | null;
  model_id: number | null;
  name: string;
  config_json: string;
  created_at: string;
}

const bytesPerElement: Record<TensorDtype, number> = { F32: 4, BF16: 2, F16: 2 };

function fromRaw(r: RawAdapter): AdapterRow {
  return { id: r.id, runId: r.run_id, modelId: r.model_id, name: r.name, config: JSON.parse(r.config_json), createdAt: r.created_at };
}

function checkTensor(t: AdapterTensor): void {
  const elements = t.shape.reduce((a, b) => a * b, 1);
  const expected = elements * bytesPerElement[t.dtype];
  if (t.data.byteLength !== expected) {
    throw new Error(`adapter tensor ${t.name}: shape [${t.shape.join(', ')}] ${t.dtype} needs ${expected} bytes, got ${t.data.byteLength}`);
  }
}

export function saveAdapter(
  db: Db,
  adapter: { runId?: number | null; modelId?: number | null; name: string; config: unknown; tensors: AdapterTensor[] },
): AdapterRow {
  adapter.tensors.forEach(checkTensor);
  const insertAdapter = db.prepare('INSERT INTO adapters (run_id, model_id, name, config_json) VALUES (?, ?, ?, ?)');
  const insertTensor = db.prepare('INSERT INTO adapter_tensors (adapter_id, name, dtype, shape_json, data) VALUES (?, ?, ?, ?, ?)');
  const id = db.transaction(() => {
    const info = insertAdapter.run(adapter.runId ?? null, adapter.modelId ?? null, adapter.name, JSON.stringify(adapter.config));
    const adapterId = Number(info.lastInsertRowid);
    for (const t of adapter.tensors) {
      insertTensor.run(adapterId, t.name, t.dtype, JSON.stringify(t.shape), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
    return adapterId;
  })();
  return getAdapter(db, id)!;
}

export function getAdapter(db: Db, id: number): AdapterRow | undefined {
  const raw = db.prepare('SELECT * FROM adapters WHERE id = ?').get(id) as RawAdapter | undefined;
  return raw && fromRaw(raw);
}

export function listAdapters(db: Db, filter: { runId?: number } = {}): AdapterRow[] {
  const rows =
    filter.runId === undefined
      ? (db.prepare('SELECT * FROM adapters ORDER BY id DESC').all() as RawAdapter[])
      : (db.prepare('SELECT * FROM adapters WHERE run_id = ? ORDER BY id DESC').all(filter.runId) as RawAdapter[]);
  return rows.map(fromRaw);
}

/** Tensor names, dtypes and shapes without reading the blobs. */
export function listAdapterTensors(db: Db, adapterId: number): Omit<AdapterTensor, 'data'>[] {
  const rows = db
    .prepare('SELECT name, dtype, shape_json FROM adapter_tensors WHERE adapter_id = ? ORDER BY name')
    .all(adapterId) as { name: string; dtype: TensorDtype; shape_json: string }[];
  return rows.map((r) => ({ name: r.name, dtype: r.dtype, shape: JSON.parse(r.shape_json) as number[] }));
}

export function loadAdapterTensors(db: Db, adapterId: number): AdapterTensor[] {
  const rows = db
    .prepare('SELECT name, dtype, shape_json, data FROM adapter_tensors WHERE adapter_id = ? ORDER BY name')
    .all(adapterId) as { name: string; dtype: TensorDtype; shape_json: string; data: Buffer }[];
  return rows.map((r) => ({ name: r.name, dtype: r.dtype, shape: JSON.parse(r.shape_json) as number[], data: new Uint8Array(r.data) }));
}

export function deleteAdapter(db: Db, id: number): boolean {
  return db.prepare('DELETE FROM adapters WHERE id = ?').run(id).changes > 0;
}
