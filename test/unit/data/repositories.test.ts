// The data-layer repositories on a migrated database: adapters with tensor blobs, checkpoints,
// exports, run training info, models, and cascades when a run or dataset goes.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAdapterTensors, listAdapterTensors, saveAdapter, getAdapter, deleteAdapter } from '../../../db/adapters.js';
import { latestCheckpoint, listCheckpoints, recordCheckpoint } from '../../../db/checkpoints.js';
import { openDatabase, schemaVersion, type Db } from '../../../db/database.js';
import { migrations } from '../../../db/migrations.js';
import { deleteDataset, getDataset, listDatasets } from '../../../db/datasets.js';
import { assignSplits, countExamples, exampleIds, listExamples } from '../../../db/examples.js';
import { resplitDataset } from '../../../main/data/resplit-dataset.js';
import { chooseValidationIndices } from '../../../main/data/seeded-split.js';
import { listExports, recordExport } from '../../../db/exports.js';
import { listMetrics, recordMetric } from '../../../db/metrics.js';
import { getModelByPath, upsertModel } from '../../../db/models.js';
import { getRunTrainingInfo, runsUsingDataset, setRunTrainingInfo } from '../../../db/run-training.js';
import { createRun } from '../../../db/runs.js';
import { importDataset } from '../../../main/data/import-dataset.js';
import { tempHome } from '../../helpers/temp-home.js';
import { writeFileSync } from 'node:fs';

const home = tempHome();
let db: Db;
beforeAll(() => {
  db = openDatabase(join(home.dir, 'repo.db'));
});
afterAll(() => {
  db.close();
  home.cleanup();
});

describe('data-layer repositories', () => {
  it('migrates to the newest version with foreign keys on and WAL', () => {
    expect(schemaVersion(db)).toBe(migrations.length);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
  });

  it('stores an adapter as its config plus one blob per tensor, bytes intact', () => {
    const run = createRun(db, { kind: 'train', name: 'lora', spec: {} });
    const a = new Float32Array([1.5, -2, 3.25, 0, 1e-8, 7]);
    const b = new Uint8Array([1, 2, 3, 4]); // 2 x bf16
    const saved = saveAdapter(db, {
      runId: run.id,
      name: 'first',
      config: { r: 2, lora_alpha: 4, target_modules: ['q_proj'] },
      tensors: [
        { name: 'layers.0.q_proj.lora_A.weight', dtype: 'F32', shape: [2, 3], data: new Uint8Array(a.buffer) },
        { name: 'layers.0.q_proj.lora_B.weight', dtype: 'BF16', shape: [2, 1], data: b },
      ],
    });
    expect(getAdapter(db, saved.id)).toMatchObject({ runId: run.id, name: 'first', config: { r: 2, lora_alpha: 4 } });
    expect(listAdapterTensors(db, saved.id)).toEqual([
      { name: 'layers.0.q_proj.lora_A.weight', dtype: 'F32', shape: [2, 3] },
      { name: 'layers.0.q_proj.lora_B.weight', dtype: 'BF16', shape: [2, 1] },
    ]);
    const [ta, tb] = loadAdapterTensors(db, saved.id);
    expect(Array.from(new Float32Array(ta!.data.buffer, ta!.data.byteOffset, 6))).toEqual(Array.from(a));
    expect(Array.from(tb!.data)).toEqual([1, 2, 3, 4]);
    // A tensor whose bytes do not match its shape is refused, and nothing of that adapter is written.
    const count = (db.prepare('SELECT COUNT(*) AS n FROM adapters').get() as { n: number }).n;
    expect(() => saveAdapter(db, { name: 'bad', config: {}, tensors: [{ name: 'x', dtype: 'F32', shape: [3], data: new Uint8Array(8) }] })).toThrow(/needs 12 bytes, got 8/);
    expect((db.prepare('SELECT COUNT(*) AS n FROM adapters').get() as { n: number }).n).toBe(count);
    expect(deleteAdapter(db, saved.id)).toBe(true);
    expect((db.prepare('SELECT COUNT(*) AS n FROM adapter_tensors').get() as { n: number }).n).toBe(0);
  });

  it('records checkpoints, metrics and exports per run; deleting the run removes its checkpoints and metrics', () => {
    const run = createRun(db, { kind: 'train', name: 'ckpt', spec: {} });
    recordCheckpoint(db, { runId: run.id, step: 100, path: '/tmp/c100', bytes: 10 });
    recordCheckpoint(db, { runId: run.id, step: 200, path: '/tmp/c200' });
    expect(listCheckpoints(db, run.id).map((c) => c.step)).toEqual([100, 200]);
    expect(latestCheckpoint(db, run.id)).toMatchObject({ step: 200, path: '/tmp/c200' });
    recordMetric(db, run.id, { step: 1, loss: 2.5, lr: 1e-4, tokensPerS: 1000, memBytes: 1 << 30 });
    recordExport(db, { runId: run.id, format: 'gguf', path: '/tmp/m.gguf', detail: { stopTokens: ['<|eot_id|>'] } });
    expect(listExports(db, { runId: run.id })[0]).toMatchObject({ format: 'gguf', detail: { stopTokens: ['<|eot_id|>'] } });
    db.prepare('DELETE FROM runs WHERE id = ?').run(run.id);
    expect(listCheckpoints(db, run.id)).toEqual([]);
    expect(listMetrics(db, run.id)).toEqual([]);
    expect(listExports(db)[0]).toMatchObject({ runId: null }); // the exported file outlives the run
  });

  it('links runs to a method, model and dataset; deleting the dataset cascades to examples and unlinks runs', () => {
    const model = upsertModel(db, { path: '/models/tiny', name: 'tiny', config: { vocab_size: 512 } });
    expect(upsertModel(db, { path: '/models/tiny', name: 'tiny', config: { vocab_size: 513 } }).id).toBe(model.id);
    expect(getModelByPath(db, '/models/tiny')!.config).toEqual({ vocab_size: 513 });
    const path = join(home.dir, 'd.jsonl');
    writeFileSync(path, Array.from({ length: 10 }, (_, i) => JSON.stringify({ text: `row ${i}` })).join('\n'));
    const { dataset } = importDataset(db, path);
    const run = createRun(db, { kind: 'train', name: 'r', spec: {} });
    setRunTrainingInfo(db, run.id, { method: 'lisa', modelId: model.id, datasetId: dataset.id });
    expect(getRunTrainingInfo(db, run.id)).toEqual({ method: 'lisa', modelId: model.id, datasetId: dataset.id });
    expect(runsUsingDataset(db, dataset.id)).toEqual([run.id]);
    expect(() => setRunTrainingInfo(db, 9999, { method: 'zo' })).toThrow(/run 9999 does not exist/);

    // Re-splitting rewrites the split column, and gives the import's split back for the import's seed.
    const ids = exampleIds(db, dataset.id);
    const importedVal = ids.filter((_, i) => chooseValidationIndices(10, 0.1, 1234).includes(i));
    expect(listExamples(db, dataset.id, { split: 'val' }).map((e) => e.id)).toEqual(importedVal);
    assignSplits(db, dataset.id, ids.slice(0, 3));
    expect(countExamples(db, dataset.id, 'val')).toBe(3);
    expect(resplitDataset(db, dataset.id, { valFraction: 0.5, seed: 3 })).toMatchObject({ trainCount: 5, valCount: 5, splitSeed: 3, valFraction: 0.5 });
    expect(resplitDataset(db, dataset.id, { valFraction: 0.1, seed: 1234 })).toMatchObject({ trainCount: 9, valCount: 1 });
    expect(listExamples(db, dataset.id, { split: 'val' }).map((e) => e.id)).toEqual(importedVal);

    expect(deleteDataset(db, dataset.id)).toBe(true);
    expect(getDataset(db, dataset.id)).toBeUndefined();
    expect(countExamples(db, dataset.id)).toBe(0);
    expect(getRunTrainingInfo(db, run.id)!.datasetId).toBeNull();
    expect(listDatasets(db).find((d) => d.id === dataset.id)).toBeUndefined();
  });
});
