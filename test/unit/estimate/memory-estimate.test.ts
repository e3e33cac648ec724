// The memory estimator: parameter counts and breakdowns on known shapes, the fit advice, and — the
// check that matters — agreement with the engine's own peak-bytes counter on real training runs.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../db/database.js';
import { listMetrics } from '../../../db/metrics.js';
import { checkFit, estimateTrainingMemory, TRAIN_METHODS, type EstimateInput } from '../../../main/estimate/memory-estimate.js';
import { ModelConfigError, modelShapeFromConfig, parameterCount, type ModelShape } from '../../../main/estimate/model-shape.js';
import { packagePath } from '../../../main/paths.js';
import { haveAssets, stories260K } from '../../helpers/assets.js';
import { tempHome } from '../../helpers/temp-home.js';

// Llama 2 7B's config.json.
const llama7b = modelShapeFromConfig({
  model_type: 'llama',
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 32,
  vocab_size: 32000,
  max_position_embeddings: 4096,
  tie_word_embeddings: false,
});

describe('model shape and parameter count', () => {
  it('counts Llama 2 7B as 6.74 billion parameters, untied head included', () => {
    expect(parameterCount(llama7b).total).toBe(6_738_415_616);
  });

  it.skipIf(!haveAssets)('counts stories260K (tied head, GQA) as the engine does: 260,032', () => {
    const shape = modelShapeFromConfig(JSON.parse(readFileSync(join(stories260K, 'config.json'), 'utf8')));
    expect(parameterCount(shape)).toMatchObject({ total: 260_032, head: 0, embedding: 512 * 64 });
  });

  it('names the field when a config cannot be used', () => {
    expect(() => modelShapeFromConfig({ model_type: 'gpt2' })).toThrow(/unsupported architecture model_type "gpt2" \(supported: llama, mistral, qwen2\)/);
    expect(() => modelShapeFromConfig({ model_type: 'llama', hidden_size: 64 })).toThrow(ModelConfigError);
    try {
      modelShapeFromConfig({ model_type: 'llama', hidden_size: 64, intermediate_size: 1, num_hidden_layers: 1, num_attention_heads: 6, num_key_value_heads: 4, vocab_size: 8 });
    } catch (err) {
      expect((err as ModelConfigError).field).toBe('num_key_value_heads');
    }
  });
});

describe('memory estimate', () => {
  const base: EstimateInput = { shape: llama7b, method: 'full', seqLen: 512, batchSize: 1 };

  it('full fine-tuning with AdamW: weights, gradients and two moments, 16 bytes per parameter', () => {
    const e = estimateTrainingMemory(base);
    const P = parameterCount(llama7b).total;
    expect(e.weights).toBe(4 * P);
    expect(e.gradients).toBe(4 * P);
    expect(e.optimizer).toBe(8 * P);
    expect(e.total).toBe(e.weights + e.gradients + e.optimizer + e.activations);
  });

  it('orders the methods as their designs say: QLoRA < LoRA < LISA < full, zeroth-order has no gradients', () => {
    const t = Object.fromEntries(TRAIN_METHODS.map((m) => [m, estimateTrainingMemory({ ...base, method: m, loraRank: 16, lisaLayers: 2 })]));
    expect(t.qlora!.total).toBeLessThan(t.lora!.total);
    expect(t.lora!.total).toBeLessThan(t.lisa!.total);
    expect(t.lisa!.total).toBeLessThan(t.full!.total);
    expect(t.zo!.gradients).toBe(0);
    expect(t.zo!.optimizer).toBe(0);
    expect(t.zo!.activations).toBeLessThan(t.full!.activations);
    // LoRA r=16 on all seven projections of Llama 2 7B: about 40 million trainable parameters.
    expect(t.lora!.trainableParams).toBe(39_976_960);
  });

  it('grows with sequence length, batch and rank; shrinks with checkpointing', () => {
    const e = (c: Partial<EstimateInput>) => estimateTrainingMemory({ ...base, ...c }).total;
    expect(e({ seqLen: 1024 })).toBeGreaterThan(e({ seqLen: 512 }));
    expect(e({ batchSize: 4 })).toBeGreaterThan(e({ batchSize: 1 }));
    expect(e({ method: 'lora', loraRank: 64 })).toBeGreaterThan(e({ method: 'lora', loraRank: 8 }));
    expect(e({ method: 'lisa', lisaLayers: 8 })).toBeGreaterThan(e({ method: 'lisa', lisaLayers: 2 }));
    expect(e({ checkpointing: true })).toBeLessThan(e({}));
  });

  it('says what would fit when a run does not', () => {
    const budget = 24 * 2 ** 30;
    const tooBig = checkFit({ ...base, method: 'full' }, budget);
    expect(tooBig.fits).toBe(false); // 7B full fine-tuning needs > 100 GB
    expect(tooBig.suggestion).toBe('QLoRA (4-bit base weights)');
    const qlora = checkFit({ ...base, method: 'qlora', seqLen: 1024, batchSize: 8 }, budget);
    expect(qlora.fits).toBe(false);
    expect(qlora.suggestion).toMatch(/^batch size \d/);
    const n = Number(/batch size (\d+)/.exec(qlora.suggestion!)![1]);
    expect(estimateTrainingMemory({ ...base, method: 'qlora', seqLen: 1024, batchSize: n }).total).toBeLessThanOrEqual(budget);
    expect(estimateTrainingMemory({ ...base, method: 'qlora', seqLen: 1024, batchSize: n * 2 }).total).toBeGreaterThan(budget);
    expect(checkFit({ ...base, method: 'qlora' }, budget).fits).toBe(true);
  });
});

describe.skipIf(!haveAssets)("agreement with the engine's peak memory on stories260K (CPU)", () => {
  const tmp = tempHome();
  afterAll(() => tmp.cleanup());
  const data = join(tmp.dir, 'long.jsonl');
  // Every row is longer than the sequence lengths below, so every micro-batch is exactly seqLen long.
  const story = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. ';
  writeFileSync(data, Array.from({ length: 12 }, (_, i) => JSON.stringify({ instruction: `Tell story ${i}`, input: '', output: story.repeat(3) })).join('\n') + '\n');
  const shape = modelShapeFromConfig(JSON.parse(readFileSync(join(stories260K, 'config.json'), 'utf8')));
  let runs = 0;

  function measuredPeak(args: string[]): number {
    const out = join(tmp.dir, `out-${++runs}`);
    const r = spawnSync(process.execPath, [packagePath('bin', 'tunesmith.js'), '--home', join(tmp.dir, 'home'), 'train', '--model', stories260K, '--data', data, '--steps', '3', '--out', out, ...args], { encoding: 'utf8' });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const db = openDatabase(join(tmp.dir, 'home', 'tunesmith.db'));
    const metrics = listMetrics(db, runs);
    db.close();
    return Math.max(...metrics.map((m) => m.memBytes ?? 0));
  }

  const cases: { name: string; args: string[]; input: Omit<EstimateInput, 'shape' | 'method'> }[] = [
    { name: 'AdamW, seq 128 × batch 2', args: ['--seq-len', '128', '--batch-size', '2'], input: { seqLen: 128, batchSize: 2, optimizer: 'adamw' } },
    { name: 'SGD with checkpointing, seq 96 × batch 3', args: ['--seq-len', '96', '--batch-size', '3', '--optimizer', 'sgd', '--checkpointing'], input: { seqLen: 96, batchSize: 3, optimizer: 'sgd', checkpointing: true } },
  ];
  for (const c of cases) {
    it(`full fine-tuning, ${c.name}: within 10% of the engine's peak bytes`, () => {
      const measured = measuredPeak(c.args);
      const estimated = estimateTrainingMemory({ shape, method: 'full', ...c.input }).total;
      console.log(`memory estimate ${c.name}: estimated ${estimated} B, engine peak ${measured} B (${((estimated / measured - 1) * 100).toFixed(2)}%)`);
      expect(Math.abs(estimated / measured - 1)).toBeLessThan(0.1);
    });
  }
});
