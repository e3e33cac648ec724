// The memory estimator: parameter counts and breakdowns on known shapes, the fit advice, and — the
// check that matters — agreement with the engine's own peak-bytes counter on real training runs.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../db/database.js';
import { listMetrics } from '../../../db/metrics.js';
import { checkFit, estimateTrainingMemory, TRAIN_METHODS, type EstimateInput, type MemoryEstimate } from '../../../main/estimate/memory-estimate.js';
import { ModelConfigError, modelShapeFromConfig, parameterCount, type ModelShape } from '../../../main/estimate/model-shape.js';
import { packagePath } from '../../../main/paths.js';
import { haveAssets, stories260K } from '../../helpers/assets.js';
import { llama7b } from '../../helpers/llama7b.js';
import { tempHome } from '../../helpers/temp-home.js';


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

  const steady = (e: MemoryEstimate) => e.weights + e.gradients + e.optimizer + e.activations;

  it('orders the methods as their designs say: QLoRA < LoRA < LISA < full while training, zeroth-order has no gradients to fill', () => {
    const t = Object.fromEntries(TRAIN_METHODS.map((m) => [m, estimateTrainingMemory({ ...base, method: m, loraRank: 16, lisaLayers: 2 })]));
    expect(steady(t.qlora!)).toBeLessThan(steady(t.lora!));
    expect(t.lora!.total).toBeLessThan(t.lisa!.total);
    expect(t.lisa!.total).toBeLessThan(t.full!.total);
    expect(t.zo!.optimizer).toBe(parameterCount(llama7b).total); // one int8 probe code per value, no moments
    expect(t.zo!.activations).toBeLessThan(t.full!.activations);
    expect(t.zo!.total).toBeLessThan(t.lisa!.total);
    // LoRA r=16 on all seven projections of Llama 2 7B: about 40 million trainable parameters.
    expect(t.lora!.trainableParams).toBe(39_976_960);
    // QLoRA's engine loads fp32 and quantizes after: that moment, not training, is its peak on 7B.
    expect(t.qlora!.loadPeak).toBeGreaterThan(steady(t.qlora!));
    expect(t.qlora!.total).toBe(t.qlora!.loadPeak);
    expect(t.lora!.loadPeak).toBeNull();
  });

  it('counts LoRA options: targets, rank, a trained head, zeroth-order state', () => {
    const e = (c: Partial<EstimateInput>) => estimateTrainingMemory({ ...base, method: 'lora', ...c });
    expect(e({ loraTargets: ['q', 'v'], loraRank: 8 }).trainableParams).toBe(32 * 8 * (4096 + 4096) * 2);
    expect(e({ loraTrainHead: true }).trainableParams).toBe(39_976_960 + 32000 * 4096);
    expect(e({ loraDropout: 0 }).activations).toBeLessThan(e({ loraDropout: 0.1 }).activations);
    const zo = (c: Partial<EstimateInput>) => estimateTrainingMemory({ ...base, method: 'zo', ...c });
    expect(zo({ zoMethod: 'zo-adam' }).optimizer - zo({ zoMethod: 'zo-sgd' }).optimizer).toBe(8 * parameterCount(llama7b).total);
    expect(zo({ zoTarget: 'lora' }).trainableParams).toBe(39_976_960);
  });

  it('grows with sequence length, batch and rank; shrinks with checkpointing', () => {
    const e = (c: Partial<EstimateInput>) => estimateTrainingMemory({ ...base, ...c }).total;
    expect(e({ seqLen: 1024 })).toBeGreaterThan(e({ seqLen: 512 }));
    expect(e({ batchSize: 4 })).toBeGreaterThan(e({ batchSize: 1 }));
    expect(e({ method: 'lora', loraRank: 64 })).toBeGreaterThan(e({ method: 'lora', loraRank: 8 }));
    expect(e({ method: 'lisa', lisaLayers: 8 })).toBeGreaterThan(e({ method: 'lisa', lisaLayers: 2 }));
    expect(e({ checkpointing: true })).toBeLessThan(e({}));
  });

  it('says what would fit when a run does not, and the suggestion does fit', () => {
    const full = estimateTrainingMemory({ ...base, method: 'full' }).total;
    const lora = estimateTrainingMemory({ ...base, method: 'lora' }).total;
    // Between LoRA and full fine-tuning: LoRA is named.
    const tooBig = checkFit({ ...base, method: 'full' }, (full + lora) / 2);
    expect(tooBig.fits).toBe(false);
    expect(tooBig.suggestion).toBe('LoRA (small adapters, frozen base)');
    const budget = 40 * 2 ** 30;
    const qlora = checkFit({ ...base, method: 'qlora', seqLen: 1024, batchSize: 16 }, budget);
    expect(qlora.fits).toBe(false);
    expect(qlora.suggestion).toMatch(/^batch size \d/);
    const n = Number(/batch size (\d+)/.exec(qlora.suggestion!)![1]);
    expect(estimateTrainingMemory({ ...base, method: 'qlora', seqLen: 1024, batchSize: n }).total).toBeLessThanOrEqual(budget);
    expect(estimateTrainingMemory({ ...base, method: 'qlora', seqLen: 1024, batchSize: n * 2 }).total).toBeGreaterThan(budget);
    expect(checkFit({ ...base, method: 'qlora' }, budget).fits).toBe(true);
    // Nothing fits a 7B model in 8 GiB with this fp32 engine: no suggestion rather than a wrong one.
    expect(checkFit({ ...base, method: 'full' }, 8 * 2 ** 30).suggestion).toBeNull();
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

  const cases: { name: string; args: string[]; input: Omit<EstimateInput, 'shape'> }[] = [
    { name: 'full fine-tuning, AdamW, seq 128 × batch 2', args: ['--seq-len', '128', '--batch-size', '2'], input: { method: 'full', seqLen: 128, batchSize: 2, optimizer: 'adamw' } },
    { name: 'full fine-tuning, SGD with checkpointing, seq 96 × batch 3', args: ['--seq-len', '96', '--batch-size', '3', '--optimizer', 'sgd', '--checkpointing'], input: { method: 'full', seqLen: 96, batchSize: 3, optimizer: 'sgd', checkpointing: true } },
    { name: 'LoRA r 16 all-linear, dropout 0.05, seq 128 × batch 2', args: ['--method', 'lora', '--seq-len', '128', '--batch-size', '2'], input: { method: 'lora', seqLen: 128, batchSize: 2, loraRank: 16 } },
    { name: 'LoRA r 8 on q,v without dropout, checkpointing, seq 96 × batch 3', args: ['--method', 'lora', '--lora-r', '8', '--lora-targets', 'qv', '--lora-dropout', '0', '--checkpointing', '--seq-len', '96', '--batch-size', '3'], input: { method: 'lora', seqLen: 96, batchSize: 3, loraRank: 8, loraTargets: ['q', 'v'], loraDropout: 0, checkpointing: true } },
    { name: 'QLoRA r 16, seq 128 × batch 2', args: ['--method', 'qlora', '--seq-len', '128', '--batch-size', '2'], input: { method: 'qlora', seqLen: 128, batchSize: 2, loraRank: 16 } },
    { name: 'QLoRA r 1, seq 8 (the load is the peak)', args: ['--method', 'qlora', '--lora-r', '1', '--seq-len', '8', '--all-tokens'], input: { method: 'qlora', seqLen: 8, batchSize: 1, loraRank: 1 } },
    { name: 'LISA γ 2, seq 128 × batch 2', args: ['--method', 'lisa', '--seq-len', '128', '--batch-size', '2'], input: { method: 'lisa', seqLen: 128, batchSize: 2, lisaLayers: 2 } },
    { name: 'ZO-SGD, seq 128 × batch 2', args: ['--method', 'zo-sgd', '--seq-len', '128', '--batch-size', '2'], input: { method: 'zo', zoMethod: 'zo-sgd', seqLen: 128, batchSize: 2 } },
    { name: 'ZO-SGD over LoRA, seq 128 × batch 2', args: ['--method', 'zo-sgd', '--zo-target', 'lora', '--seq-len', '128', '--batch-size', '2'], input: { method: 'zo', zoMethod: 'zo-sgd', zoTarget: 'lora', seqLen: 128, batchSize: 2 } },
    { name: 'ZO-Adam, seq 64 × batch 2', args: ['--method', 'zo-adam', '--seq-len', '64', '--batch-size', '2'], input: { method: 'zo', zoMethod: 'zo-adam', seqLen: 64, batchSize: 2 } },
  ];
  for (const c of cases) {
    it(`${c.name}: within 10% of the engine's peak bytes`, () => {
      const measured = measuredPeak(c.args);
      const estimated = estimateTrainingMemory({ shape, ...c.input }).total;
      console.log(`memory estimate ${c.name}: estimated ${estimated} B, engine peak ${measured} B (${((estimated / measured - 1) * 100).toFixed(2)}%)`);
      expect(Math.abs(estimated / measured - 1)).toBeLessThan(0.1);
    });
  }
});
