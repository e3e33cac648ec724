// The CUDA engine's memory estimate (main/estimate/gpu-memory-estimate.ts): the 7B figures the
// issue's targets are about, exact agreement with the GPU engine's own peak-bytes counter (the
// engine run on the CPU emulator: its accounting is the card's, buffer for buffer), and — once a
// card's results are committed (bench/results/gpu-*.json, from npm run bench:gpu or
// scripts/gpu-check.sh) — agreement within 10% with the peaks the driver reported there.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { estimateTrainingMemory, type EstimateInput, type TrainMethod } from '../../../main/estimate/memory-estimate.js';
import type { ModelShape } from '../../../main/estimate/model-shape.js';
import { packagePath } from '../../../main/paths.js';
import { llama7b } from '../../helpers/llama7b.js';

const GB = 1e9;


/** What bench_gpu writes: its config block and one row per (method, seq). */
interface BenchRow {
  method: string;
  seq: number;
  batch: number;
  status: string;
  peak_allocated_bytes: number | null;
  peak_driver_bytes: number | null;
  checkpointing?: boolean;
  bf16_optimizer_states?: boolean;
}
interface BenchConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_layers: number;
  num_heads: number;
  num_kv_heads: number;
  head_dim: number;
  tie_word_embeddings: boolean;
}
interface BenchResult {
  card: string;
  config: BenchConfig;
  rows: BenchRow[];
}

function shapeOf(c: BenchConfig): ModelShape {
  return {
    modelType: 'llama',
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers: c.num_layers,
    numHeads: c.num_heads,
    numKvHeads: c.num_kv_heads,
    headDim: c.head_dim,
    vocabSize: c.vocab_size,
    maxPositionEmbeddings: 1 << 20,
    tieWordEmbeddings: c.tie_word_embeddings,
    qkvBias: false,
    oBias: false,
  };
}

/** The estimate input for a bench_gpu row: its method settings (r16 on all seven Linears, no dropout, LISA γ = 2). */
function inputForRow(shape: ModelShape, row: BenchRow): EstimateInput {
  const method: TrainMethod = row.method === 'zo-sgd' ? 'zo' : (row.method as TrainMethod);
  return {
    shape,
    device: 'cuda',
    method,
    seqLen: row.seq,
    batchSize: row.batch,
    checkpointing: row.checkpointing ?? true,
    bf16OptimizerStates: row.bf16_optimizer_states ?? false,
    loraRank: 16,
    loraDropout: 0,
    lisaLayers: 2,
  };
}

describe('CUDA engine memory estimate', () => {
  it('puts a 7B Llama under the issue targets by its own accounting (the card has the final word)', () => {
    const at = (method: TrainMethod, seqLen: number, extra: Partial<EstimateInput> = {}) =>
      estimateTrainingMemory({ shape: llama7b, device: 'cuda', method, seqLen, batchSize: 1, loraDropout: 0, ...extra });
    const lisa = at('lisa', 1024, { bf16OptimizerStates: true });
    const qlora = at('qlora', 2048);
    const lora = at('lora', 1024);
    const zo = at('zo', 1024);
    // bf16 weights: 2 bytes per parameter; LISA's fp32 gradients and bf16 moments only for the
    // embedding, head, final norm and two layers.
    expect(lisa.weights).toBe(2 * 6_738_415_616);
    expect(lisa.trainableParams).toBe(666_914_816);
    expect(lisa.gradients).toBe(4 * 666_914_816);
    expect(lisa.optimizer).toBe(4 * 666_914_816);
    expect(qlora.total).toBeLessThan(7 * GB);
    expect(lora.total).toBeLessThan(16 * GB);
    expect(zo.total).toBeLessThan(15 * GB);
    // LISA with bf16 moments sits at the 20 GB line: engine buffers under it, the runtime's share
    // (assumed, not yet measured) decides. fp32 moments do not fit.
    expect(lisa.total - (lisa.runtimeOverhead ?? 0)).toBeLessThan(20 * GB);
    expect(at('lisa', 1024).total).toBeGreaterThan(20 * GB);
    // Checkpointing is the default on the GPU; without it every layer's activations stay.
    expect(at('lora', 1024, { checkpointing: false }).activations).toBeGreaterThan(lora.activations * 5);
  });

  const benchEmu = join(packagePath(), 'native', 'build-tests', 'tests', 'bench_gpu_emu');
  it.skipIf(!existsSync(benchEmu))(
    "equals the GPU engine's own peak bytes for every method (the engine on the CPU emulator)",
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'tunesmith-gpu-estimate-'));
      try {
        const out = join(dir, 'bench.json');
        const run = spawnSync(
          benchEmu,
          ['--tiny', '--steps', '2', '--warmup', '1', '--methods', 'lora,qlora,lisa,zo-sgd', '--seqs', '8,16', '--out', out],
          { encoding: 'utf8', timeout: 240_000 },
        );
        expect(run.status, run.stdout + run.stderr).toBe(0);
        const result = JSON.parse(readFileSync(out, 'utf8')) as BenchResult;
        const shape = shapeOf(result.config);
        expect(result.rows).toHaveLength(8);
        for (const row of result.rows) {
          expect(row.status, `${row.method} seq ${row.seq}`).toBe('ok');
          const e = estimateTrainingMemory(inputForRow(shape, row));
          expect(e.total - (e.runtimeOverhead ?? 0), `${row.method} seq ${row.seq}`).toBe(row.peak_allocated_bytes);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    300_000,
  );

  const resultsDir = join(packagePath(), 'bench', 'results');
  const cardResults = existsSync(resultsDir) ? readdirSync(resultsDir).filter((f) => /^gpu-.+\.json$/.test(f)) : [];
  it.skipIf(cardResults.length === 0)("is within 10% of the driver's peak on the card (committed bench:gpu results)", () => {
    for (const file of cardResults) {
      const result = (JSON.parse(readFileSync(join(resultsDir, file), 'utf8')) as { tunesmith: BenchResult }).tunesmith;
      const shape = shapeOf(result.config);
      for (const row of result.rows.filter((r) => r.status === 'ok' && r.peak_driver_bytes)) {
        const e = estimateTrainingMemory(inputForRow(shape, row));
        const ratio = e.total / (row.peak_driver_bytes as number);
        expect(Math.abs(ratio - 1), `${file} ${row.method} seq ${row.seq}: estimate ${e.total}, driver ${row.peak_driver_bytes}`).toBeLessThanOrEqual(0.1);
      }
    }
  });
});
